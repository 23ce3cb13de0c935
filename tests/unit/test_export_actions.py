"""What each bureau is told: verdict + registry status -> action; masking and neutralising."""

from __future__ import annotations

import re

import pytest

from fieldcheck.exports.actions import (
    ACTION_LABELS,
    ACTIONS,
    BUREAUS,
    VERDICT_LABELS,
    Situation,
    recommend,
)
from fieldcheck.exports.rows import columns_for, mask_id
from fieldcheck.exports.writers import neutralise
from fieldcheck.review.models import VERDICTS

# (verdict, registry status, listed, live duplicate) -> action, the same for both bureaus.
CASES = [
    (("operating", "active", True, False), "keep"),
    (("operating", None, True, False), "keep"),
    (("operating_changed", "active", True, False), "update_details"),
    (("relocated", "active", True, False), "update_details"),
    (("operating", "suspended", True, False), "update_details"),
    (("shell", "active", True, False), "abnormal_candidate"),
    (("not_found", "active", True, False), "abnormal_candidate"),
    (("not_found", "suspended", True, False), "abnormal_candidate"),
    (("not_found", "abnormal", True, False), "keep"),
    (("shell", "deregistered", True, False), "keep"),
    (("shell", "revoked", True, False), "deregistration_candidate"),
    (("closed", "active", True, False), "deregistration_candidate"),
    (("closed", "revoked", True, False), "deregistration_candidate"),
    (("closed", "deregistered", True, False), "keep"),
    (("operating", "abnormal", True, False), "lift_abnormal"),
    (("relocated", "abnormal", True, False), "lift_abnormal"),
    (("operating", "deregistered", True, False), "unregistered_operation"),
    (("operating_changed", "revoked", True, False), "unregistered_operation"),
    (("operating", "active", True, True), "merge_duplicate"),
    (("operating_changed", "active", True, True), "merge_duplicate"),
    ((None, "active", True, True), "merge_duplicate"),
    (("unresolved", "active", True, True), "merge_duplicate"),
    (("operating", None, False, False), "new_unregistered"),
    (("unresolved", "active", True, False), "unresolved"),
    ((None, "active", True, False), "unresolved"),
    (("closed", "active", True, True), "deregistration_candidate"),
]


@pytest.mark.parametrize("bureau", BUREAUS)
@pytest.mark.parametrize(("situation", "expected"), CASES)
def test_recommend_maps_verdict_and_registry_status_to_the_action(bureau, situation, expected):
    verdict, status, listed, duplicate = situation
    assert recommend(bureau, Situation(verdict, status, listed, duplicate)) == expected


def test_every_action_is_reached_by_some_situation():
    assert {expected for _, expected in CASES} == set(ACTIONS)


def test_recommend_refuses_unknown_bureaus_and_verdicts():
    with pytest.raises(ValueError):
        recommend("police", Situation("operating"))
    with pytest.raises(ValueError):
        recommend("tax", Situation("asleep"))


@pytest.mark.parametrize("bureau", BUREAUS)
def test_every_action_has_a_label_and_a_sheet_name_excel_accepts(bureau):
    labels = ACTION_LABELS[bureau]
    assert set(labels) == set(ACTIONS)
    names = [sheet for _, sheet in labels.values()]
    assert len(set(names)) == len(names)
    for name in names:
        # Excel: at most 31 characters (with room for " 续N"), none of []:*?/\ .
        assert len(name) <= 26 and not re.search(r"[\[\]:*?/\\]", name)


def test_every_verdict_has_a_label():
    assert set(VERDICTS) <= set(VERDICT_LABELS)


@pytest.mark.parametrize("bureau", BUREAUS)
def test_column_keys_are_unique(bureau):
    keys = [c.key for c in columns_for(bureau, gcj02=True)]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("330784197001010010", "330784********0010"),
        ("33078419700101001001", "330784**********1001"),
        ("330784700101001", "330784*****1001"),
        ("E1234567", "********"),
    ],
)
def test_mask_id_hides_birth_date_and_sequence(value, masked):
    assert mask_id(value) == masked


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
        ("+8613800000000", "'+8613800000000"),
        ("-", "'-"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("永康市=古山", "永康市=古山"),
        ("", ""),
    ],
)
def test_neutralise_puts_an_apostrophe_before_formula_triggers(value, safe):
    assert neutralise(value) == safe
