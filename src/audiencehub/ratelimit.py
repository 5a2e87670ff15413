"""Request rate limits and login lockouts, counted by one server process or shared by all.

A :class:`RateLimiter` keeps a token bucket per key (an API token's digest): a steady
rate with a burst allowance; an :class:`AddressLimit` keeps one per client address,
except for the networks trusted to call as often as they need. A :class:`Lockout` counts
failed logins per key (a client id, an address) in a sliding window and locks the key
for a while once there are too many.

Where they count (:class:`Counts`): by default in the memory of the server process
(:class:`MemoryCounts`), which forgets the least recently seen keys beyond a bound, so
a flood of new keys cannot exhaust memory; with N processes behind a balancer the
effective limit is then N times the setting, and a password guesser gets N times the
attempts. With ``limits_redis_url`` set, every process counts in one Redis
(:class:`~audiencehub.redis_counts.RedisCounts`), so a limit holds across workers and
hosts. Should Redis stop answering, each process counts in its own memory until it
answers again, and says so in its log (and asks Redis again a few seconds later):
limits that refused every request while a cache is down would be an outage of their
own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from ipaddress import ip_address, ip_network
from typing import Protocol

__all__ = [
    "AddressLimit",
    "Counts",
    "Lockout",
    "MemoryCounts",
    "RateLimiter",
]

_MAX_KEYS = 10_000


class Counts(Protocol):
    """Where limits keep their counts; every operation is atomic per key."""

    def take(self, key: str, rate: float, burst: float) -> int:
        """Take one token from the bucket ``key`` (``rate`` tokens a second, at most
        ``burst`` kept): 0 when there was one, else the seconds until there is."""
        ...

    def locked(self, keys: Sequence[str]) -> int:
        """Seconds until the last of ``keys`` is unlocked (0: none is locked)."""
        ...

    def fail(self, keys: Sequence[str], failures: int, window: float, lock: float) -> list[str]:
        """Count a failure against each key; lock for ``lock`` seconds those with
        ``failures`` within ``window`` seconds, and answer which they are."""
        ...

    def forget(self, keys: Sequence[str]) -> None:
        """Forget the failures counted against ``keys``."""
        ...


class MemoryCounts:
    """Counts in this process's memory, the least recently seen keys beyond
    ``max_keys`` forgotten."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = _MAX_KEYS
    ) -> None:
        self._clock, self._max_keys = clock, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: float) -> int:
        with self._lock:
            now = self._clock()
            tokens, seen = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - seen) * rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return 0 if allowed else max(1, math.ceil((1.0 - tokens) / rate))

    def locked(self, keys: Sequence[str]) -> int:
        with self._lock:
            now = self._clock()
            left = 0.0
            for key in keys:
                until = self._locked.get(key)
                if until is not None and until <= now:
                    del self._locked[key]
                elif until is not None:
                    left = max(left, until - now)
            return math.ceil(left)

    def fail(self, keys: Sequence[str], failures: int, window: float, lock: float) -> list[str]:
        locked: list[str] = []
        with self._lock:
            now = self._clock()
            for key in keys:
                attempts = self._attempts.pop(key, deque())
                attempts.append(now)
                while attempts and attempts[0] <= now - window:
                    attempts.popleft()
                if len(attempts) >= failures:
                    self._locked[key] = now + lock
                    locked.append(key)
                    attempts.clear()
                self._attempts[key] = attempts
            while len(self._attempts) > self._max_keys:
                self._attempts.popitem(last=False)
            if len(self._locked) > self._max_keys:
                for key in [k for k, until in self._locked.items() if until <= now]:
                    del self._locked[key]
        return locked

    def forget(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._attempts.pop(key, None)


class RateLimiter:
    """``per_minute`` requests a minute per key on average, ``burst`` of them at once (a
    tenth of them unless told), counted in ``counts`` (under ``name``) or in this process."""

    def __init__(
        self,
        per_minute: int,
        burst: int | None = None,
        *,
        name: str = "requests",
        counts: Counts | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        burst = max(1, per_minute // 10) if burst is None else burst
        self._rate, self._burst, self._name = per_minute / 60.0, float(burst), name
        self._counts = counts or MemoryCounts(clock=clock, max_keys=max_keys)

    def wait(self, key: str) -> int:
        """Take one request for ``key``: 0 when allowed, else the seconds to wait."""
        return self._counts.take(f"{self._name}:{key}", self._rate, self._burst)


class AddressLimit:
    """``per_minute`` requests a minute per client address (a tenth of them at once), none
    for addresses in ``unlimited`` (networks such as ``10.0.0.0/8``): a server of one's own
    that calls for many people, such as campaign's tracking server syncing declared IDs."""

    def __init__(
        self,
        per_minute: int,
        unlimited: Sequence[str] = (),
        *,
        name: str = "addresses",
        counts: Counts | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = RateLimiter(per_minute, name=name, counts=counts, clock=clock)
        self._unlimited = [ip_network(network, strict=False) for network in unlimited]

    def wait(self, address: str | None) -> int:
        """Take one request from ``address``: 0 when allowed, else the seconds to wait. A
        request whose address is unknown (no socket, as in tests) counts as one address."""
        try:
            parsed = ip_address(address or "")
        except ValueError:
            return self._limiter.wait(f"address:{address or ''}")
        if any(parsed in network for network in self._unlimited):
            return 0
        return self._limiter.wait(f"address:{parsed}")


class Lockout:
    """``failures`` failed attempts within ``window`` seconds lock a key for ``lock``
    seconds, counted in ``counts`` (under ``name``) or in this process."""

    def __init__(
        self,
        failures: int,
        window: float,
        lock: float,
        *,
        name: str = "logins",
        counts: Counts | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        self._failures, self._window, self._lock_for = failures, window, lock
        self._name = name
        self._counts = counts or MemoryCounts(clock=clock, max_keys=max_keys)

    @property
    def lock_seconds(self) -> float:
        """How long a key stays locked."""
        return self._lock_for

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [f"{self._name}:{key}" for key in keys]

    def locked(self, *keys: str) -> int:
        """Seconds until the last of ``keys`` is unlocked (0: none is locked)."""
        return self._counts.locked(self._keys(keys))

    def failed(self, *keys: str) -> list[str]:
        """Count a failed attempt against every key; lock those that reach the limit, and
        answer which they are."""
        named = dict(zip(self._keys(keys), keys, strict=True))
        locked = self._counts.fail(list(named), self._failures, self._window, self._lock_for)
        return [named[key] for key in locked]

    def succeeded(self, *keys: str) -> None:
        """A successful attempt forgets the earlier failures of its keys."""
        self._counts.forget(self._keys(keys))
