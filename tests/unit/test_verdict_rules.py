"""The verdict rules table: accepted results in, one verdict per business out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fieldcheck.review.service import sampled_for_recheck
from fieldcheck.review.verdicts import AcceptedResult, derive_verdict

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def accepted(*votes: str, decisive: int | None = None) -> list[AcceptedResult]:
    """Results in order; "A:closed" is courier A's closed result."""
    results = []
    for i, vote in enumerate(votes):
        courier, outcome = vote.split(":")
        results.append(AcceptedResult(
            result_id=i + 1, visit_id=i + 1, courier_id=ord(courier), outcome=outcome,
            captured_at=T0 + timedelta(days=i), decisive=decisive == i + 1,
        ))
    return results


@pytest.mark.parametrize(
    "votes, verdict, settled",
    [
        # one positive suffices
        (["A:operating"], "operating", True),
        (["A:operating_changed"], "operating_changed", True),
        (["A:relocated"], "relocated", True),
        # a re-check that agrees; changed details count as agreeing
        (["A:operating", "B:operating_changed"], "operating_changed", True),
        # a negative alone waits for its re-check
        (["A:closed"], "unresolved", False),
        (["A:shell"], "unresolved", False),
        (["A:not_found"], "unresolved", False),
        # two independent negatives that agree
        (["A:closed", "B:closed"], "closed", True),
        (["A:shell", "B:shell"], "shell", True),
        (["A:not_found", "B:not_found"], "not_found", True),
        # the same courier twice is one vote
        (["A:not_found", "A:not_found"], "unresolved", False),
        # disagreement without a majority
        (["A:not_found", "B:operating"], "unresolved", False),
        (["A:operating", "B:closed"], "unresolved", False),
        (["A:shell", "B:not_found"], "unresolved", False),
        (["A:operating", "B:relocated"], "unresolved", False),
        # a third visit decides
        (["A:not_found", "B:operating", "C:not_found"], "not_found", True),
        (["A:operating", "B:closed", "C:operating"], "operating", True),
        (["A:operating", "B:closed", "C:closed"], "closed", True),
        (["A:operating", "B:closed", "C:shell"], "unresolved", False),
        # refusals are attempts, not claims
        (["A:refused", "B:operating"], "operating", True),
        (["A:closed", "B:unreachable"], "unresolved", False),
    ],
)
def test_verdict_table(votes, verdict, settled):
    result = derive_verdict(accepted(*votes))

    assert result is not None
    assert (result.verdict, result.settled) == (verdict, settled)


def test_no_accepted_result_gives_no_finding():
    assert derive_verdict([]) is None


def test_refused_before_the_last_attempt_is_unresolved_and_open():
    result = derive_verdict(accepted("A:refused"), attempts_exhausted=False)

    assert (result.verdict, result.settled) == ("unresolved", False)
    assert "another attempt is due" in result.basis


def test_refused_after_the_last_attempt_is_unresolved_and_settled():
    result = derive_verdict(accepted("A:refused", "A:unreachable"), attempts_exhausted=True)

    assert (result.verdict, result.settled) == ("unresolved", True)


def test_a_positive_with_a_recheck_under_way_is_not_settled():
    result = derive_verdict(accepted("A:operating"), open_visits=1)

    assert (result.verdict, result.settled) == ("operating", False)


def test_a_disagreement_says_so_and_names_both_results():
    result = derive_verdict(accepted("A:not_found", "B:operating"))

    assert result.disagreement and result.result_ids == (1, 2)
    assert "a third visit or a supervisor decides" in result.basis


def test_a_supervisors_decisive_accept_settles_a_disagreement_for_a_positive():
    result = derive_verdict(accepted("A:not_found", "B:operating", decisive=2))

    assert (result.verdict, result.settled, result.result_ids) == ("operating", True, (2,))


def test_a_decisive_accept_cannot_make_a_negative_out_of_one_visit():
    result = derive_verdict(accepted("A:operating", "B:closed", decisive=2))

    assert (result.verdict, result.disagreement) == ("unresolved", True)


def test_a_decisive_accept_of_a_negative_seen_twice_settles_it():
    result = derive_verdict(accepted("A:closed", "B:operating", "C:closed", decisive=3))

    assert (result.verdict, result.settled, result.result_ids) == ("closed", True, (1, 3))


def test_positive_recheck_sample_is_reproducible_and_near_the_rate():
    first = [sampled_for_recheck(7, b, 0.05) for b in range(20_000)]
    again = [sampled_for_recheck(7, b, 0.05) for b in range(20_000)]

    assert first == again
    assert 0.045 < sum(first) / len(first) < 0.055
    assert [sampled_for_recheck(8, b, 0.05) for b in range(200)] != first[:200]
