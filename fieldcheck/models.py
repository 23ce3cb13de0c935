"""Every table, imported once so that `Base.metadata` is complete (migrations, tests)."""

from fieldcheck.audit.models import AuditEvent
from fieldcheck.auth.models import EnrolmentCode, RefreshToken, User
from fieldcheck.db import Base
from fieldcheck.dispatch.models import Campaign, Courier, Territory, Visit
from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork.models import ResultPhoto, VisitResult
from fieldcheck.jobs.models import Job
from fieldcheck.quality.models import Flag
from fieldcheck.registry.models import (
    Business,
    GazetteerAddress,
    ImportBatch,
    ImportIssue,
    SourceRecord,
)

__all__ = [
    "AuditEvent",
    "Base",
    "Business",
    "Campaign",
    "Courier",
    "EnrolmentCode",
    "Flag",
    "GazetteerAddress",
    "ImportBatch",
    "ImportIssue",
    "Job",
    "Photo",
    "RefreshToken",
    "ResultPhoto",
    "SourceRecord",
    "Territory",
    "User",
    "Visit",
    "VisitResult",
]
