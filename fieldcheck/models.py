"""Every table, imported once so that `Base.metadata` is complete (migrations, tests)."""

from fieldcheck.audit.models import AuditEvent
from fieldcheck.auth.models import EnrolmentCode, RefreshToken, User
from fieldcheck.db import Base
from fieldcheck.dispatch.models import Campaign, Courier, Territory, Visit
from fieldcheck.evidence.models import Photo, PhotoUpload
from fieldcheck.exports.models import Export
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
from fieldcheck.review.models import Finding, ReviewDecision

__all__ = [
    "AuditEvent",
    "Base",
    "Business",
    "Campaign",
    "Courier",
    "Discovery",
    "DiscoveryPhoto",
    "EnrolmentCode",
    "Export",
    "Finding",
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
    "ReviewDecision",
    "SourceRecord",
    "SyncEntry",
    "SyncHead",
    "Territory",
    "User",
    "Visit",
    "VisitResult",
]
