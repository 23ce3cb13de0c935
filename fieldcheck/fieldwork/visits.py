"""What a result does to its visit: whether it came late, and the visit counted as done."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.dispatch.models import Visit
from fieldcheck.errors import PermissionDeniedError
from fieldcheck.fieldwork.models import SyncEntry
from fieldcheck.fieldwork.sync import record_visit_change

# States in which the visit's courier may still deliver a result that counts.
OPEN_STATES = frozenset({"assigned", "submitted", "rejected"})


def late_reason(session: Session, visit: Visit, courier_id: int) -> str | None:
    """None when the visit is still this courier's to do; else why a result from them is late.

    A courier who was never shown the visit may not submit for it at all (403): the sync
    feed remembers every visit a courier was ever shown, so reassigned and withdrawn
    visits are told apart from someone else's.
    """
    if visit.courier_id == courier_id and visit.state in OPEN_STATES:
        return None
    was_shown = session.scalar(
        sa.select(sa.literal(True)).where(
            SyncEntry.courier_id == courier_id, SyncEntry.visit_id == visit.id
        )
    )
    if not was_shown:
        raise PermissionDeniedError(f"visit {visit.id} is not one of your visits")
    if visit.state in ("withdrawn", "planned") or visit.courier_id is None:
        return "withdrawn"
    if visit.courier_id != courier_id:
        return "reassigned"
    return "closed"


LATE_EXPLANATIONS = {
    "reassigned": "the visit was reassigned to another courier before this result arrived",
    "withdrawn": "the visit was withdrawn from the plan before this result arrived",
    "closed": "the visit was already closed by review before this result arrived",
}


def count_visit_done(session: Session, visit: Visit) -> None:
    """Move the visit to `submitted` (once) and tell the courier's phone."""
    if visit.state == "submitted":
        return
    visit.move_to("submitted")
    record_visit_change(session, visit, previous_courier_id=visit.courier_id)
