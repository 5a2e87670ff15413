"""One inbound batch checked by set operations: IDs checked and resolved, every receipt
counter counted in SQL.

The batch's parsed lines (:mod:`audiencehub.people.inbound_rows`) go through the
reference's steps in the same order as before, as relations instead of loops:
a line that breaks the format, has an invalid ID, is one too many for its user
or names an ID the service has not seen is counted and kept out; every other
line is ``matched`` to its user, and what it does to the lake is worked out by
:mod:`audiencehub.people.inbound_effects`. Every relation here lives in the job's
bulk session, DuckDB's or Spark's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from sqlalchemy import Connection

from audiencehub.engines.identifiers import visitor_valid
from audiencehub.engines.session import BatchSession, sql_text, streamed
from audiencehub.errors import InvalidInput
from audiencehub.formats.inbound import MAX_LINES_PER_USER
from audiencehub.people.data_sources import GLOBAL_DATA_SOURCES, check_device_id
from audiencehub.people.graph import create_users, touch_users
from audiencehub.people.inbound_rows import line_place
from audiencehub.people.lake import LakeTables
from audiencehub.people.receipts import Receipt

__all__ = [
    "COUNTED",
    "CROWDED",
    "FOREIGN",
    "NOT_VISITOR",
    "NO_TRAIT",
    "UNSEEN",
    "Target",
    "classify",
    "count_receipt",
    "fill_receipt",
    "known_users",
    "resolve_users",
]

#: what the lines that reach the ID checks and the matching say (UNSEEN after the
#: line's ID, FOREIGN after the count of the other source's traits)
CROWDED = f"more than {MAX_LINES_PER_USER} lines for one user ID"
NOT_VISITOR = "the user ID is not a 38-digit visitor ID"
UNSEEN = " is not a visitor ID the service has seen"
FOREIGN = " trait(s) of another data source"
NO_TRAIT = "no trait of the row exists"

#: the receipt's counters that a batch's lines give (the lines received aside)
COUNTED = (
    "format_errors",
    "invalid_ids",
    "no_matching_id",
    "realized_traits",
    "removed_traits",
    "traits_failed_validation",
    "users_failed_validation",
    "total_signals",
    "unused_signals",
    "stored_records",
    "total_devices",
    "no_trait_realized",
)


@dataclass(frozen=True)
class Target:
    """What a batch's lines name: IDs of one namespace, traits and signals of one source."""

    namespace: int
    device: bool
    source: int  # the data source whose traits and signals the lines realise
    overwrite: bool


def _id_problems(session: BatchSession, namespace: int) -> None:
    """``id_problems(user_id, problem)``: the IDs a global data source's format refuses
    (checked in Python, by the data source's own rules)."""
    found: dict[str, str] = {}
    for (value,) in streamed(session, "SELECT DISTINCT user_id FROM in_lines WHERE error IS NULL"):
        try:
            check_device_id(namespace, value)
        except InvalidInput as exc:
            found[value] = exc.message
    session.keep(
        "id_problems",
        pa.table(
            {
                "user_id": pa.array(list(found), pa.string()),
                "problem": pa.array(list(found.values()), pa.string()),
            }
        ),
    )


def classify(session: BatchSession, target: Target) -> None:
    """``line_problems(k, rank, counter, message)`` with the lines that break the format or
    (for a global data source) whose ID has not its documented form."""
    session.create_table(
        "line_problems",
        "SELECT k, 0 AS rank, 'format_errors' AS counter, error AS message "
        "FROM in_lines WHERE error IS NOT NULL",
    )
    if not target.device and target.namespace in GLOBAL_DATA_SOURCES:
        _id_problems(session, target.namespace)
        session.insert(
            "line_problems",
            "SELECT l.k, 0, 'invalid_ids', p.problem "
            "FROM in_lines l JOIN id_problems p ON p.user_id = l.user_id WHERE l.error IS NULL",
        )


def known_users(session: BatchSession, namespace: int, tables: LakeTables) -> None:
    """``known(external_id, uid)``: the namespace's users, from the lake's copy of the
    graph (:func:`~audiencehub.people.lake.sync_users`)."""
    session.create_view(
        "known",
        f"SELECT external_id, id AS uid FROM {tables.graph_users} WHERE ns = {int(namespace)}",
    )


