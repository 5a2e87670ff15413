"""Limits and lockouts counted in Redis, shared by every server process (the ``redis``
extra, used when ``limits_redis_url`` is set; see :mod:`audiencehub.ratelimit`).

Token buckets and failure windows are Lua scripts, each atomic and on Redis's own
clock, so no two processes disagree about time. Should Redis stop answering, the
process counts in its own memory for a few seconds, says so, and asks again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from audiencehub.errors import ConfigurationError
from audiencehub.ratelimit import MemoryCounts

if TYPE_CHECKING:
    import redis

__all__ = ["RedisCounts", "shared_counts"]

# after Redis fails to answer, how long a process counts alone before it asks again: a
# Redis that times out would otherwise add its timeout to every request
_RETRY_SECONDS = 5.0
_log = logging.getLogger(__name__)

# Each script reads Redis's own clock, so every process counts on the same one.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'seen')
local tokens = tonumber(state[1]) or burst
local seen = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - seen) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((1 - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'seen', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return wait
"""
_FAIL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RedisCounts:
    """Counts shared by every process through the Redis at ``url``, under ``scope`` (one
    workspace's app: two workspaces may share a Redis). Scope and key are kept as their
    digests: the Redis holds no user name, address or database URL, and a key's length
    is bounded."""

    def __init__(
        self,
        url: str,
        scope: str,
        *,
        timeout: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "limits_redis_url is set, and the Redis client is not installed",
                hint="Install the redis extra (pip install 'audiencehub[redis]'), or unset "
                "limits_redis_url to count limits in each server process.",
            ) from None
        self._redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._scope = hashlib.sha256(scope.encode()).hexdigest()[:16]
        self._take = self._redis.register_script(_TAKE)
        self._fail = self._redis.register_script(_FAIL)
        self._fallback = MemoryCounts()
        self._clock = clock
        self._warned = self._down_until = -math.inf
        self._warn_lock = threading.Lock()

    def _key(self, kind: str, key: str) -> str:
        return f"audiencehub:{self._scope}:{kind}:{hashlib.sha256(key.encode()).hexdigest()}"

    def _down(self) -> bool:
        """Whether Redis failed to answer a moment ago (this process counts alone)."""
        return self._clock() < self._down_until

    def _unreachable(self, error: Exception) -> None:
        """Count alone for a few seconds, and say so once a minute at most (the URL is not
        said: it may hold a password)."""
        with self._warn_lock:
            now = self._clock()
            self._down_until = now + _RETRY_SECONDS
            if now - self._warned < 60:
                return
            self._warned = now
        _log.warning(
            "the Redis of limits_redis_url does not answer (%s); this process counts "
            "limits and lockouts in its own memory until it does",
            type(error).__name__,
        )

    def take(self, key: str, rate: float, burst: float) -> int:
        refill_ms = math.ceil(burst / rate * 1000) + 1000  # a full bucket is no state
        if self._down():
            return self._fallback.take(key, rate, burst)
        try:
            answer: Any = self._take(keys=[self._key("bucket", key)], args=[rate, burst, refill_ms])
        except self._errors as error:
            self._unreachable(error)
            return self._fallback.take(key, rate, burst)
        return int(answer)

    def locked(self, keys: Sequence[str]) -> int:
        if self._down():
            return self._fallback.locked(keys)
        try:
            left = [self._redis.pttl(self._key("lock", key)) for key in keys]
        except self._errors as error:
            self._unreachable(error)
            return self._fallback.locked(keys)
        return math.ceil(max([0, *(int(ms) for ms in left)]) / 1000)

    def fail(self, keys: Sequence[str], failures: int, window: float, lock: float) -> list[str]:
        window_ms, lock_ms = math.ceil(window * 1000), math.ceil(lock * 1000)
        if self._down():
            return self._fallback.fail(keys, failures, window, lock)
        try:
            return [
                key
                for key in keys
                if self._fail(
                    keys=[self._key("attempts", key), self._key("lock", key)],
                    args=[failures, window_ms, lock_ms, uuid.uuid4().hex],
                )
            ]
        except self._errors as error:
            self._unreachable(error)
            return self._fallback.fail(keys, failures, window, lock)

    def forget(self, keys: Sequence[str]) -> None:
        self._fallback.forget(keys)
        if self._down():
            return
        try:
            self._redis.delete(*(self._key("attempts", key) for key in keys))
        except self._errors as error:
            self._unreachable(error)


def shared_counts(url: str | None, scope: str) -> RedisCounts | None:
    """The counts every server process of ``scope`` shares (None: each counts its own).
    The redis package (the ``redis`` extra) is needed only when ``url`` is set."""
    return RedisCounts(url, scope) if url else None
