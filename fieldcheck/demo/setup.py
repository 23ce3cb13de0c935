"""Preparing the demo campaign: schema, one account of each role, a generated county."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from fieldcheck.auth.models import User
from fieldcheck.auth.service import add_user, hash_password
from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.schema import upgrade

log = logging.getLogger(__name__)

# username -> (role, bureau)
DEMO_ACCOUNTS = {
    "admin": ("admin", None),
    "supervisor": ("supervisor", None),
    "courier": ("courier", None),
    "tax": ("official", "tax"),
    "commerce": ("official", "commerce"),
}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str


@dataclass
class DemoSummary:
    accounts: list[DemoAccount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _reset_accounts(session: sa.orm.Session) -> list[DemoAccount]:
    """Create the demo accounts, or give the existing ones fresh passwords."""
    accounts = []
    for username, (role, bureau) in DEMO_ACCOUNTS.items():
        password = secrets.token_urlsafe(9)
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            add_user(
                session,
                username=username,
                role=role,
                bureau=bureau,
                password=password,
                display_name=f"demo {username}",
            )
        else:
            user.password_hash = hash_password(password)
            user.active = True
        accounts.append(DemoAccount(username, role, password))
    return accounts


def prepare_demo(
    settings: Settings, *, businesses: int = 300, say: Callable[[str], None] = log.info
) -> DemoSummary:
    """Bring the database to head and load the demo data; safe to run again."""
    assert settings.database_url
    say("migrating the database")
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            summary = DemoSummary(accounts=_reset_accounts(session))
            session.commit()
    finally:
        engine.dispose()
    return summary