def resolve_users(
    connection: Connection, session: BatchSession, target: Target, now: datetime
) -> None:
    """``matched(k, uid)``: the lines whose user is known, within the per-user limit.

    For a customer-ID source the unknown IDs are created (in ``connection``'s
    transaction) and the known ones marked seen, as the graph records activity for
    retention. Visitor IDs must be known already: the others are counted, as invalid
    IDs when they are not visitor IDs at all (a known visitor ID always is one).
    """
    sql = session.dialect
    invalid = (
        "AND NOT EXISTS (SELECT 1 FROM id_problems p WHERE p.user_id = l.user_id)"
        if not target.device and target.namespace in GLOBAL_DATA_SOURCES
        else ""
    )
    # On Spark each line's place among its user's lines is numbered in the ID join: the
    # join's exchange has put the lines of an ID together already, and a grouping of its
    # own was one more shuffle of every line (12 s to 13 s at ten million). An ID names
    # one user of the namespace, so the lines of a user are those of its ID.
    place, kept_place = (
        (", row_number() OVER (PARTITION BY l.user_id ORDER BY l.k) AS place", ", r.place")
        if sql.spark
        else ("", "")
    )
    session.create_table(  # the ID's text only where no user has it: the rest is a copy
        "resolved",  # of every line's ID, which at ten million lines would spill
        f"SELECT l.k, CASE WHEN u.uid IS NULL THEN l.user_id END AS user_id, u.uid{place} "
        "FROM in_lines l "
        f"LEFT JOIN known u ON u.external_id = l.user_id WHERE l.error IS NULL {invalid}",
    )
    resolved = "resolved"
    if not target.device:
        missing = [
            user_id
            for (user_id,) in streamed(
                session,
                "SELECT user_id FROM resolved WHERE uid IS NULL GROUP BY user_id ORDER BY min(k)",
            )
        ]
        seen = streamed(session, "SELECT DISTINCT uid FROM resolved WHERE uid IS NOT NULL")
        touch_users(connection, (uid for (uid,) in seen), now)
        created = create_users(connection, target.namespace, missing, now)
        if created:
            session.keep(
                "created_users",
                pa.table(
                    {
                        "external_id": pa.array(list(created), pa.string()),
                        "uid": pa.array(list(created.values()), pa.int64()),
                    }
                ),
            )
            session.create_table(
                "resolved_all",
                f"SELECT r.k, r.user_id, coalesce(r.uid, c.uid) AS uid{kept_place} "
                "FROM resolved r "
                "LEFT JOIN created_users c ON r.uid IS NULL AND c.external_id = r.user_id",
            )
            resolved = "resolved_all"
    # an unknown ID that is not a visitor ID at all
    check = f"NOT {visitor_valid('user_id', sql)}" if target.device else "false"
    limit = MAX_LINES_PER_USER
    crowded_said, not_visitor, unseen = map(sql_text, (CROWDED, NOT_VISITOR, UNSEEN))
    session.create_table(
        "unmatched", f"SELECT k, user_id, {check} AS invalid FROM {resolved} WHERE uid IS NULL"
    )
    session.create_table(
        "crowded_keys",
        f"SELECT k FROM {resolved} WHERE place > {limit} AND (uid IS NOT NULL OR NOT ({check}))"
        if sql.spark
        else f"""
        SELECT k FROM (
            SELECT k, row_number() OVER (PARTITION BY uid ORDER BY k) AS place FROM {resolved}
            WHERE uid IN (SELECT uid FROM {resolved} WHERE uid IS NOT NULL
                          GROUP BY uid HAVING count(*) > {limit})
            UNION ALL
            SELECT k, row_number() OVER (PARTITION BY user_id ORDER BY k) AS place
            FROM unmatched
            WHERE NOT invalid AND user_id IN (
                SELECT user_id FROM unmatched WHERE NOT invalid
                GROUP BY user_id HAVING count(*) > {limit})
        ) c WHERE place > {limit}
        """,
    )
    session.insert(
        "line_problems",
        f"""
        SELECT k, 0, 'format_errors', {crowded_said} FROM crowded_keys
        UNION ALL
        SELECT k, 0, 'invalid_ids', {not_visitor} FROM unmatched WHERE invalid
        UNION ALL
        SELECT k, 0, 'no_matching_id', user_id || {unseen} FROM unmatched u
        WHERE NOT invalid AND NOT EXISTS (SELECT 1 FROM crowded_keys c WHERE c.k = u.k)
        """,
    )
    [(crowded,)] = session.rows("SELECT count(*) FROM crowded_keys")
    session.create_table(  # no user over the limit (the rule): no anti-join of every line
        "matched",
        f"SELECT k, uid FROM {resolved} r WHERE uid IS NOT NULL"
        + (" AND NOT EXISTS (SELECT 1 FROM crowded_keys c WHERE c.k = r.k)" if crowded else ""),
    )
    for name in ("unmatched", "crowded_keys", "resolved_all", "resolved"):
        session.drop(name)


