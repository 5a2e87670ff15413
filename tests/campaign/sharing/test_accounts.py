"""External accounts: stored S3 credentials, and `accounts test` saying what is wrong.

Credentials are checked for real: a moto server in its own process with IAM
enforcement on (``INITIAL_NO_AUTH_ACTION_COUNT``: the set-up calls pass, every
later call is authenticated and authorised against a user's policy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.sharing.accounts import (
    Account,
    account_drop,
    check_account,
    get_account,
    set_account,
)
from audiencehub.errors import ConfigurationError, InvalidInput
from tests.helpers import free_port, wait_for_port

ADMIN = {"aws_access_key_id": "admin", "aws_secret_access_key": "admin"}
_SETUP_CALLS = 5  # two buckets, a user, its policy, its access key


@pytest.fixture(scope="module")
def iam_s3() -> Iterator[dict[str, str]]:
    """An S3 server enforcing IAM; a user allowed on bucket ``drops`` only, and its keys."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_CALLS)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        options = {"endpoint_url": endpoint, "region_name": "us-east-1", **ADMIN}
        s3, iam = boto3.client("s3", **options), boto3.client("iam", **options)
        s3.create_bucket(Bucket="drops")
        s3.create_bucket(Bucket="others")
        iam.create_user(UserName="campaign")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::drops", "arn:aws:s3:::drops/*"],
                }
            ],
        }
        iam.put_user_policy(
            UserName="campaign", PolicyName="drops", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="campaign")["AccessKey"]
        yield {"endpoint": endpoint, "id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Nothing in the environment: whatever authenticates comes from the account."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _set(workspace, url, iam_s3, *, key_id=None, secret=None):
    with workspace.campaign.begin() as connection:
        set_account(
            connection,
            KeyVault(workspace.path),
            Account.EXPORT,
            url,
            endpoint_url=iam_s3["endpoint"],
            region="us-east-1",
            access_key_id=key_id,
            secret_access_key=secret,
        )


def _test(workspace):
    with workspace.campaign.connect() as connection:
        return check_account(connection, KeyVault(workspace.path), Account.EXPORT, workspace.path)


def test_stored_credentials_reach_the_bucket_and_stay_sealed(sqlite_workspace, iam_s3, no_aws_env):
    """The account's own keys list and write the prefix; the secret is nowhere in clear."""
    ws = sqlite_workspace
    _set(ws, "s3://drops/export", iam_s3, key_id=iam_s3["id"], secret=iam_s3["secret"])
    with ws.campaign.connect() as connection:
        drop = account_drop(connection, KeyVault(ws.path), Account.EXPORT, ws.path)
    with drop.open_write("date=2026-11-30/hello.txt") as sink:
        sink.write(b"hi")
    assert _test(ws) == ["date=2026-11-30/hello.txt"]
    with drop.open_read("date=2026-11-30/hello.txt") as source:
        assert source.read() == b"hi"
    with ws.campaign.connect() as connection:
        shown = get_account(connection, Account.EXPORT, ws.path)
    assert shown["access_key_id"] == iam_s3["id"]
    assert shown["credentials"] == "stored (sealed)"
    assert iam_s3["secret"] not in json.dumps(shown, default=str)
    assert iam_s3["secret"].encode() not in (ws.path / "campaign.db").read_bytes()


@pytest.mark.parametrize(
    ("case", "expected", "hint"),
    [
        ("other bucket", "no permission: the credentials may not use", "s3:ListBucket"),
        ("wrong secret", "bad credentials: the secret access key does not belong", "--secret"),
        ("unknown key id", "bad credentials: the store does not know", "--access-key-id"),
    ],
)
def test_accounts_test_says_what_is_wrong(
    sqlite_workspace, iam_s3, no_aws_env, case, expected, hint
):
    """Bad credentials and missing permission are told apart, with what to check."""
    key_id, secret, url = iam_s3["id"], iam_s3["secret"], "s3://drops/export"
    if case == "other bucket":
        url = "s3://others/export"
    elif case == "wrong secret":
        secret = "x" * 40
    else:
        key_id = "AKIAUNKNOWNUNKNOWN00"
    _set(sqlite_workspace, url, iam_s3, key_id=key_id, secret=secret)
    with pytest.raises(ConfigurationError) as raised:
        _test(sqlite_workspace)
    assert expected in raised.value.message
    assert url in raised.value.message
    assert hint in (raised.value.hint or "")
    assert secret not in raised.value.message + (raised.value.hint or "")


def test_a_missing_bucket_is_named(sqlite_workspace, s3_endpoint, aws_env):
    with sqlite_workspace.campaign.begin() as connection:
        set_account(
            connection,
            KeyVault(sqlite_workspace.path),
            Account.EXPORT,
            "s3://no-such-bucket/export",
            endpoint_url=s3_endpoint,
        )
    with pytest.raises(ConfigurationError, match="the bucket no-such-bucket does not exist"):
        _test(sqlite_workspace)


def test_a_missing_folder_is_named_with_how_to_create_it(sqlite_workspace, tmp_path):
    missing = tmp_path / "nowhere"
    with sqlite_workspace.campaign.begin() as connection:
        set_account(connection, KeyVault(sqlite_workspace.path), Account.EXPORT, str(missing))
    with pytest.raises(ConfigurationError, match="does not exist") as raised:
        _test(sqlite_workspace)
    assert f"mkdir -p {missing}" in (raised.value.hint or "")
    missing.mkdir()
    (missing / "a.txt").write_text("x")
    assert _test(sqlite_workspace) == ["a.txt"]


def test_credentials_come_in_pairs_and_only_for_s3(sqlite_workspace, tmp_path):
    vault = KeyVault(sqlite_workspace.path)
    with sqlite_workspace.campaign.begin() as connection:
        with pytest.raises(InvalidInput, match="both an access key id and its secret"):
            set_account(connection, vault, Account.EXPORT, "s3://b/p", access_key_id="AKIA1")
        with pytest.raises(InvalidInput, match="a folder needs none"):
            set_account(
                connection,
                vault,
                Account.EXPORT,
                str(tmp_path),
                access_key_id="AKIA1",
                secret_access_key="s",
            )
