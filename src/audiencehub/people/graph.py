"""The ID graph: users (visitor IDs and customer IDs), the links between them, opt-outs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from sqlalchemy import Connection, Engine, and_, delete, select, update

from audiencehub.db.bulk import bulk_insert, inserted_rowids, upsert
from audiencehub.db.value_lists import value_list
from audiencehub.identity.declared import AuthState
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.lake import commit, writing
from audiencehub.people.schema import data_sources, id_links, opt_outs, users

__all__ = [
    "apply_retention",
    "create_users",
    "ensure_users",
    "find_users",
    "forget_bulk_state",
    "link",
    "opt_out",
    "touch_users",
    "visitor_for_declared",
]

# ids a statement looks up at once; each chunk is one parameter (see db.value_lists),
# so the statement compiles once instead of once per chunk with 5,000 placeholders
_LOOKUP_BATCH = 50_000


def find_users(
    connection: Connection, namespace: int, external_ids: Iterable[str]
) -> dict[str, int]:
    """The user ids of the known ``external_ids`` in ``namespace``."""
    wanted = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        chunk = pa.array(wanted[start : start + _LOOKUP_BATCH], pa.string())
        rows = connection.execute(
            select(users.c.external_id, users.c.id).where(
                users.c.data_source_id == namespace,
                users.c.external_id.in_(value_list(connection, chunk)),
            )
        )
        found.update((external, user_id) for external, user_id in rows)
    return found


def ensure_users(
    connection: Connection, namespace: int, external_ids: Iterable[str], now: datetime | None = None
) -> dict[str, int]:
    """User ids for ``external_ids`` in ``namespace``, creating the unknown ones."""
    wanted = list(dict.fromkeys(external_ids))
    found = find_users(connection, namespace, wanted)
    found.update(create_users(connection, namespace, [e for e in wanted if e not in found], now))
    return found


def create_users(
    connection: Connection, namespace: int, missing: list[str], now: datetime | None = None
) -> dict[str, int]:
    """Create users known not to exist yet, seen ``now``; returns their ids."""
    found: dict[str, int] = {}
    if missing:
        moment = now or datetime.now(UTC)
        bulk_insert(
            connection,
            users,
            ["data_source_id", "external_id"],
            [(namespace, m) for m in missing],
            constants={"created_at": moment, "last_seen": moment},
        )
        rowids = inserted_rowids(connection, len(missing))
        if rowids is None:
            found.update(find_users(connection, namespace, missing))
        else:
            found.update(zip(missing, rowids, strict=True))
    return found


def touch_users(connection: Connection, user_ids: Iterable[int], now: datetime) -> None:
    """Record that these users were just seen (retention counts from here)."""
    ids = list(user_ids)
    for start in range(0, len(ids), _LOOKUP_BATCH):
        chunk = pa.array(ids[start : start + _LOOKUP_BATCH], pa.int64())
        connection.execute(
            update(users).where(users.c.id.in_(value_list(connection, chunk))).values(last_seen=now)
        )


def link(
    connection: Connection,
    device_user_id: int,
    customer_user_id: int,
    auth_state: AuthState,
    now: datetime,
) -> None:
    """Link a device to a customer ID; a repeated sync refreshes the state and time."""
    upsert(
        connection,
        id_links,
        [
            {
                "device_user_id": device_user_id,
                "customer_user_id": customer_user_id,
                "auth_state": int(auth_state),
                "last_seen": now,
            }
        ],
        keys=("device_user_id", "customer_user_id"),
        update=("auth_state", "last_seen"),
    )


def opt_out(connection: Connection, visitor_id: str, data_source_id: int = DEVICE_NAMESPACE) -> int:
    """Opt a visitor out of one partner's data source (or, with 0, of everything)."""
    user_id = ensure_users(connection, DEVICE_NAMESPACE, [visitor_id])[visitor_id]
    upsert(
        connection,
        opt_outs,
        [{"user_id": user_id, "data_source_id": data_source_id, "created_at": datetime.now(UTC)}],
        keys=("user_id", "data_source_id"),
    )
    return user_id


def apply_retention(connection: Connection, now: datetime | None = None) -> int:
    """Forget customer IDs inactive for longer than their data source's retention, and the
    data of every ID opted out of everything.

    Returns how many customer IDs were removed, with their links and opt-outs; their
    traits and key-values are deleted from the lake, as are those of the opted-out IDs
    (which the graph keeps, so that they stay out).
    """
    moment = now or datetime.now(UTC)
    stale: list[int] = []
    for source_id, days in connection.execute(
        select(data_sources.c.id, data_sources.c.retention_days)
    ):
        query = select(users.c.id).where(
            and_(
                users.c.data_source_id == source_id,
                users.c.last_seen < moment - timedelta(days=days),
            )
        )
        stale.extend(connection.execute(query).scalars())
    silenced = list(
        connection.execute(
            select(opt_outs.c.user_id).where(opt_outs.c.data_source_id == DEVICE_NAMESPACE)
        ).scalars()
    )
    forget_bulk_state(connection.engine, silenced, why="opt-outs")
    forget_bulk_state(connection.engine, stale, why="retention", forget_users=True)
    for start in range(0, len(stale), _LOOKUP_BATCH):
        batch = stale[start : start + _LOOKUP_BATCH]
        for table, column in (
            (id_links, id_links.c.customer_user_id),
            (opt_outs, opt_outs.c.user_id),
        ):
            connection.execute(delete(table).where(column.in_(batch)))
        connection.execute(delete(users).where(users.c.id.in_(batch)))
    return len(stale)


def forget_bulk_state(
    engine: Engine, user_ids: list[int], *, why: str, forget_users: bool = False
) -> None:
    """Delete these users' traits, key-values and memberships from the lake, as one
    snapshot (and, when the graph forgets them, the lake's copy of them)."""
    if not user_ids:
        return
    with writing(engine) as session:
        session.register("forgotten", pa.table({"user_id": pa.array(user_ids, pa.int64())}))
        session.execute("BEGIN")
        # memberships too: until the next materialisation a segment's IDs would name them
        for table in ("realisations", "signals", "memberships"):
            session.execute(
                f"DELETE FROM lake.{table} USING forgotten f WHERE {table}.user_id = f.user_id"
            )
        if forget_users:
            session.execute("DELETE FROM lake.graph_users USING forgotten f WHERE id = f.user_id")
        commit(session, f"{len(user_ids)} IDs' data deleted ({why})")


def visitor_for_declared(connection: Connection, dpid: int, declared_id: str) -> str | None:
    """The visitor ID a declared ID resolves to: of several, the most recently linked."""
    device = users.alias("device")
    customer = users.alias("customer")
    query = (
        select(device.c.external_id)
        .select_from(
            id_links.join(customer, customer.c.id == id_links.c.customer_user_id).join(
                device, device.c.id == id_links.c.device_user_id
            )
        )
        .where(customer.c.data_source_id == dpid, customer.c.external_id == declared_id)
        .order_by(id_links.c.last_seen.desc(), device.c.id.desc())
        .limit(1)
    )
    found = connection.execute(query).scalar()
    return str(found) if found is not None else None
