"""Schemathesis over the live app: every operation of the served OpenAPI document, as each
role, with generated valid and invalid requests. No answer may be a server error, and every
answer must be documented: its status code, its content type, its headers and its body.

The app runs on a free loopback port on a committed database of its own, with a small
campaign: a courier with visits, a photo and a submitted result, a supervisor who reviews the
campaign, the bureaus' registry records, officials of both bureaus. The roles run one after
the other, the administrator last: its operations (merges, plans, reassignments, removing a
supervisor) change the data the other roles are fuzzed against. Within a role nothing is
excluded: a logout, a merge or a plan called with generated arguments is part of the test.

Cases per operation: FIELDCHECK_FUZZ_EXAMPLES (default 8) for operations the role may call,
one valid case for the others (refused with 401 or 403, documented). Public operations (log
in, health) are fuzzed once, anonymously. FIELDCHECK_FUZZ_SEED varies the otherwise fixed
generation, for a longer search.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from rq import Queue
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from api.app import create_app
from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from tests.builders import (
    TEST_SECRET,
    courier_user,
    make_business,
    make_campaign,
    make_courier,
    make_finding,
    make_source_record,
    make_supervisor,
    make_territory,
    make_user,
    make_visit,
    token_for,
)
from tests.photos import jpeg, result_body, sha256

pytestmark = pytest.mark.e2e

ROLES = ("anonymous", "courier", "official_tax", "official_commerce", "supervisor", "admin")
EXAMPLES = int(os.environ.get("FIELDCHECK_FUZZ_EXAMPLES", "8"))
FORBIDDEN_EXAMPLES = 1
SEED = os.environ.get("FIELDCHECK_FUZZ_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class LiveApp:
    base: str
    headers: dict[str, dict[str, str]]
    # Each operation of the served document with its strategy (valid and invalid cases).
    operations: list[tuple[Any, Any, Any]]


@pytest.fixture(scope="module")
def live(databases, template_db, redis_url, tmp_path_factory) -> Iterator[LiveApp]:
    """The app over HTTP on a database holding a small campaign, and a token per role."""
    url = databases.url(databases.create("fuzz", template=template_db))
    instance: Path = tmp_path_factory.mktemp("fuzz")
    settings = Settings.from_env(
        {}, mode="test", database_url=url, redis_url=redis_url, secret_key=TEST_SECRET,
        instance_dir=instance, storage_url=str(instance / "photos"),
    )
    queue = f"fcfuzz-{uuid.uuid4().hex[:8]}"
    app = create_app({"SETTINGS": settings, "RATE_LIMIT_PREFIX": f"fcfuzz:{queue}:",
                      "JOB_QUEUE": queue})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    engine = make_engine(url)
    base = f"http://127.0.0.1:{http.server_port}"
    try:
        headers = _prepare_campaign(make_session_factory(engine), base)
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
        operations = [
            (op, _strategy(op), op.as_strategy(generation_mode=GenerationMode.POSITIVE))
            for op in (result.ok() for result in schema.get_all_operations())
        ]
        yield LiveApp(base, headers, operations)
    finally:
        http.shutdown()
        thread.join(timeout=10)
        engine.dispose()
        Queue(queue, connection=redis.Redis.from_url(redis_url)).delete(delete_jobs=True)


def _prepare_campaign(sessions: Any, base: str) -> dict[str, dict[str, str]]:
    with sessions() as session:
        admin = make_user(session, role="admin", password=None)
        campaign = make_campaign(session)
        territory = make_territory(session)
        courier = make_courier(session, territory=territory)
        supervisor = make_supervisor(session, campaigns=(campaign,))
        officials = {bureau: make_user(session, role="official", bureau=bureau, password=None)
                     for bureau in ("tax", "commerce")}
        visits = []
        for i in range(3):
            business = make_business(session, uscc=f"91330784MA2{i:07d}")
            make_source_record(session, business, bureau="tax")
            make_source_record(session, business, bureau="commerce")
            visits.append(make_visit(session, courier=courier, business=business,
                                     campaign=campaign, route_order=i))
        # The last business has a verdict already, for the officials' registries.
        make_finding(session, campaign=campaign, business=business, verdict="operating")
        users = {"admin": admin, "supervisor": supervisor,
                 "courier": courier_user(session, courier),
                 "official_tax": officials["tax"], "official_commerce": officials["commerce"]}
        headers = {role: {"Authorization": f"Bearer {token_for(user, ttl_s=3600)}"}
                   for role, user in users.items()}
        session.commit()
    headers["anonymous"] = {}
    # The courier's photo and result go through the API, as the phone sends them.
    photo = jpeg()
    courier_headers = headers["courier"]
    uploaded = requests.post(f"{base}/api/v1/courier/photos", headers=courier_headers,
                             files={"file": ("p.jpg", photo, "image/jpeg")},
                             data={"sha256": sha256(photo)}, timeout=30)
    submitted = requests.post(
        f"{base}/api/v1/courier/results", headers=courier_headers, timeout=30,
        json=result_body(visits[0].id, photos=[("storefront", photo)]),
    )
    assert (uploaded.status_code, submitted.status_code) == (201, 201), submitted.text
    return headers


def _roles(operation: Any) -> list[str] | None:
    """The roles `operation` is for (empty: any signed-in user); None: a public operation."""
    security = operation.definition.raw.get("security")
    return security[0]["bearerAuth"] if security else None


def _strategy(operation: Any) -> Any:
    return st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )


def _fuzz(operation: Any, strategy: Any, *, base: str, headers: dict[str, str], examples: int,
          http: requests.Session, statuses: Counter[int]) -> list[str]:
    """Run `examples` generated cases of `operation`; the failures found, one line each.
    `statuses` counts the status codes of the answers."""
    found: dict[str, str] = {}

    @hypothesis.settings(
        max_examples=examples, deadline=None, database=None, derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        try:
            response = case.call(base_url=base, session=http, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            case.validate_response(
                response, checks=CHECKS, headers=headers,
                transport_kwargs={"base_url": base, "session": http, "headers": headers},
            )
        except (Failure, FailureGroup) as error:
            failures = error.exceptions if isinstance(error, FailureGroup) else (error,)
            for failure in failures:
                title = f"{failure.title}: {failure.message}".replace("\n", " ")[:400]
                found.setdefault(title, case.as_curl_command(headers))

    if SEED is not None:
        run = hypothesis.seed(int(SEED))(run)
    run()
    return [f"{operation.label}: {title}\n    {curl}" for title, curl in found.items()]


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(live, role):
    headers = live.headers[role]
    failures: list[str] = []
    allowed: Counter[int] = Counter()
    refused: Counter[int] = Counter()
    with requests.Session() as http:
        for operation, strategy, valid in live.operations:
            roles = _roles(operation)
            if roles is None:
                # A public operation reads no token: it is fuzzed once, anonymously.
                if role == "anonymous":
                    failures += _fuzz(operation, strategy, base=live.base, headers=headers,
                                      examples=EXAMPLES, http=http, statuses=allowed)
            elif role != "anonymous" and (not roles or role.split("_")[0] in roles):
                failures += _fuzz(operation, strategy, base=live.base, headers=headers,
                                  examples=EXAMPLES, http=http, statuses=allowed)
            else:
                # Refused before its arguments are read: one valid case shows the refusal.
                failures += _fuzz(operation, valid, base=live.base, headers=headers,
                                  examples=FORBIDDEN_EXAMPLES, http=http, statuses=refused)
    assert not failures, f"{len(failures)} failures as {role}:\n" + "\n".join(failures)
    # The cases reached the handlers: some succeeded, and only the operations not for the
    # role were refused for it.
    successes = sum(n for status, n in allowed.items() if status < 300)
    assert successes >= (1 if role == "anonymous" else 5), f"answers: {dict(allowed)}"
    assert set(refused) <= {401, 403}, f"answers to operations not for {role}: {dict(refused)}"
