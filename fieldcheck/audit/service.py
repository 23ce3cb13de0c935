"""Recording audit events; every caller goes through `record_event`."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from fieldcheck.audit.models import AuditEvent

log = logging.getLogger(__name__)


def record_event(
    session: Session,
    *,
    action: str,
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: object = None,
    client_address: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's unit of work (it commits with the change it records)."""
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        client_address=client_address,
        details=details or {},
    )
    session.add(event)
    log.info("audit %s actor=%s %s=%s", action, actor_id, object_type, object_id)
    return event
