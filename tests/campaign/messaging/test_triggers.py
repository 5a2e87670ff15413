"""Triggered messages over HTTP: decrypt, send without a profile, idempotency, refusals."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import OutboxMailer
from audiencehub.campaign.messaging.triggers import add_template, trigger
from audiencehub.campaign.profiles.lookup import get_profile
from audiencehub.campaign.profiles.store import add_key_schemes
from audiencehub.campaign.schema import messages, profiles
from audiencehub.campaign.sharing.data_sources import (
    Channel,
    Encryption,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
)
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.identity import AesCbcCipher, HashScheme, IdKind, hash_id
from tests.helpers import an_admin, services_of

KEY, IV = "00" * 16, "11" * 16
TOKEN = "test-api-token"


@pytest.fixture
def api(workspace):
    vault = KeyVault(workspace.path)
    with workspace.campaign.begin() as connection:
        ids = {}
        for label, key, channel in (
            ("Emails", ReconciliationKey.EMAIL, Channel.EMAIL),
            ("Phones", ReconciliationKey.MOBILE_PHONE, Channel.SMS),
            ("Opaque", ReconciliationKey.CRM_ID, Channel.OTHER),
        ):
            source = add_shared_data_source(
                connection,
                vault,
                label=label,
                key=key,
                encryption=Encryption.AES_CBC,
                enc_key=KEY,
                enc_iv=IV,
                channel=channel,
            )
            accept_terms(connection, source["id"], an_admin(connection))
            ids[label] = source["id"]
    add_template(
        workspace.campaign,
        name="receipt",
        channel="email",
        subject="Order {{ payload.order }}",
        text="Thanks for order {{ payload.order }}",
        html="<p>Order {{ payload.order }}</p>",
    )
    services = services_of(
        workspace, api_token=TOKEN, mailer=lambda: OutboxMailer(workspace.path / "outbox")
    )
    client = TestClient(create_campaign_app(services))
    return client, ids


def _post(client, body, token=TOKEN):
    return client.post("/api/triggers", json=body, headers={"Authorization": f"Bearer {token}"})


def _event(source, plain, key="evt-1", **extra):
    return {
        "data_source_id": source,
        "encrypted_id": AesCbcCipher.from_hex(KEY, IV).encrypt(plain),
        "template": "receipt",
        "payload": {"order": "A-42"},
        "idempotency_key": key,
        **extra,
    }


def _sent(workspace):
    with workspace.campaign.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()


def test_an_encrypted_email_reaches_someone_without_a_profile(api, workspace):
    """The ID is decrypted and the message sent; the same key again sends nothing more."""
    client, ids = api
    first = _post(client, _event(ids["Emails"], "New.Person@Example.com"))
    assert first.status_code == 201
    assert first.json()["status"] == "sent" and first.json()["profile_id"] is None
    [eml] = list((workspace.path / "outbox").glob("*.eml"))
    text = eml.read_text()
    assert "To: new.person@example.com" in text and "Subject: Order A-42" in text
    again = _post(client, _event(ids["Emails"], "New.Person@Example.com"))
    # a replay answers the first result, and says it is one
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _sent(workspace) == 1 and len(list((workspace.path / "outbox").glob("*.eml"))) == 1


def test_a_profile_can_be_created(api, workspace):
    """With create_profile, the person becomes a profile, reconciliation keys included."""
    client, ids = api
    with workspace.campaign.begin() as connection:
        add_key_schemes(connection, [HashScheme.AAM])
    response = _post(
        client, _event(ids["Emails"], "jo@example.com", key="evt-2", create_profile=True)
    )
    assert response.json()["profile_id"] is not None
    with workspace.campaign.connect() as connection:
        assert connection.execute(select(profiles.c.email_key)).scalars().all() == [
            "jo@example.com"
        ]
        keys = get_profile(connection, "jo@example.com")["keys"]
    # a shared-audience import of hashed emails can match the new profile
    assert keys == [
        {
            "scheme": "aam",
            "kind": "email",
            "hash": hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL),
        }
    ]


def test_sms_go_to_the_outbox_by_default(api, workspace):
    """An SMS source decrypts a phone number and sends the text part."""
    client, ids = api
    add_template(
        workspace.campaign,
        name="receipt",
        channel="sms",
        subject="",
        text="Order {{ payload.order }}",
        html="",
    )
    response = _post(client, _event(ids["Phones"], "+33612345678", key="evt-3"))
    assert response.json()["channel"] == "sms"
    [sms] = list((workspace.path / "outbox").glob("*.sms.json"))
    assert json.loads(sms.read_text()) == {"to": "+33612345678", "body": "Order A-42"}


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"encrypted_id": "deadbeef"}, 400, "the encrypted ID cannot be used"),
        ({"encrypted_id": "00" * 16}, 400, "the encrypted ID cannot be used"),
        ({"data_source_id": "AMCDS99"}, 404, "no shared data source 'AMCDS99'"),
        ({"template": "nope"}, 404, "no template is named 'nope'"),
        ({"data_source_id": "AMCDS3"}, 400, "channel other"),
    ],
)
def test_bad_events_send_nothing(api, workspace, change, status, reason):
    """Bad ciphertext, unknown sources or templates, channel other: refused, nothing sent."""
    client, ids = api
    response = _post(client, {**_event(ids["Emails"], "jo@example.com", key="evt-x"), **change})
    assert response.status_code == status and reason in response.json()["detail"]
    assert _sent(workspace) == 0


def test_the_api_needs_its_token(api):
    """No or a wrong bearer token is 401."""
    client, ids = api
    assert _post(client, _event(ids["Emails"], "a@b.co"), token="wrong").status_code == 401
    assert client.post("/api/triggers", json=_event(ids["Emails"], "a@b.co")).status_code == 401
    # checked before the body: no token, no word about what the API expects
    bare = client.post("/api/triggers")
    assert bare.status_code == 401
    assert bare.headers["content-type"] == "application/problem+json"
    assert bare.json()["detail"] == "a valid bearer token is required"
    assert set(bare.json()) == {"type", "title", "status", "detail", "hint"}


class _WatchingMailer:
    """A mailer that, while it sends, reads and writes the database from another connection."""

    def __init__(self, workspace):
        self.workspace, self.seen = workspace, []

    def send(self, message):
        # a write here waits (SQLite) or conflicts if the trigger still held its transaction
        with self.workspace.campaign.begin() as connection:
            connection.execute(update(messages).where(messages.c.id < 0).values(reason=None))
            self.seen.append(connection.execute(select(messages.c.status)).scalars().all())

    def close(self):
        pass


def test_the_message_is_sent_with_no_transaction_open(api, workspace):
    """The pending message is committed before the send and its outcome recorded after,
    so a slow mail server never holds the database, even when a profile is created."""
    _, ids = api
    mailer = _WatchingMailer(workspace)
    result = trigger(
        workspace.campaign,
        services_of(workspace, mailer=lambda: mailer).messaging,
        KeyVault(workspace.path),
        data_source_id=ids["Emails"],
        encrypted_id=_event(ids["Emails"], "jo@example.com")["encrypted_id"],
        template="receipt",
        payload={"order": "A-1"},
        idempotency_key="evt-watch",
        create_profile=True,
    )
    assert mailer.seen == [["pending"]]
    with workspace.campaign.connect() as connection:
        assert connection.execute(select(messages.c.status)).scalars().all() == ["sent"]
    assert result.status == "sent" and result.profile_id is not None


def test_one_idempotency_key_sends_once_under_concurrency(api, workspace):
    """Eight requests with one key at once: one message is sent; the others replay its result
    (sent, or pending while it is being sent)."""
    _, ids = api
    messaging = services_of(
        workspace, mailer=lambda: OutboxMailer(workspace.path / "outbox")
    ).messaging
    encrypted = _event(ids["Emails"], "jo@example.com")["encrypted_id"]

    def one(_):
        return trigger(
            workspace.campaign,
            messaging,
            KeyVault(workspace.path),
            data_source_id=ids["Emails"],
            encrypted_id=encrypted,
            template="receipt",
            payload={"order": "A-1"},
            idempotency_key="evt-race",
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    [first] = [r for r in results if not r.replayed]
    assert first.status == "sent"
    assert {r.message_id for r in results} == {first.message_id}
    assert {r.status for r in results if r.replayed} <= {"sent", "pending"}
    assert _sent(workspace) == 1 and len(list((workspace.path / "outbox").glob("*.eml"))) == 1


def _cbc(plain: bytes) -> str:
    """AES-CBC of raw bytes under the test key, padded or not as given."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(bytes.fromhex(KEY)), modes.CBC(bytes.fromhex(IV))).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex()


