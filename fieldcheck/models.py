"""Every table, imported once so that `Base.metadata` is complete (migrations, tests)."""

from fieldcheck.audit.models import AuditEvent
from fieldcheck.auth.models import EnrolmentCode, RefreshToken, User
from fieldcheck.db import Base
from fieldcheck.dispatch.models import Campaign, Courier, Territory, Visit
from fieldcheck.evidence.models import Photo, PhotoUpload
from fieldcheck.fieldwork.models import (
    Discovery,
    DiscoveryPhoto,
    ResultAmendment,
    ResultPhoto,
    SyncEntry,
    SyncHead,
    VisitResult,
)
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
    "Discovery",
    "DiscoveryPhoto",
    "EnrolmentCode",
    "Flag",
    "GazetteerAddress",
    "ImportBatch",
    "ImportIssue",
    "Job",
    "Photo",
    "PhotoUpload",
    "RefreshToken",
    "ResultAmendment",
    "ResultPhoto",
    "SourceRecord",
    "SyncEntry",
    "SyncHead",
    "Territory",
    "User",
    "Visit",
    "VisitResult",
]
