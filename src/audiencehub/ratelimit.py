"""Request rate limits and login lockouts, in the memory of one server process.

A :class:`RateLimiter` keeps a token bucket per key (an API token's digest): a steady
rate with a burst allowance; an :class:`AddressLimit` keeps one per client address,
except for the networks trusted to call as often as they need. A :class:`Lockout` counts
failed logins per key (a client id, an address) in a sliding window and locks the key
for a while once there are too many. All forget the least recently seen keys beyond a
bound, so a flood of new keys cannot exhaust memory. Each server process keeps its own
counts: with N processes behind a balancer, the effective limit is N times the setting.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from ipaddress import ip_address, ip_network

__all__ = ["AddressLimit", "Lockout", "RateLimiter"]

_MAX_KEYS = 10_000


class RateLimiter:
    """``per_minute`` requests a minute per key on average, ``burst`` of them at once."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        self._rate, self._burst = per_minute / 60.0, float(burst)
        self._clock, self._max_keys = clock, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> int:
        """Take one request for ``key``: 0 when allowed, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            tokens, seen = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - seen) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return 0 if allowed else max(1, math.ceil((1.0 - tokens) / self._rate))


class AddressLimit:
    """``per_minute`` requests a minute per client address (a tenth of them at once), none
    for addresses in ``unlimited`` (networks such as ``10.0.0.0/8``): a server of one's own
    that calls for many people, such as campaign's tracking server syncing declared IDs."""

    def __init__(
        self,
        per_minute: int,
        unlimited: Sequence[str] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = RateLimiter(per_minute, burst=max(1, per_minute // 10), clock=clock)
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
    """``failures`` failed attempts within ``window`` seconds lock a key for ``lock`` seconds."""

    def __init__(
        self,
        failures: int,
        window: float,
        lock: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        self._failures, self._window, self._lock_for = failures, window, lock
        self._clock, self._max_keys = clock, max_keys
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, *keys: str) -> int:
        """Seconds until the last of ``keys`` is unlocked (0: none is locked)."""
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

    @property
    def lock_seconds(self) -> float:
        """How long a key stays locked."""
        return self._lock_for

    def failed(self, *keys: str) -> list[str]:
        """Count a failed attempt against every key; lock those that reach the limit, and
        answer which they are."""
        locked: list[str] = []
        with self._lock:
            now = self._clock()
            for key in keys:
                attempts = self._attempts.pop(key, deque())
                attempts.append(now)
                while attempts and attempts[0] <= now - self._window:
                    attempts.popleft()
                if len(attempts) >= self._failures:
                    self._locked[key] = now + self._lock_for
                    locked.append(key)
                    attempts.clear()
                self._attempts[key] = attempts
            while len(self._attempts) > self._max_keys:
                self._attempts.popitem(last=False)
            if len(self._locked) > self._max_keys:
                for key in [k for k, until in self._locked.items() if until <= now]:
                    del self._locked[key]
        return locked

    def succeeded(self, *keys: str) -> None:
        """A successful attempt forgets the earlier failures of its keys."""
        with self._lock:
            for key in keys:
                self._attempts.pop(key, None)
