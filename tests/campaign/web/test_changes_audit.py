"""Campaign's audit trail of configuration changes: who granted a role, made or revoked a
token, keyed or re-labelled a data source, accepted its terms, repointed an account or
the connection; never a password, token or secret, which the trail says were replaced."""

from __future__ import annotations

import json

from audiencehub.campaign.sharing.audit import list_audit
from audiencehub.campaign.users import Role, set_role
from audiencehub.db.audit_trail import change_summary

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CLIENT_SECRET = "a-client-secret-the-people-service-issued"
NEW_PASSWORD = "another correct horse battery"


def test_every_change_over_the_api_names_its_user_and_what_changed(api, tmp_path):
    admin = api.as_(Role.ADMIN)

    def call(method: str, path: str, **kwargs: object) -> dict[str, object]:
        response = api.client.request(method, path, headers=admin, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    with api.services.engine.connect() as connection:  # the fixture's users and tokens
        seeded = len(list_audit(connection, 1000))
    call("POST", "/api/v1/users", json={"name": "ann", "password": NEW_PASSWORD,
         "role": "viewer"})  # fmt: skip
    call("PATCH", "/api/v1/users/ann", json={"role": "marketer", "password": NEW_PASSWORD})
    token = call("POST", "/api/v1/tokens", json={"name": "ci", "user": "ann"})
    call("DELETE", f"/api/v1/tokens/{token['id']}")
    source = call("POST", "/api/v1/datasources", json={"label": "CRM", "key": "email",
                  "hashing": "aam"})  # fmt: skip
    call("PATCH", f"/api/v1/datasources/{source['id']}", json={"priority": 5})
    call("POST", f"/api/v1/datasources/{source['id']}/terms")
    call("DELETE", f"/api/v1/datasources/{source['id']}")
    call("PUT", "/api/v1/accounts/importSharedAudience", json={"url": "s3://shared/in/",
         "access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET})  # fmt: skip
    call("DELETE", "/api/v1/accounts/importSharedAudience")
    call("PUT", "/api/v1/connection", json={"people_url": "https://people.example",
         "client_id": "ah_1", "client_secret": CLIENT_SECRET, "org_id": "ORG"})  # fmt: skip

    trail = call("GET", "/api/v1/audit?limit=100")["items"]
    ours = trail[: len(trail) - seeded]
    assert [e["action"] for e in reversed(ours)] == [
        "user added",
        "user changed",
        "password replaced",
        "token created",
        "token revoked",
        "data source created",
        "data source changed",
        "terms accepted",
        "data source deleted",
        "account set",
        "account reset",
        "connection set",
    ]
    assert {e["actor"] for e in ours} == {"user admin"}
    facts = {e["action"]: e["details"] for e in ours}
    assert facts["user changed"] == {"user": "ann", "changed": {"role": ["viewer", "marketer"]}}
    assert facts["token created"] == {"token_id": token["id"], "user": "ann",
                                      "values": {"name": "ci"}}  # fmt: skip
    assert facts["data source changed"]["changed"] == {"priority": [0, 5]}
    assert facts["data source created"]["values"]["has_key"] is False
    accepted = next(e for e in ours if e["action"] == "terms accepted")
    assert accepted["data_source_id"] == source["id"]  # the trail's column too
    assert facts["account set"]["changed"]["secret"] == [None, "replaced"]
    assert facts["account set"]["changed"]["url"][1] == "s3://shared/in/"
    assert facts["connection set"]["values"]["client_secret"] == "replaced"
    written = json.dumps(trail)
    for secret in (SECRET, CLIENT_SECRET, NEW_PASSWORD, token["token"]):
        assert secret not in written
    assert change_summary(facts["user changed"]) == "user ann: role 'viewer' → 'marketer'"
    connection_set = change_summary(facts["connection set"])  # names no object: its settings
    assert connection_set.startswith("people url https://people.example, client id ah_1")
    assert "client secret replaced" in connection_set


def test_a_change_that_changes_nothing_or_is_rolled_back_writes_nothing(api):
    engine = api.services.engine
    with engine.connect() as connection:
        before = len(list_audit(connection, 1000))
    with engine.begin() as connection:
        set_role(connection, "viewer", Role.VIEWER, actor="user admin")  # already a viewer
    with engine.connect() as connection:
        transaction = connection.begin()
        set_role(connection, "viewer", Role.ADMIN, actor="user admin")
        transaction.rollback()
        assert len(list_audit(connection, 1000)) == before
