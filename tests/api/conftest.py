"""Fixtures of the courier API's tests: a courier, their auth headers, a visit of theirs.

A module that needs another courier, other headers or another visit defines its own fixture
of the same name, which takes precedence.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from fieldcheck.dispatch.models import Courier, Visit
from tests.builders import auth, courier_user, make_courier, make_visit


@pytest.fixture
def courier(session: Session) -> Courier:
    return make_courier(session)


@pytest.fixture
def headers(session: Session, courier: Courier) -> dict[str, str]:
    return auth(courier_user(session, courier))


@pytest.fixture
def visit(session: Session, courier: Courier) -> Visit:
    return make_visit(session, courier=courier)
