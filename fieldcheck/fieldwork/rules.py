"""Campaign rules fieldwork reads: the photos a visit needs, how far a phone clock may run ahead."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fieldcheck.fieldwork.models import PHOTO_KINDS

# What a visit needs when the campaign says nothing: the shop front shows the business is
# there, the door plate shows where "there" is.
DEFAULT_REQUIRED_PHOTOS: tuple[str, ...] = ("storefront", "doorplate")

# Phone clocks drift and are set by hand; a time this far ahead of the server is still taken
# as the phone's honest "now", anything later is refused as impossible.
CLOCK_SKEW = timedelta(minutes=10)


def required_photo_kinds(rules: Mapping[str, Any] | None, visit_kind: str) -> tuple[str, ...]:
    """The photo kinds a visit of `visit_kind` needs under a campaign's `rules`.

    `rules["required_photos"]` is a list of kinds, or an object of lists by visit kind
    (`{"first": [...], "recheck": [...]}`); unknown kinds are ignored.
    """
    value: Any = (rules or {}).get("required_photos")
    if isinstance(value, Mapping):
        value = value.get(visit_kind)
    if not isinstance(value, list | tuple):
        return DEFAULT_REQUIRED_PHOTOS
    return tuple(dict.fromkeys(kind for kind in value if kind in PHOTO_KINDS))
