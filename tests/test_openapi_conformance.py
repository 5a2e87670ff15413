"""Both apps keep the promises of their OpenAPI documents (a schemathesis run).

Every operation of both documents is called with requests generated from the
document itself, as an admin, so the routes are reached past authentication.
No answer may be a server error, and every answer must match the schema the
document gives for its status (problem details included).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from audiencehub.campaign.users import Role, add_user, create_token
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.people.clients import ClientRole, issue_token, register_client
from audiencehub.people.web.app import create_people_app
from tests.helpers import services_of

CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def campaign_schema(sqlite_workspace):
    with sqlite_workspace.campaign.begin() as connection:
        add_user(connection, "ada", "correct horse battery", Role.ADMIN)
        _, token = create_token(connection, "ada", "fuzz")
    app = create_campaign_app(services_of(sqlite_workspace))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    # running a publication writes where the generated destinations point: tested apart
    return schema, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people_schema(sqlite_workspace):
    with sqlite_workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "fuzz", ClientRole.ADMIN)
        token, _ = issue_token(connection, client_id, secret)
    app = create_people_app(sqlite_workspace.people)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    return schema, {"Authorization": f"Bearer {token}"}


def _conforms(schema, headers, skip=()):
    """Run every operation (but the paths in ``skip``) with generated requests; report every
    failure at once."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in skip:
            continue

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as failure:
            failures.append(f"{operation.label}: {str(failure)[:1500]}")
    assert not failures, "\n\n".join(failures)


def test_campaign_api_conforms(campaign_schema):
    schema, headers = campaign_schema
    # a job run reads and writes where the generated accounts point: tested apart
    _conforms(schema, headers, skip=("/api/v1/jobs/{job}/runs",))


def test_people_api_conforms(people_schema):
    schema, headers = people_schema
    # a publication run now writes where the generated destinations point: tested apart,
    # in tests/people/test_admin_api.py (and this app has no job runner: a 503 by design)
    _conforms(schema, headers, skip=("/api/v1/jobs/{job}/runs",))
