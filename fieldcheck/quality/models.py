"""The flag table: quality findings on visit results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Timestamp


class Flag(Base):
    """A check a result failed: what was measured, against which threshold, in which unit.

    `measured` is empty when the check could not measure (no position, a business located
    only to its township); `details` names what the flag points at (other results, photos).
    """

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visit_results.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    measured: Mapped[float | None] = mapped_column()
    threshold: Mapped[float | None] = mapped_column()
    unit: Mapped[str | None] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
