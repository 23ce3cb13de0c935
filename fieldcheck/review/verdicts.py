"""Verdicts: the pure rules that turn accepted results into one finding per business, and
`recompute_finding`, which applies them to what the database holds.

Only results whose current review decision is `accept` count. Results of one courier count
once (their latest), so "independent visits" means visits by different couriers. Outcomes
are compared by claim: `operating` and `operating_changed` make the same claim (it
operates here; the details may differ), every other outcome is its own claim, so `shell` and
`not_found` disagree (the bureaus act on them differently enough that a second look decides).

| accepted results (one vote per courier)                 | verdict                          |
|---------------------------------------------------------|----------------------------------|
| none                                                    | no finding                       |
| only refused / unreachable                              | unresolved; settled once the     |
|                                                         | last attempt is made (campaign   |
|                                                         | `max_attempts`) or it is closed  |
| one positive (operating, operating_changed, relocated), | that positive outcome            |
| or several that agree                                   | (operating_changed if any says   |
|                                                         | so); settled when no visit is    |
|                                                         | open (e.g. a sampled re-check)   |
| one negative (closed, shell, not_found)                 | unresolved: awaiting a re-check  |
| two or more independent negatives, all the same        | that negative                    |
| disagreement, one claim with >= 2 votes and more than   | that claim (a negative needs its |
| any other (e.g. after a third visit)                    | two votes, which it has)         |
| disagreement otherwise                                  | unresolved: a third visit or a   |
|                                                         | supervisor decides               |
| a supervisor's decisive accept on one result            | that result's claim, settled; a  |
|                                                         | negative only with two agreeing  |
|                                                         | independent votes, else ignored  |

Refused and unreachable results never outvote a finding: they are attempts, not claims.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from geoalchemy2 import WKTElement
from sqlalchemy.orm import Session

from fieldcheck.audit.service import record_event
from fieldcheck.dispatch.models import Campaign, Visit
from fieldcheck.fieldwork.models import ResultPhoto
from fieldcheck.quality.rules import quality_rules
from fieldcheck.review.models import Finding

log = logging.getLogger(__name__)

POSITIVE = ("operating", "operating_changed", "relocated")
NEGATIVE = ("closed", "shell", "not_found")
ATTEMPTS = ("refused", "unreachable")
# Visit states in which a visit may still bring a result that counts.
OPEN_VISIT_STATES = ("planned", "assigned", "submitted", "rejected")


def claim(outcome: str) -> str:
    """What an outcome asserts about the business, for comparing two visits."""
    return "operating" if outcome == "operating_changed" else outcome


@dataclass(frozen=True)
class AcceptedResult:
    """A result whose current decision is accept, as the rules see it."""

    result_id: int
    visit_id: int
    courier_id: int
    outcome: str
    captured_at: datetime
    decisive: bool = False


@dataclass(frozen=True)
class Verdict:
    verdict: str
    basis: str
    settled: bool
    # The results the verdict rests on (for unresolved: the ones considered).
    result_ids: tuple[int, ...] = ()
    # Independent visits disagree and nothing settles it yet.
    disagreement: bool = False
    votes: int = 0


@dataclass(frozen=True)
class _Claim:
    name: str
    voters: list[AcceptedResult] = field(default_factory=list)


def independent_votes(results: Sequence[AcceptedResult]) -> list[AcceptedResult]:
    """One vote per courier: their latest accepted result that makes a claim."""
    latest: dict[int, AcceptedResult] = {}
    for result in sorted(results, key=lambda r: (r.captured_at, r.result_id)):
        if result.outcome not in ATTEMPTS:
            latest[result.courier_id] = result
    return sorted(latest.values(), key=lambda r: (r.captured_at, r.result_id))


def _positive_verdict(voters: Sequence[AcceptedResult]) -> str:
    outcomes = {r.outcome for r in voters}
    if "relocated" in outcomes:
        return "relocated"
    return "operating_changed" if "operating_changed" in outcomes else "operating"


def _ids(results: Sequence[AcceptedResult]) -> tuple[int, ...]:
    return tuple(sorted(r.result_id for r in results))


def derive_verdict(
    results: Sequence[AcceptedResult], *, open_visits: int = 0, attempts_exhausted: bool = False
) -> Verdict | None:
    """The verdict the table in this module's docstring gives; None without accepted results.

    `open_visits` counts the business's visits that may still bring a result (a re-check on
    its way); `attempts_exhausted` says no further attempt will be made after refusals.
    """
    if not results:
        return None
    votes = independent_votes(results)
    quiet = open_visits == 0
    if not votes:
        attempts = len(results)
        settled = attempts_exhausted and quiet
        return Verdict(
            "unresolved",
            f"refused or unreachable on {attempts} attempt{'s' if attempts > 1 else ''}"
            + ("; no further attempt is due" if settled else "; another attempt is due"),
            settled, _ids(results),
        )

    claims: dict[str, list[AcceptedResult]] = {}
    for vote in votes:
        claims.setdefault(claim(vote.outcome), []).append(vote)

    decisive = [r for r in results if r.decisive and r.outcome not in ATTEMPTS]
    if decisive:
        ruling = max(decisive, key=lambda r: (r.captured_at, r.result_id))
        name = claim(ruling.outcome)
        voters = claims.get(name, [])
        if name not in NEGATIVE:
            supporters = voters or [ruling]
            return Verdict(
                _positive_verdict(supporters),
                f"independent visits disagreed; a supervisor decided for {name} "
                f"(result {ruling.result_id})",
                True, _ids(supporters), votes=len(votes),
            )
        if len(voters) >= 2:
            return Verdict(
                name,
                f"a supervisor decided for {name}, which {len(voters)} independent visits "
                "found",
                True, _ids(voters), votes=len(votes),
            )
        # A ruling for a negative resting on one visit is not enough: fall through.

    counts = Counter({name: len(voters) for name, voters in claims.items()})
    ranked = counts.most_common()
    top, top_votes = ranked[0]
    voters = claims[top]
    if len(ranked) == 1:
        if top in NEGATIVE:
            if top_votes >= 2:
                return Verdict(top, f"{top_votes} independent visits found it {top}",
                               quiet, _ids(voters), votes=len(votes))
            return Verdict(
                "unresolved",
                f"one visit found it {top}; a negative finding needs an independent re-check "
                "that agrees",
                False, _ids(voters), votes=len(votes),
            )
        verdict = _positive_verdict(voters)
        basis = (f"{top_votes} independent visits agree: {verdict}" if top_votes > 1
                 else f"one visit found it {verdict}")
        return Verdict(verdict, basis, quiet, _ids(voters), votes=len(votes))

    runner_up = ranked[1][1]
    summary = " vs ".join(f"{name} ({n})" for name, n in ranked)
    if top_votes >= 2 and top_votes > runner_up:
        verdict = top if top in NEGATIVE else _positive_verdict(voters)
        return Verdict(
            verdict,
            f"{top_votes} of {len(votes)} independent visits agree on {top} ({summary})",
            quiet, _ids(voters), votes=len(votes),
        )
    return Verdict(
        "unresolved",
        f"independent visits disagree: {summary}; a third visit or a supervisor decides",
        False, _ids(votes), disagreement=True, votes=len(votes),
    )


# --- applying the rules -------------------------------------------------------------------


def recompute_finding(
    session: Session, *, campaign_id: int, business_id: int, actor_id: int | None = None
) -> Finding | None:
    """Derive the business's verdict from its accepted results and store it (add + flush).

    Called whenever a decision on one of its results changes; a finding is never edited in
    any other way. Without accepted results the finding, if any, is removed.
    """
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    rules = quality_rules(campaign)
    rows = session.execute(
        sa.text("""
        SELECT r.id, r.visit_id, r.courier_id, r.outcome, r.captured_at, r.corrections,
               r.accuracy_m, ST_X(r.position) AS lon, ST_Y(r.position) AS lat,
               d.decisive, d.reviewer_id
        FROM visit_results r
        JOIN visits v ON v.id = r.visit_id
        JOIN review_decisions d ON d.result_id = r.id AND d.superseded_by_id IS NULL
        WHERE v.campaign_id = :campaign AND v.business_id = :business
          AND d.decision = 'accept'
        ORDER BY r.captured_at, r.id
    """),
        {"campaign": campaign_id, "business": business_id},
    ).all()
    accepted = [
        AcceptedResult(r.id, r.visit_id, r.courier_id, r.outcome, r.captured_at, r.decisive)
        for r in rows
    ]
    open_visits = session.scalar(
        sa.select(sa.func.count()).select_from(Visit).where(
            Visit.campaign_id == campaign_id, Visit.business_id == business_id,
            Visit.state.in_(OPEN_VISIT_STATES),
        )
    ) or 0
    attempts = sum(1 for r in accepted if r.outcome in ATTEMPTS)
    verdict = derive_verdict(
        accepted, open_visits=open_visits,
        attempts_exhausted=attempts >= rules.max_attempts or campaign.state == "closed",
    )
    finding = session.scalar(
        sa.select(Finding).where(Finding.campaign_id == campaign_id,
                                 Finding.business_id == business_id)
    )
    if verdict is None:
        if finding is not None:
            session.delete(finding)
            _record_change(session, finding, finding.verdict, None, actor_id)
            session.flush()
        return None

    previous = finding.verdict if finding is not None else None
    if finding is None:
        finding = Finding(campaign_id=campaign_id, business_id=business_id)
        session.add(finding)
    by_id = {r.id: r for r in rows}
    behind = [by_id[i] for i in verdict.result_ids]
    finding.verdict = verdict.verdict
    finding.basis = verdict.basis
    finding.settled = verdict.settled
    finding.result_ids = list(verdict.result_ids)
    finding.photo_ids = sorted(
        i for i in session.scalars(
            sa.select(ResultPhoto.photo_id).where(ResultPhoto.result_id.in_(verdict.result_ids),
                                                  ResultPhoto.photo_id.is_not(None))
        ) if i is not None
    )
    finding.reviewer_ids = sorted({r.reviewer_id for r in behind if r.reviewer_id is not None})
    finding.corrections = _corrections(behind) if verdict.verdict in POSITIVE else {}
    finding.verified_location = _verified_location(behind, verdict.verdict)
    days = [_local_day(r.captured_at, rules.timezone) for r in behind]
    finding.first_visit_on = min(days) if days else None
    finding.last_visit_on = max(days) if days else None
    session.flush()
    if previous != verdict.verdict:
        _record_change(session, finding, previous, finding.verdict, actor_id)
    return finding


def _corrections(rows: Sequence[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for row in rows:  # oldest first: the latest visit's correction wins
        merged.update(row.corrections or {})
    return merged


def _verified_location(rows: Sequence[Any], verdict: str) -> WKTElement | None:
    # Only a visit that found the business at its address saw where it is.
    if verdict not in ("operating", "operating_changed"):
        return None
    fixes = [r for r in rows if r.lon is not None and r.outcome in ("operating",
                                                                      "operating_changed")]
    if not fixes:
        return None
    best = min(fixes, key=lambda r: (r.accuracy_m is None, r.accuracy_m or 0.0))
    return WKTElement(f"POINT({best.lon!r} {best.lat!r})", srid=4326)


def _local_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def _record_change(session: Session, finding: Finding, previous: str | None,
                   verdict: str | None, actor_id: int | None) -> None:
    record_event(
        session,
        action="finding.recomputed",
        actor_id=actor_id,
        object_type="business",
        object_id=finding.business_id,
        details={"campaign_id": finding.campaign_id, "previous": previous, "verdict": verdict},
    )