def count_receipt(
    session: BatchSession,
    target: Target,
    receipt: Receipt,
    files: list[str],
) -> None:
    """Fill the receipt's counters and first reasons from the matched lines (the lines
    received are counted already: ``in_lines`` may be gone)."""
    sync = "false" if target.overwrite else "true"
    session.create_table(
        "line_counts",
        f"""
        SELECT m.k, m.uid,
               coalesce(r.n_realize, 0) AS n_realize, coalesce(r.n_remove, 0) AS n_remove,
               coalesce(r.added, 0) AS added, coalesce(r.dropped, 0) AS dropped,
               coalesce(r.failed, 0) AS failed,
               coalesce(p.n_pairs, 0) AS n_pairs, coalesce(p.untested, 0) AS untested
        FROM matched m
        LEFT JOIN (
            SELECT k,
                   count(*) FILTER (WHERE NOT removal) AS n_realize,
                   count(*) FILTER (WHERE removal) AS n_remove,
                   count(trait_id) FILTER (WHERE NOT removal) AS added,
                   count(trait_id) FILTER (WHERE removal AND {sync}) AS dropped,
                   count(*) FILTER (WHERE foreign_ AND (NOT removal OR {sync})) AS failed
            FROM in_refs GROUP BY k
        ) r ON r.k = m.k
        LEFT JOIN (
            SELECT k, count(*) AS n_pairs, count(*) FILTER (WHERE NOT tested) AS untested
            FROM in_pairs GROUP BY k
        ) p ON p.k = m.k
        """,
    )
    session.insert(
        "line_problems",
        f"""
        SELECT k, 1, 'failed', CAST(failed AS STRING) || {sql_text(FOREIGN)}
        FROM line_counts WHERE failed > 0
        UNION ALL
        SELECT k, 2, 'no_trait', {sql_text(NO_TRAIT)}
        FROM line_counts WHERE added = 0 AND dropped = 0 AND n_pairs = 0
        """,
    )
    stored = "(added > 0 OR dropped > 0 OR n_pairs > 0)"
    [
        (
            realized,
            removed,
            failed,
            users_failed,
            signals,
            unused,
            records,
            no_trait,
        )
    ] = session.rows(
        f"""
        SELECT coalesce(sum(added), 0), coalesce(sum(dropped), 0), coalesce(sum(failed), 0),
               count(*) FILTER (WHERE failed > 0),
               coalesce(sum(n_realize + n_remove + n_pairs), 0),
               coalesce(sum(n_realize + CASE WHEN {sync} THEN n_remove ELSE 0 END
                            - added - dropped - failed + untested), 0),
               count(*) FILTER (WHERE {stored}),
               count(*) FILTER (WHERE NOT {stored})
        FROM line_counts
        """
    )
    # the users counted apart: beside other aggregates, Spark plans a count(DISTINCT) by
    # copying every row once for it and once for them (11 s at ten million lines)
    [(devices,)] = session.rows(
        f"SELECT count(*) FROM (SELECT uid FROM line_counts WHERE {stored} GROUP BY uid) d"
    )
    counters: Mapping[str, int] = dict(
        session.rows(
            "SELECT counter, count(*) FROM line_problems "
            "WHERE counter IN ('format_errors', 'invalid_ids', 'no_matching_id') GROUP BY counter"
        )
    )
    fill_receipt(
        receipt,
        {
            **{name: int(counters.get(name, 0)) for name in COUNTED[:3]},
            "realized_traits": realized,
            "removed_traits": removed,
            "traits_failed_validation": failed,
            "users_failed_validation": users_failed,
            "total_signals": signals,
            "unused_signals": unused,
            "stored_records": records,
            "total_devices": devices,
            "no_trait_realized": no_trait,
        },
    )
    for k, message in session.rows(
        "SELECT k, message FROM line_problems ORDER BY k, rank LIMIT 20"
    ):
        f, n = line_place(int(k))
        receipt.problem(n, files[f], str(message))


def fill_receipt(receipt: Receipt, counts: Mapping[str, int]) -> None:
    """Set the receipt's :data:`COUNTED` counters, every one of them, from ``counts``."""
    for name in COUNTED:
        setattr(receipt, name, int(counts[name]))