@pytest.mark.parametrize(
    "encrypted_id",
    [
        "zz",  # not hex
        "deadbeef",  # not whole blocks
        "00" * 16,  # bad padding
        _cbc(b"secret-not-email" + bytes([16]) * 16),  # two blocks, good padding, no address
        _cbc(b"\xff\xfe" + bytes([14]) * 14),  # good padding, not UTF-8
        _cbc(b"no-address-here" + bytes([1])),  # good padding, decrypts to no email
    ],
)
def test_every_unusable_id_gets_the_same_answer(api, encrypted_id):
    """Whatever is wrong with the ciphertext, the answer is byte for byte the same and quotes
    nothing decrypted: no padding oracle, no echo of a decrypted value."""
    client, ids = api
    reference = _post(client, _event(ids["Emails"], "x", key="ref", encrypted_id="00" * 16))
    response = _post(client, _event(ids["Emails"], "x", key="k", encrypted_id=encrypted_id))
    assert (response.status_code, response.content) == (reference.status_code, reference.content)
    assert b"secret" not in response.content and b"no-address" not in response.content


def test_triggers_are_rate_limited_per_token(workspace):
    """Past its rate a token gets 429 with Retry-After, before its body is even read."""
    services = services_of(workspace, api_token=TOKEN, triggers_per_minute=10)
    client = TestClient(create_campaign_app(services))
    answers = [_post(client, {}).status_code for _ in range(3)]
    assert answers == [422, 429, 429]  # a burst of 1 (a tenth of 10 a minute), then the limit
    limited = _post(client, {})
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["status"] == 429


