"""What a phone sends, as the use cases take it: results, amendments, discoveries."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class DevicePosition:
    """A position as the phone reported it, in `crs` (wgs84, gcj02 or bd09)."""

    lon: float
    lat: float
    crs: str = "wgs84"
    accuracy_m: float | None = None
    fix_time: datetime | None = None


@dataclass(frozen=True)
class NamedPhoto:
    """A photo named by its SHA-256 (which the phone knows before any upload) and kind."""

    kind: str
    sha256: str


@dataclass(frozen=True)
class PhoneAttempt:
    number: str
    reached: bool
    answered_by: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Corrections:
    """Registered details the courier found different, and where a relocated business went."""

    name: str | None = None
    address: str | None = None
    phone: str | None = None
    operator: str | None = None
    relocated_to_address: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ResultSubmission:
    submission_id: str
    visit_id: int
    outcome: str
    captured_at: datetime
    not_found_reason: str | None = None
    position: DevicePosition | None = None
    started_at: datetime | None = None
    photos: tuple[NamedPhoto, ...] = ()
    corrections: Corrections = field(default_factory=Corrections)
    phone_attempts: tuple[PhoneAttempt, ...] = ()
    notes: str | None = None


# The result fields an amendment may change; position, times and photos are evidence.
AMENDABLE = ("outcome", "not_found_reason", "corrections", "phone_attempts", "notes")


@dataclass(frozen=True)
class ResultAmendmentRequest:
    """An edit of a result made against `base_version`; `changes` holds only what was sent."""

    amendment_id: str
    base_version: int
    changes: dict[str, Any]

    def __post_init__(self) -> None:
        unknown = set(self.changes) - set(AMENDABLE)
        if unknown:
            raise ValueError(f"not amendable: {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class DiscoveryReport:
    discovery_id: str
    name: str
    captured_at: datetime
    address: str | None = None
    operator: str | None = None
    phone: str | None = None
    position: DevicePosition | None = None
    photos: tuple[NamedPhoto, ...] = ()
    notes: str | None = None


def fingerprint(value: Any) -> str:
    """SHA-256 of a canonical JSON form of an input: equal inputs, equal fingerprints.

    Times count by the instant, so a resend that spells the offset differently still matches.
    """
    return hashlib.sha256(
        json.dumps(
            _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    ).hexdigest()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
