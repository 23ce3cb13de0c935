"""The thresholds quality checks use: a campaign's rules, plus the checks' own thresholds read
from the same rules document, with county-office defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from fieldcheck.dispatch.models import Campaign
from fieldcheck.dispatch.service import CampaignRules, campaign_rules


@dataclass
class QualityRules(CampaignRules):
    """Every threshold of the checks, per campaign.

    GPS tolerance and accuracy, photo distance, speed, time on site, re-check rate and the
    photos each outcome needs are the campaign's `CampaignRules`, defaults and all. The
    thresholds below concern the checks only; they are read from the same `campaign.rules`
    document under the same names, and default as given here.
    """

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


_CAMPAIGN_FIELDS = frozenset(f.name for f in fields(CampaignRules))


def quality_rules(campaign: Campaign) -> QualityRules:
    """The campaign's thresholds; unknown or mistyped values of the checks' own thresholds
    fall back to their defaults."""
    base = campaign_rules(campaign)
    values: dict[str, Any] = {name: getattr(base, name) for name in _CAMPAIGN_FIELDS}
    raw = campaign.rules or {}
    for f in fields(QualityRules):
        if f.name in _CAMPAIGN_FIELDS or f.name not in raw:
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
