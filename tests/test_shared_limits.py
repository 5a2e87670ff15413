"""Limits and lockouts shared by every server process through a real Redis
(``limits_redis_url``), and what happens when that Redis does not answer."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
import uuid

import pytest
import redis
from fastapi.testclient import TestClient

from audiencehub.config import Settings
from audiencehub.people.clients import register_client
from audiencehub.people.web.app import HttpLimits, create_people_app
from audiencehub.ratelimit import Lockout, RateLimiter
from audiencehub.redis_counts import RedisCounts
from tests.helpers import free_port

REDIS_URL = os.environ.get("AUDIENCEHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The test Redis (its database 15 by default), which must answer."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        pytest.fail(
            f"no Redis answers at {REDIS_URL} ({error}); start one (make test does: "
            ".ci/prerequisites) or point AUDIENCEHUB_TEST_REDIS_URL at one"
        )
    return REDIS_URL


@pytest.fixture
def scope() -> str:
    """A scope of this test's own: tests never share counts."""
    return f"test {uuid.uuid4().hex}"


def test_two_processes_take_from_one_bucket(redis_url, scope):
    first, second = (
        RateLimiter(60, burst=3, name="triggers", counts=RedisCounts(redis_url, scope))
        for _ in range(2)
    )
    waits = [limiter.wait("token") for limiter in (first, second, first, second)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] == 1  # a token a second comes back
    assert first.wait("another token") == 0  # a bucket per key


def test_failures_in_any_process_lock_the_key_in_every_process(redis_url, scope):
    first, second = (
        Lockout(3, window=60, lock=30, counts=RedisCounts(redis_url, scope)) for _ in range(2)
    )
    keys = ("user:ann", "address:192.0.2.7")
    assert first.failed(*keys) == []
    assert second.failed(*keys) == []
    assert first.locked(*keys) == second.locked(*keys) == 0
    assert first.failed(*keys) == list(keys)
    assert 0 < second.locked("user:ann") <= 30
    assert 0 < second.locked("address:192.0.2.7") <= 30
    assert second.locked("user:bob") == 0

    # a success in one process forgets the failures counted by another
    other = ("user:bob", "address:192.0.2.8")
    first.failed(*other)
    first.failed(*other)
    second.succeeded(*other)
    assert first.failed(*other) == []


def test_scopes_count_apart_and_redis_holds_only_digests(redis_url, scope):
    name, address = "user:a-name-redis-must-not-hold", "address:198.51.100.23"
    mine = Lockout(1, window=60, lock=30, counts=RedisCounts(redis_url, scope))
    theirs = Lockout(1, window=60, lock=30, counts=RedisCounts(redis_url, f"{scope} other"))
    assert mine.failed(name, address) == [name, address]
    assert theirs.locked(name, address) == 0
    keys = [key.decode() for key in redis.Redis.from_url(redis_url).scan_iter("audiencehub:*")]
    assert keys
    assert not [key for key in keys if "a-name" in key or "198.51" in key or "test" in key]


def test_an_unreachable_redis_leaves_each_process_counting_alone_and_says_so_once(caplog):
    url = "redis://:a-password-never-logged@127.0.0.1:1/0"  # nothing listens on port 1
    lockout = Lockout(2, window=60, lock=30, counts=RedisCounts(url, "down"))
    limiter = RateLimiter(60, burst=1, counts=RedisCounts(url, "down"))
    with caplog.at_level(logging.WARNING, logger="audiencehub.redis_counts"):
        assert lockout.failed("user:ann") == []
        assert lockout.failed("user:ann") == ["user:ann"]
        assert lockout.locked("user:ann") > 0
        assert [limiter.wait("t"), limiter.wait("t")] == [0, 1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once a minute at most, per process's counts
    assert all("its own memory" in w and "a-password" not in w for w in warnings)


def test_two_servers_of_the_people_service_share_a_lockout(workspace, redis_url):
    """Two failed token requests on each of two servers lock the address on both, where
    each server counting alone would have allowed four on each."""
    with workspace.people.begin() as connection:
        client_id, secret = register_client(connection, "partner")
    limits = HttpLimits(login_max_failures=4, limits_redis_url=redis_url)
    servers = [TestClient(create_people_app(workspace.people, limits=limits)) for _ in range(2)]

    def ask(server: TestClient, what: str) -> int:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": what}
        return server.post("/oauth/token", data=form).status_code

    assert [ask(server, "guess") for server in servers for _ in range(2)] == [401] * 4
    assert [ask(server, secret) for server in servers] == [429, 429]


def test_the_setting_takes_redis_urls_only_and_no_placeholder_password(tmp_path):
    assert Settings(workspace=tmp_path, limits_redis_url="").limits_redis_url is None
    with pytest.raises(ValueError, match="is a Redis URL"):
        Settings(workspace=tmp_path, limits_redis_url="http://cache:6379")
    with pytest.raises(ValueError, match="limits_redis_url"):
        Settings(workspace=tmp_path, limits_redis_url="redis://:changeme@cache:6379/0")


def test_a_redis_that_stops_and_comes_back_is_counted_in_again(tmp_path):
    """A Redis of the test's own is stopped: the process counts alone; it is started
    again: once the pause is over (5 s on the process's clock), the counts go to it again."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed here (make test installs it)")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)

    def start() -> subprocess.Popen[bytes]:
        args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                client.ping()
                return process
            time.sleep(0.05)
        process.kill()
        pytest.fail("the test's Redis did not start")

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        process.wait(10)

    now = [0.0]
    counts = RedisCounts(url, "comes back", clock=lambda: now[0])
    lockout = Lockout(10, window=60, lock=30, counts=counts)
    process = start()
    try:
        lockout.failed("user:ann")
        assert len(list(client.scan_iter("audiencehub:*"))) == 1  # counted in Redis
        stop(process)
        assert lockout.failed("user:ann") == []  # counted alone, not refused
        process = start()  # an empty Redis: it kept nothing
        lockout.failed("user:ann")
        assert list(client.scan_iter("audiencehub:*")) == []  # still alone, for a moment
        now[0] += 5
        lockout.failed("user:ann")
        assert len(list(client.scan_iter("audiencehub:*"))) == 1  # shared again
    finally:
        stop(process)