def test_the_token_is_checked_before_the_body_is_read(api):
    """Without the token, a streamed body (no length to refuse it by) is answered 401 unread;
    a body that declares a length over the limit is refused by that length first."""
    client, _ = api
    wrong = {"Authorization": "Bearer wrong"}
    streamed = client.post("/api/triggers", content=iter([b"x" * 1_000_000] * 5), headers=wrong)
    declared = client.post("/api/triggers", content=b"x" * 5_000_000, headers=wrong)
    assert (streamed.status_code, declared.status_code) == (401, 413)


def test_bodies_over_the_limit_are_refused(workspace):
    """With the token, a body over max_request_bytes is 413, whether it declares its length
    or streams without one."""
    services = services_of(workspace, api_token=TOKEN, max_request_bytes=2_048)
    client = TestClient(create_campaign_app(services))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    declared = client.post("/api/triggers", content=b"x" * 4_096, headers=auth)
    streamed = client.post("/api/triggers", content=iter([b"x" * 1_024] * 4), headers=auth)
    assert (declared.status_code, streamed.status_code) == (413, 413)


def test_a_trigger_during_a_bulk_job_is_queued_and_sent_once(api, workspace):
    """While the database is held, a trigger (and its retry) is answered 202 queued at once;
    when the database is free, the message is sent exactly once, and a later replay answers
    that result."""
    from tests.test_spool import held

    client, ids = api
    event = _event(ids["Emails"], "jo@example.com", key="evt-queued")
    with held(workspace.campaign, "messages"):
        first, retry = _post(client, event), _post(client, event)
        assert (first.status_code, first.json()["status"]) == (202, "queued")
        assert (retry.status_code, retry.json()["status"]) == (202, "queued")
    assert _sent(workspace) == 0
    client.app.state.triggers.drain()
    assert _sent(workspace) == 1 and len(list((workspace.path / "outbox").glob("*.eml"))) == 1
    later = _post(client, event)
    assert (later.status_code, later.json()["status"]) == (201, "sent")
    assert later.headers["idempotent-replayed"] == "true"


def test_personal_tokens_open_the_api_by_role(api, workspace):
    """A marketer's token sends; a viewer's is a 403 problem; a revoked one or a disabled
    user's is a 401, all before the body is read."""
    from audiencehub.campaign.users import Role, add_user, create_token, disable_user, revoke_token

    client, ids = api
    with workspace.campaign.begin() as connection:
        add_user(connection, "mara", "a long passphrase", Role.MARKETER)
        add_user(connection, "vic", "a long passphrase", Role.VIEWER)
        _, marketer = create_token(connection, "mara", "shop events")
        revoked_id, revoked = create_token(connection, "mara", "old")
        revoke_token(connection, revoked_id)
        _, viewer = create_token(connection, "vic", "reports")
    sent = _post(client, _event(ids["Emails"], "a@b.co"), token=marketer)
    assert sent.status_code == 201 and sent.json()["status"] == "sent"
    refused = client.post("/api/triggers", headers={"Authorization": f"Bearer {viewer}"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "takes the marketer role" in refused.json()["detail"]
    assert _post(client, _event(ids["Emails"], "c@d.co"), token=revoked).status_code == 401
    with workspace.campaign.begin() as connection:
        disable_user(connection, "mara")
    assert _post(client, _event(ids["Emails"], "e@f.co"), token=marketer).status_code == 401
