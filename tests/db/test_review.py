"""Review: decisions and their history, blind re-checks, disagreements, findings, scope."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldcheck.audit.models import AuditEvent
from fieldcheck.errors import ConflictError, NotFoundError, ValidationError
from fieldcheck.fieldwork.sync import pull_changes
from fieldcheck.quality.models import Flag
from fieldcheck.review import service as review
from fieldcheck.review.models import Finding, ReviewDecision
from fieldcheck.review.service import QueueFilter
from tests.builders import (
    YONGKANG_LAT,
    YONGKANG_LON,
    courier_user,
    make_business,
    make_campaign,
    make_courier,
    make_result,
    make_supervisor,
    make_territory,
    make_user,
    make_visit,
)

AT = datetime.fromisoformat("2026-11-28T10:16:00+08:00")


@pytest.fixture
def home(session):
    return make_territory(session)


@pytest.fixture
def neighbour(session):
    # The next square east shares an edge with `home`.
    return make_territory(session, lon=YONGKANG_LON + 0.1)


@pytest.fixture
def far_away(session):
    return make_territory(session, lon=YONGKANG_LON + 0.5)


@pytest.fixture
def campaign(session):
    return make_campaign(session, rules={"recheck_rate": 0.0})


@pytest.fixture
def supervisor(session, campaign):
    return make_supervisor(session, campaigns=(campaign,))


@pytest.fixture
def first(session, home):
    return make_courier(session, territory=home)


@pytest.fixture
def business(session):
    return make_business(session)


@pytest.fixture
def visit(session, first, business, campaign):
    return make_visit(session, courier=first, business=business, campaign=campaign)


def reload(session, row):
    session.expire(row)
    return row


def finding_of(session, campaign, business):
    return session.scalar(sa.select(Finding).where(Finding.campaign_id == campaign.id,
                                                   Finding.business_id == business.id))


# --- decisions ----------------------------------------------------------------------------


def test_accepting_a_result_accepts_the_visit_and_is_an_audit_event(
    session, visit, supervisor
):
    result = make_result(session, visit=visit)

    receipt = review.decide(session, result_id=result.id, decision="accept", reason=None,
                            actor=supervisor)

    assert reload(session, visit).state == "accepted"
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "review.decided"))
    assert (event.actor_id, event.object_id) == (supervisor.id, str(result.id))
    assert event.details["decision_id"] == receipt.decision.id


def test_a_new_decision_supersedes_the_old_which_stays_visible(session, visit, supervisor):
    result = make_result(session, visit=visit)
    accepted = review.decide(session, result_id=result.id, decision="accept", reason=None,
                             actor=supervisor).decision

    rejected = review.decide(session, result_id=result.id, decision="reject",
                             reason="the storefront photo shows another shop",
                             actor=supervisor).decision

    history = review.list_decisions(session, viewer=supervisor, result_id=result.id)
    assert [(d.id, d.decision, d.superseded_by_id) for d in history] == [
        (accepted.id, "accept", rejected.id), (rejected.id, "reject", None)]
    assert reload(session, visit).state == "rejected"


def test_sending_the_same_decision_again_changes_nothing(session, visit, supervisor):
    result = make_result(session, visit=visit)
    first = review.decide(session, result_id=result.id, decision="accept", reason=None,
                          actor=supervisor)

    again = review.decide(session, result_id=result.id, decision="accept", reason=None,
                          actor=supervisor)

    assert again.unchanged and again.decision.id == first.decision.id
    assert session.scalar(sa.select(sa.func.count()).select_from(ReviewDecision)) == 1


def test_rejecting_without_a_reason_is_refused(session, visit, supervisor):
    result = make_result(session, visit=visit)

    with pytest.raises(ValidationError) as caught:
        review.decide(session, result_id=result.id, decision="reject", reason="  ",
                      actor=supervisor)

    assert "reason" in caught.value.errors


def test_a_rejected_visit_goes_back_to_its_courier(session, visit, first, supervisor):
    result = make_result(session, visit=visit)

    review.decide(session, result_id=result.id, decision="reject", reason="photo is blurred",
                  actor=supervisor)

    feed = pull_changes(session, courier_user=courier_user(session, first), after=None)
    assert [(i.visit_id, i.visit.state) for i in feed.items] == [(visit.id, "rejected")]


def test_a_decision_on_a_result_still_waiting_for_photos_is_refused(session, visit, supervisor):
    result = make_result(session, visit=visit)
    result.evidence_pending = True

    with pytest.raises(ConflictError):
        review.decide(session, result_id=result.id, decision="accept", reason=None,
                      actor=supervisor)


# --- scope --------------------------------------------------------------------------------


def test_a_supervisor_cannot_review_results_outside_their_campaign(
    session, first, supervisor
):
    elsewhere = make_visit(session, courier=first, campaign=make_campaign(session))
    result = make_result(session, visit=elsewhere)

    with pytest.raises(NotFoundError):
        review.decide(session, result_id=result.id, decision="accept", reason=None,
                      actor=supervisor)
    items, _ = review.list_review_queue(session, viewer=supervisor, filters=QueueFilter())
    assert result.id not in [i.result.id for i in items]
    assert reload(session, elsewhere).state == "submitted"


def test_an_admin_reviews_every_campaign(session, first):
    admin = make_user(session, role="admin", password=None)
    elsewhere = make_visit(session, courier=first, campaign=make_campaign(session))
    result = make_result(session, visit=elsewhere)

    review.decide(session, result_id=result.id, decision="accept", reason=None, actor=admin)

    assert reload(session, elsewhere).state == "accepted"


# --- re-checks ----------------------------------------------------------------------------


def test_an_accepted_negative_result_gets_a_recheck_by_another_courier(
    session, home, campaign, business, visit, first, supervisor
):
    other = make_courier(session, territory=home)
    result = make_result(session, visit=visit, outcome="closed")

    receipt = review.decide(session, result_id=result.id, decision="accept", reason=None,
                            actor=supervisor)

    recheck = receipt.recheck_visit
    assert (recheck.kind, recheck.checks_visit_id, recheck.state) == (
        "recheck", visit.id, "assigned")
    assert recheck.courier_id == other.id != first.id
    finding = finding_of(session, campaign, business)
    assert (finding.verdict, finding.settled) == ("unresolved", False)


def test_a_recheck_never_goes_to_the_first_courier_even_alone_in_the_segment(
    session, neighbour, far_away, visit, first, supervisor
):
    next_door = make_courier(session, territory=neighbour)
    make_courier(session, territory=far_away)
    result = make_result(session, visit=visit, outcome="not_found")

    recheck = review.decide(session, result_id=result.id, decision="accept", reason=None,
                            actor=supervisor).recheck_visit

    assert recheck.courier_id == next_door.id


def test_a_recheck_waits_unassigned_when_no_other_courier_is_near(
    session, far_away, visit, supervisor
):
    make_courier(session, territory=far_away)
    result = make_result(session, visit=visit, outcome="shell")

    recheck = review.decide(session, result_id=result.id, decision="accept", reason=None,
                            actor=supervisor).recheck_visit

    assert (recheck.courier_id, recheck.state) == (None, "planned")


def test_the_recheck_couriers_feed_does_not_reveal_the_first_result(
    session, home, visit, supervisor
):
    other = make_courier(session, territory=home)
    result = make_result(session, visit=visit, outcome="closed")
    result.notes = "卷帘门紧锁，邻居说三个月前已停业"
    review.decide(session, result_id=result.id, decision="accept", reason=None,
                  actor=supervisor)

    feed = pull_changes(session, courier_user=courier_user(session, other), after=None)

    [item] = feed.items
    sent = dataclasses.asdict(item)
    text = json.dumps(sent, ensure_ascii=False, default=str)
    assert item.visit.kind == "recheck"
    assert "closed" not in text and "停业" not in text
    assert not {"outcome", "checks_visit_id", "result", "results"} & set(_keys(sent))


def _keys(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def test_a_supervisor_orders_a_recheck_instead_of_accepting(
    session, home, campaign, business, visit, supervisor
):
    other = make_courier(session, territory=home)
    result = make_result(session, visit=visit, outcome="operating")

    receipt = review.decide(session, result_id=result.id, decision="recheck",
                            reason="storefront photo too dark", actor=supervisor)

    assert reload(session, visit).state == "recheck_ordered"
    assert receipt.recheck_visit.courier_id == other.id
    assert receipt.decision.recheck_visit_id == receipt.recheck_visit.id
    assert finding_of(session, campaign, business) is None


@pytest.mark.parametrize("rate, rechecked", [(1.0, True), (0.0, False)])
def test_positive_results_are_rechecked_at_the_campaigns_rate(
    session, home, first, supervisor, rate, rechecked
):
    campaign = make_campaign(session, rules={"recheck_rate": rate})
    supervisor_of = make_supervisor(session, campaigns=(campaign,))
    make_courier(session, territory=home)
    visit = make_visit(session, courier=first, campaign=campaign)
    result = make_result(session, visit=visit, outcome="operating")

    receipt = review.decide(session, result_id=result.id, decision="accept", reason=None,
                            actor=supervisor_of)

    assert (receipt.recheck_visit is not None) == rechecked
    assert (receipt.finding.verdict, receipt.finding.settled) == ("operating", not rechecked)


# --- disagreement -------------------------------------------------------------------------


@pytest.fixture
def disagreement(session, home, neighbour, visit, first, supervisor):
    """A first visit that found nothing, and a re-check that found the business operating."""
    second = make_courier(session, territory=home)
    third = make_courier(session, territory=neighbour)
    negative = make_result(session, visit=visit, outcome="not_found")
    recheck = review.decide(session, result_id=negative.id, decision="accept", reason=None,
                            actor=supervisor).recheck_visit
    positive = make_result(session, visit=recheck, outcome="operating",
                           captured_at=AT + timedelta(days=2))
    receipt = review.decide(session, result_id=positive.id, decision="accept", reason=None,
                            actor=supervisor)
    return {"second": second, "third": third, "negative": negative, "positive": positive,
            "receipt": receipt}


def test_a_recheck_that_disagrees_orders_a_third_visit_by_someone_new(
    session, visit, first, disagreement
):
    receipt = disagreement["receipt"]

    assert receipt.finding.verdict == "unresolved" and not receipt.finding.settled
    assert "a third visit or a supervisor decides" in receipt.finding.basis
    third = receipt.recheck_visit
    assert third.checks_visit_id == visit.id
    assert third.courier_id == disagreement["third"].id
    assert third.courier_id not in (first.id, disagreement["second"].id)


def test_the_third_visit_decides_a_disagreement(
    session, campaign, business, disagreement, supervisor
):
    third = disagreement["receipt"].recheck_visit
    result = make_result(session, visit=third, outcome="not_found",
                         captured_at=AT + timedelta(days=3))

    receipt = review.decide(session, result_id=result.id, decision="accept", reason=None,
                            actor=supervisor)

    assert (receipt.finding.verdict, receipt.finding.settled) == ("not_found", True)
    assert receipt.finding.result_ids == sorted([disagreement["negative"].id, result.id])
    assert receipt.recheck_visit is None


def test_a_supervisor_settles_a_disagreement_for_the_positive_side(
    session, disagreement, supervisor
):
    positive = disagreement["positive"]

    receipt = review.decide(session, result_id=positive.id, decision="accept", reason=None,
                            decisive=True, actor=supervisor)

    assert (receipt.finding.verdict, receipt.finding.settled) == ("operating", True)
    assert "a supervisor decided" in receipt.finding.basis


def test_a_supervisor_cannot_settle_for_a_negative_seen_once(session, disagreement, supervisor):
    with pytest.raises(ConflictError) as caught:
        review.decide(session, result_id=disagreement["negative"].id, decision="accept",
                      reason=None, decisive=True, actor=supervisor)

    assert caught.value.details == {"agreeing_visits": 1}


# --- findings -----------------------------------------------------------------------------


def test_two_independent_negatives_make_a_negative_finding_with_its_evidence(
    session, home, campaign, business, visit, supervisor
):
    make_courier(session, territory=home)
    first_result = make_result(session, visit=visit, outcome="closed")
    recheck = review.decide(session, result_id=first_result.id, decision="accept", reason=None,
                            actor=supervisor).recheck_visit
    second_result = make_result(session, visit=recheck, outcome="closed",
                                captured_at=AT + timedelta(days=1))

    finding = review.decide(session, result_id=second_result.id, decision="accept",
                            reason=None, actor=supervisor).finding

    assert (finding.verdict, finding.settled) == ("closed", True)
    assert finding.result_ids == [first_result.id, second_result.id]
    assert finding.reviewer_ids == [supervisor.id]
    assert (str(finding.first_visit_on), str(finding.last_visit_on)) == (
        "2026-11-28", "2026-11-29")


def test_the_finding_follows_a_changed_decision(session, campaign, business, visit, supervisor):
    result = make_result(session, visit=visit, outcome="operating")
    review.decide(session, result_id=result.id, decision="accept", reason=None,
                  actor=supervisor)
    assert finding_of(session, campaign, business).verdict == "operating"

    review.decide(session, result_id=result.id, decision="reject", reason="fabricated",
                  actor=supervisor)

    assert finding_of(session, campaign, business) is None


# --- bulk, queue, integrity ---------------------------------------------------------------


def test_bulk_accept_takes_only_results_without_flags(
    session, first, campaign, visit, supervisor
):
    clean = make_result(session, visit=visit)
    flagged_visit = make_visit(session, courier=first, campaign=campaign)
    flagged = make_result(session, visit=flagged_visit)
    session.add(Flag(result_id=flagged.id, kind="far_from_address", message="far"))
    session.flush()

    report = review.accept_unflagged(session, campaign_id=campaign.id, actor=supervisor)

    assert report.accepted == [clean.id]
    decision = session.scalar(sa.select(ReviewDecision).where(
        ReviewDecision.result_id == clean.id))
    assert decision.bulk and reload(session, flagged_visit).state == "submitted"


def test_the_queue_filters_by_flag_courier_town_outcome_and_age(
    session, home, first, campaign, supervisor
):
    other = make_courier(session, territory=home)
    town = make_business(session, town="芝英镇")
    rows = {
        "flagged": make_result(session, visit=make_visit(session, courier=first,
                                                         campaign=campaign)),
        "other": make_result(session, visit=make_visit(session, courier=other,
                                                       campaign=campaign)),
        "town": make_result(session, visit=make_visit(session, courier=first, business=town,
                                                      campaign=campaign)),
        "closed": make_result(session, visit=make_visit(session, courier=first,
                                                        campaign=campaign), outcome="closed"),
    }
    session.add(Flag(result_id=rows["flagged"].id, kind="photo_similar", message="x"))
    session.flush()
    now = AT + timedelta(hours=30)

    def ids(**kwargs):
        items, _ = review.list_review_queue(session, viewer=supervisor, now=now,
                                            filters=QueueFilter(**kwargs))
        return [i.result.id for i in items]

    assert ids(flag_kinds=("photo_similar",)) == [rows["flagged"].id]
    assert ids(flagged=False) == [rows["other"].id, rows["town"].id, rows["closed"].id]
    assert ids(courier_id=other.id) == [rows["other"].id]
    assert ids(town="芝英镇") == [rows["town"].id]
    assert ids(outcome="closed") == [rows["closed"].id]
    assert ids(min_age_h=24) == [r.id for r in rows.values()]
    assert ids(max_age_h=24) == []
    review.decide(session, result_id=rows["other"].id, decision="accept", reason=None,
                  actor=supervisor)
    rows["other"].version = 2  # the courier amended it after the decision
    session.flush()
    assert ids(status="amended") == [rows["other"].id]


def test_courier_integrity_puts_the_outlier_first(session, home, campaign, supervisor):
    couriers = [make_courier(session, territory=home) for _ in range(5)]
    for n, courier in enumerate(couriers):
        for i in range(10):
            lon = YONGKANG_LON + 0.001 * i
            visit = make_visit(session, courier=courier, campaign=campaign,
                               business=make_business(session, lon=lon, lat=YONGKANG_LAT))
            result = make_result(session, visit=visit,
                                 captured_at=AT + timedelta(minutes=15 * i))
            if n == 3 and i < 6:
                session.add(Flag(result_id=result.id, kind="far_from_address", message="far"))
    session.flush()

    rows = review.courier_integrity(session, viewer=supervisor, campaign_id=campaign.id)

    assert rows[0].courier_id == couriers[3].id
    assert (rows[0].far_share, rows[0].flagged_share, rows[0].outlier_in) == (
        0.6, 0.6, ["flagged_share", "far_share"])
    assert rows[0].campaign_median["far_share"] == 0.0
    assert rows[1].median_interval_s == 900
