"""Sign-in attempts, for every way into either system (the pages, campaign's API
session, the people service's OAuth tokens): the lockout after failed attempts, and
the audit trail of who signed in, who was refused, what was locked (the name, the
address, or both) and who signed out.

A security team reviewing access to customer data asks who signed in, from where
and how, and whether someone tried passwords until locked out. Each system writes
that to its own trail (:mod:`audiencehub.db.audit_trail`). A sign-in's entry is
written in the transaction that opens the session or issues the token, so one is not
kept without the other; a refusal's in a transaction of its own, since the attempt's
is rolled back.

What is recorded of a refused attempt is the name tried only when it is one of the
system's users or clients: an unknown name may be a password typed in the wrong
field. Attempts refused while locked out are not recorded one by one (a flood would
fill the trail): the attempt that set the lock is, with what it locked and for how
long.

Sign-in entries name addresses, which are personal data: they are kept for
``retention`` (a year by default, ``sign_in_retention_days``), long enough to look back
on an incident, and deleted after it by the gate itself (at most once an hour, in a
sign-in's transaction), so neither system needs a job for it. Other entries stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, delete

from audiencehub.db.audit_trail import record_entry
from audiencehub.errors import InvalidCredentials, TooManyRequests
from audiencehub.ratelimit import Lockout

__all__ = ["SIGN_IN_ACTIONS", "SignInGate"]

#: the trail's actions about sign-ins
SIGN_IN_ACTIONS = ("signed in", "sign-in refused", "sign-ins locked", "signed out")

T = TypeVar("T")
_PRUNE_SECONDS = 3600.0  # how often a process deletes the sign-ins past their retention


@dataclass(frozen=True)
class SignInGate:
    """How one system's sign-ins are locked out and recorded.

    ``actor(connection, name)`` answers how the trail names the user or client
    ``name`` (None when there is none); ``noun`` is what a name is (``user``,
    ``client``), for the lockout's keys. ``lock_names``: failures lock the name as well
    as the address. That stops a password being guessed from many addresses, at the cost
    of letting anyone lock a user out for a while; a secret of 256 random bits cannot
    be guessed, so where the secrets are such (API clients) only the address is locked,
    and nobody can lock a partner out by sending its client id with wrong secrets.
    """

    engine: Engine
    trail: Table
    logins: Lockout
    actor: Callable[[Connection, str], str | None]
    noun: str
    retention: timedelta = timedelta(days=365)
    lock_names: bool = True
    _pruned: list[float] = field(
        default_factory=lambda: [-_PRUNE_SECONDS], init=False, repr=False, compare=False
    )

    def attempt(self, name: str, address: str, via: str, sign_in: Callable[[Connection], T]) -> T:
        """What ``sign_in`` answers for ``name``'s attempt from ``address`` through ``via``
        (the pages, the API), in one transaction with the entry that records it.

        Raises :class:`TooManyRequests` while the name or the address is locked out, and
        the :class:`InvalidCredentials` of a refused attempt once it is counted and
        recorded.
        """
        keys = [f"{self.noun}:{name}"] if self.lock_names else []
        keys.append(f"address:{address}")
        wait = self.logins.locked(*keys)
        if wait:
            raise TooManyRequests("too many failed sign-ins; try again later", retry_after=wait)
        try:
            with self.engine.begin() as connection:
                answer = sign_in(connection)
                self._record(connection, "signed in", name, address, via)
                self._prune(connection)
        except InvalidCredentials:
            locked = self.logins.failed(*keys)
            self._refused(name, address, via, locked)
            raise
        self.logins.succeeded(*keys)
        return answer

    def sign_out(self, address: str, via: str, end: Callable[[Connection], str | None]) -> None:
        """End a session (``end`` answers the name of its user or client, None when there
        was none) and record who signed out, in one transaction."""
        with self.engine.begin() as connection:
            name = end(connection)
            if name is not None:
                self._record(connection, "signed out", name, address, via)

    def _record(
        self, connection: Connection, action: str, name: str, address: str, via: str
    ) -> None:
        """Write that ``name`` (proved: the trail names it as the system does) did ``action``."""
        actor = self.actor(connection, name) or f"{self.noun} {name}"
        details = {"via": via, "address": address}
        record_entry(connection, self.trail, action, details, actor=actor)

    def _prune(self, connection: Connection) -> None:
        """Delete the sign-in entries older than the retention, at most once an hour."""
        now = time.monotonic()
        if now - self._pruned[0] < _PRUNE_SECONDS:
            return
        self._pruned[0] = now
        cutoff = datetime.now(UTC) - self.retention
        connection.execute(
            delete(self.trail).where(
                self.trail.c.action.in_(SIGN_IN_ACTIONS), self.trail.c.at < cutoff
            )
        )

    def _refused(self, name: str, address: str, via: str, locked: list[str]) -> None:
        with self.engine.begin() as connection:
            details: dict[str, Any] = {
                "as": self.actor(connection, name) or f"an unknown {self.noun} name",
                "via": via,
                "address": address,
            }
            action = "sign-in refused"
            if locked:
                action = "sign-ins locked"
                details["locked"] = [key.partition(":")[0] for key in locked]
                details["for_seconds"] = self.logins.lock_seconds
            record_entry(connection, self.trail, action, details, actor=f"someone at {address}")
