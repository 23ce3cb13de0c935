"""The thresholds quality checks use, read from a campaign's rules with county-office defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from fieldcheck.dispatch.models import Campaign
from fieldcheck.dispatch.service import campaign_rules


@dataclass(frozen=True)
class QualityRules:
    """Every threshold of the checks, per campaign.

    The first group comes from the campaign's `CampaignRules`; the others are read from the
    same `campaign.rules` document under the same names and default as below.
    """

    gps_tolerance_m: float = 150.0
    accuracy_max_m: float = 50.0
    photo_distance_m: float = 100.0
    max_speed_kmh: float = 120.0
    min_time_on_site_s: float = 60.0
    recheck_rate: float = 0.05
    required_photos_by_outcome: dict[str, list[str]] = field(default_factory=dict)
    # A photo taken this long before the visit started is not a photo of this visit.
    photo_max_age_min: float = 120.0
    # Phone and camera share a clock: a photo taken after the result was recorded by more
    # than this was added afterwards.
    photo_after_result_min: float = 10.0
    # Perceptual hashes (64 bits) this close are the same picture re-saved, resized or
    # lightly cropped; two shots of different shop fronts are 20-30 bits apart.
    phash_max_distance: int = 10
    # A courier's results within this radius of one another count as one spot.
    cluster_radius_m: float = 30.0
    cluster_min_results: int = 5
    # ...and are suspicious when the businesses they claim lie this far from it (median).
    cluster_spread_m: float = 300.0
    # A jump shorter than this is GPS noise, whatever the time between the two results.
    speed_min_jump_m: float = 200.0
    # The county's clock, for photos whose EXIF time has no UTC offset.
    timezone: str = "Asia/Shanghai"
    # Refused/unreachable results: after this many attempts the business stays unresolved.
    max_attempts: int = 2


_FROM_CAMPAIGN_RULES = (
    "gps_tolerance_m",
    "accuracy_max_m",
    "photo_distance_m",
    "max_speed_kmh",
    "min_time_on_site_s",
    "recheck_rate",
    "required_photos_by_outcome",
)


def quality_rules(campaign: Campaign) -> QualityRules:
    """The campaign's thresholds; unknown or mistyped values fall back to the defaults."""
    base = campaign_rules(campaign)
    values: dict[str, Any] = {name: getattr(base, name) for name in _FROM_CAMPAIGN_RULES}
    raw = campaign.rules or {}
    for f in fields(QualityRules):
        if f.name in values or f.name not in raw:
            continue
        default = getattr(QualityRules, f.name)
        value = raw[f.name]
        if isinstance(default, str) and isinstance(value, str):
            values[f.name] = value
        elif isinstance(default, int | float) and isinstance(value, int | float) and not (
            isinstance(value, bool)
        ):
            values[f.name] = type(default)(value)
    return QualityRules(**values)
