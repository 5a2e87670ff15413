"""One inbound batch applied by set operations: IDs checked and resolved, traits and
key-values applied to the lake, every receipt counter counted in SQL.

The batch's parsed lines (:mod:`audiencehub.people.inbound_rows`) go through the
reference's steps in the same order as before, as relations instead of loops:
a line that breaks the format, has an invalid ID, is one too many for its user
or names an ID the service has not seen is counted and kept out; every other
line realises and removes traits and writes key-values. Within the batch the
last word on a user's trait wins (a line's removals after its additions), a
later line's values of a key replace an earlier one's, an overwrite file states
the user's traits of the source whole, and rule traits follow the key-values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
from sqlalchemy import Connection

from audiencehub.engines import copy_table
from audiencehub.engines.identifiers import visitor_valid
from audiencehub.errors import InvalidInput
from audiencehub.formats.inbound import MAX_LINES_PER_USER
from audiencehub.people.data_sources import GLOBAL_DATA_SOURCES, check_device_id
from audiencehub.people.graph import create_users, touch_users
from audiencehub.people.inbound_rows import TraitIndex, line_place
from audiencehub.people.receipts import Receipt

__all__ = ["Target", "apply_effects", "classify", "count_receipt", "known_users", "resolve_users"]


@dataclass(frozen=True)
class Target:
    """What a batch's lines name: IDs of one namespace, traits and signals of one source."""

    namespace: int
    device: bool
    source: int  # the data source whose traits and signals the lines realise
    overwrite: bool


def _id_problems(session: duckdb.DuckDBPyConnection, namespace: int) -> None:
    """``id_problems(user_id, problem)``: the IDs a global data source's format refuses
    (checked in Python, by the data source's own rules)."""
    found: dict[str, str] = {}
    cursor = session.execute("SELECT DISTINCT user_id FROM in_lines WHERE error IS NULL")
    while rows := cursor.fetchmany(10_000):
        for (value,) in rows:
            try:
                check_device_id(namespace, value)
            except InvalidInput as exc:
                found[value] = exc.message
    copy_table(
        session,
        "id_problems",
        pa.table(
            {
                "user_id": pa.array(list(found), pa.string()),
                "problem": pa.array(list(found.values()), pa.string()),
            }
        ),
    )


def _add_folds(session: duckdb.DuckDBPyConnection, values_sql: str) -> None:
    """Add to ``folds(original, folded)`` the non-ASCII strings of ``values_sql`` case-folded
    by Python (``lower`` folds ASCII exactly; beyond it, ß is ss and ﬁ is fi)."""
    rows = session.execute(
        f"SELECT DISTINCT v FROM ({values_sql}) t(v) "
        "WHERE v IS NOT NULL AND NOT regexp_full_match(v, '[\\x00-\\x7f]*')"
    ).fetchall()
    originals = [str(row[0]) for row in rows]
    copy_table(
        session,
        "folds",
        pa.table(
            {
                "original": pa.array(originals, pa.string()),
                "folded": pa.array([o.casefold() for o in originals], pa.string()),
            }
        ),
    )


def classify(session: duckdb.DuckDBPyConnection, target: Target) -> None:
    """``line_problems(k, rank, counter, message)`` with the lines that break the format or
    (for a global data source) whose ID has not its documented form."""
    session.execute(
        "CREATE TEMP TABLE line_problems AS "
        "SELECT k, 0 AS rank, 'format_errors' AS counter, error AS message "
        "FROM in_lines WHERE error IS NOT NULL"
    )
    if not target.device and target.namespace in GLOBAL_DATA_SOURCES:
        _id_problems(session, target.namespace)
        session.execute(
            "INSERT INTO line_problems SELECT k, 0, 'invalid_ids', p.problem "
            "FROM in_lines JOIN id_problems p USING (user_id) WHERE error IS NULL"
        )


def known_users(session: duckdb.DuckDBPyConnection, namespace: int) -> None:
    """``known(external_id, uid)``: the namespace's users, from the lake's copy of the
    graph (:func:`~audiencehub.people.lake.sync_users`) and those this batch creates."""
    session.execute(
        "CREATE TEMP TABLE created_users (external_id VARCHAR, uid BIGINT);"
        "CREATE TEMP VIEW known AS SELECT external_id, id AS uid FROM lake.graph_users "
        f"WHERE ns = {int(namespace)} UNION ALL SELECT external_id, uid FROM created_users"
    )


def resolve_users(
    connection: Connection, session: duckdb.DuckDBPyConnection, target: Target, now: datetime
) -> None:
    """``matched(k, uid)``: the lines whose user is known, within the per-user limit.

    For a customer-ID source the unknown IDs are created (in ``connection``'s
    transaction) and the known ones marked seen, as the graph records activity for
    retention. Visitor IDs must be known already: the others are counted, as invalid
    IDs when they are not visitor IDs at all (a known visitor ID always is one).
    """
    invalid = (
        "AND NOT EXISTS (SELECT 1 FROM id_problems p WHERE p.user_id = l.user_id)"
        if not target.device and target.namespace in GLOBAL_DATA_SOURCES
        else ""
    )
    session.execute(
        "CREATE TEMP TABLE resolved AS SELECT l.k, l.user_id, u.uid FROM in_lines l "
        f"LEFT JOIN known u ON u.external_id = l.user_id WHERE l.error IS NULL {invalid}"
    )
    if not target.device:
        missing = [
            row[0]
            for row in session.execute(
                "SELECT user_id FROM resolved WHERE uid IS NULL GROUP BY user_id ORDER BY min(k)"
            ).fetchall()
        ]
        seen = [
            row[0]
            for row in session.execute(
                "SELECT DISTINCT uid FROM resolved WHERE uid IS NOT NULL"
            ).fetchall()
        ]
        touch_users(connection, seen, now)
        created = create_users(connection, target.namespace, missing, now)
        if created:
            copy_table(
                session,
                "created_users",
                pa.table(
                    {
                        "external_id": pa.array(list(created), pa.string()),
                        "uid": pa.array(list(created.values()), pa.int64()),
                    }
                ),
            )
            session.execute(
                "UPDATE resolved SET uid = c.uid FROM created_users c "
                "WHERE resolved.uid IS NULL AND resolved.user_id = c.external_id"
            )
    check = (
        f"NOT {visitor_valid('user_id')}" if target.device else "false"
    )  # an unknown ID that is not a visitor ID at all
    session.execute(
        f"""
        CREATE TEMP TABLE unmatched AS
        SELECT k, user_id, {check} AS invalid FROM resolved WHERE uid IS NULL;
        CREATE TEMP TABLE crowded_keys AS
        SELECT k FROM (
            SELECT k, row_number() OVER (PARTITION BY uid ORDER BY k) AS place FROM resolved
            WHERE uid IN (SELECT uid FROM resolved WHERE uid IS NOT NULL
                          GROUP BY uid HAVING count(*) > {MAX_LINES_PER_USER})
            UNION ALL
            SELECT k, row_number() OVER (PARTITION BY user_id ORDER BY k) FROM unmatched
            WHERE NOT invalid AND user_id IN (
                SELECT user_id FROM unmatched WHERE NOT invalid
                GROUP BY user_id HAVING count(*) > {MAX_LINES_PER_USER})
        ) WHERE place > {MAX_LINES_PER_USER};
        INSERT INTO line_problems
        SELECT k, 0, 'format_errors', 'more than {MAX_LINES_PER_USER} lines for one user ID'
        FROM crowded_keys
        UNION ALL
        SELECT k, 0, 'invalid_ids', 'the user ID is not a 38-digit visitor ID'
        FROM unmatched WHERE invalid
        UNION ALL
        SELECT k, 0, 'no_matching_id', user_id || ' is not a visitor ID the service has seen'
        FROM unmatched u
        WHERE NOT invalid AND NOT EXISTS (SELECT 1 FROM crowded_keys c WHERE c.k = u.k);
        CREATE TEMP TABLE matched AS
        SELECT k, uid FROM resolved r
        WHERE uid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM crowded_keys c WHERE c.k = r.k);
        DROP TABLE unmatched; DROP TABLE crowded_keys; DROP TABLE resolved;
        """
    )


def _rule_conditions(session: duckdb.DuckDBPyConnection, index: TraitIndex) -> None:
    """``rule_conditions(trait_id, key_f, value_f)``: what each rule trait needs, folded."""
    conditions = {
        (trait_id, key.casefold(), value.casefold())
        for trait_id, rule in index.rules.items()
        for key, value in rule.items()
    }
    copy_table(
        session,
        "rule_conditions",
        pa.table(
            {
                "trait_id": pa.array([c[0] for c in conditions], pa.int32()),
                "key_f": pa.array([c[1] for c in conditions], pa.string()),
                "value_f": pa.array([c[2] for c in conditions], pa.string()),
            }
        ),
    )


def count_receipt(
    session: duckdb.DuckDBPyConnection,
    target: Target,
    receipt: Receipt,
    files: list[str],
) -> None:
    """Fill the receipt's counters and first reasons from the matched lines."""
    sync = "false" if target.overwrite else "true"
    session.execute(
        f"""
        CREATE TEMP TABLE line_counts AS
        SELECT m.k, m.uid,
               coalesce(r.n_realize, 0) AS n_realize, coalesce(r.n_remove, 0) AS n_remove,
               coalesce(r.added, 0) AS added, coalesce(r.dropped, 0) AS dropped,
               coalesce(r.failed, 0) AS failed,
               coalesce(p.n_pairs, 0) AS n_pairs, coalesce(p.untested, 0) AS untested
        FROM matched m
        LEFT JOIN (
            SELECT k,
                   count(*) FILTER (NOT removal) AS n_realize,
                   count(*) FILTER (removal) AS n_remove,
                   count(trait_id) FILTER (NOT removal) AS added,
                   count(trait_id) FILTER (removal AND {sync}) AS dropped,
                   count(*) FILTER (foreign_ AND (NOT removal OR {sync})) AS failed
            FROM in_refs GROUP BY k
        ) r USING (k)
        LEFT JOIN (
            SELECT k, count(*) AS n_pairs, count(*) FILTER (NOT tested) AS untested
            FROM in_pairs GROUP BY k
        ) p USING (k);
        INSERT INTO line_problems
        SELECT k, 1, 'failed', failed || ' trait(s) of another data source'
        FROM line_counts WHERE failed > 0
        UNION ALL
        SELECT k, 2, 'no_trait', 'no trait of the row exists'
        FROM line_counts WHERE added = 0 AND dropped = 0 AND n_pairs = 0;
        """
    )
    (
        realized,
        removed,
        failed,
        users_failed,
        signals,
        unused,
        stored,
        devices,
        no_trait,
    ) = (
        session.execute(
            f"""
        SELECT coalesce(sum(added), 0), coalesce(sum(dropped), 0), coalesce(sum(failed), 0),
               count(*) FILTER (failed > 0),
               coalesce(sum(n_realize + n_remove + n_pairs), 0),
               coalesce(sum(n_realize + CASE WHEN {sync} THEN n_remove ELSE 0 END
                            - added - dropped - failed + untested), 0),
               count(*) FILTER (added > 0 OR dropped > 0 OR n_pairs > 0),
               count(DISTINCT uid) FILTER (added > 0 OR dropped > 0 OR n_pairs > 0),
               count(*) FILTER (NOT (added > 0 OR dropped > 0 OR n_pairs > 0))
        FROM line_counts
        """
        ).fetchone()
        or (0,) * 9
    )
    counters: Mapping[str, int] = dict(
        session.execute(
            "SELECT counter, count(*) FROM line_problems "
            "WHERE counter IN ('format_errors', 'invalid_ids', 'no_matching_id') GROUP BY counter"
        ).fetchall()
    )
    [(received,)] = session.execute("SELECT count(*) FROM in_lines").fetchall()
    receipt.records_received = int(received)
    receipt.format_errors = int(counters.get("format_errors", 0))
    receipt.invalid_ids = int(counters.get("invalid_ids", 0))
    receipt.no_matching_id = int(counters.get("no_matching_id", 0))
    receipt.realized_traits = int(realized)
    receipt.removed_traits = int(removed)
    receipt.traits_failed_validation = int(failed)
    receipt.users_failed_validation = int(users_failed)
    receipt.total_signals = int(signals)
    receipt.unused_signals = int(unused)
    receipt.stored_records = int(stored)
    receipt.total_devices = int(devices)
    receipt.no_trait_realized = int(no_trait)
    for k, message in session.execute(
        "SELECT k, message FROM line_problems ORDER BY k, rank LIMIT 20"
    ).fetchall():
        f, n = line_place(int(k))
        receipt.problem(n, files[f], str(message))


def apply_effects(
    session: duckdb.DuckDBPyConnection, target: Target, index: TraitIndex, now: datetime
) -> int:
    """Write the batch's traits and key-values into the lake, in the open transaction;
    returns how many rule traits it realised."""
    sync = "false" if target.overwrite else "true"
    session.execute(
        f"""
        CREATE TEMP TABLE final_traits AS
        SELECT m.uid AS user_id, r.trait_id, max(r.k * 2 + r.removal::BIGINT) % 2 = 0 AS held
        FROM in_refs r JOIN matched m USING (k)
        WHERE r.trait_id IS NOT NULL AND (NOT r.removal OR {sync})
        GROUP BY m.uid, r.trait_id;
        CREATE TEMP TABLE new_signals AS
        SELECT uid AS user_id, key, list(value ORDER BY pos) AS value_list
        FROM (
            SELECT m.uid, p.key, p.value, p.pos, p.k,
                   max(p.k) OVER (PARTITION BY m.uid, p.key) AS last
            FROM in_pairs p JOIN matched m USING (k)
        )
        WHERE k = last
        GROUP BY uid, key;
        """
    )
    if target.overwrite and index.ids:
        ids = ", ".join(map(str, sorted(index.ids)))
        session.execute(
            "DELETE FROM lake.realisations USING (SELECT DISTINCT uid FROM matched) o "
            f"WHERE realisations.user_id = o.uid AND realisations.trait_id IN ({ids})"
        )
    session.execute(
        "DELETE FROM lake.realisations USING final_traits t "
        "WHERE realisations.user_id = t.user_id AND realisations.trait_id = t.trait_id"
    )
    session.execute(
        "INSERT INTO lake.realisations "
        "SELECT user_id, trait_id, ?::TIMESTAMPTZ FROM final_traits WHERE held",
        [now],
    )
    [(changed,)] = session.execute("SELECT count(*) FROM new_signals").fetchall()
    if not changed:
        return 0
    realised = 0
    if index.rules:
        _rule_conditions(session, index)
        realised = _rule_traits(session, now)
    session.execute(
        "DELETE FROM lake.signals USING new_signals s "
        "WHERE signals.user_id = s.user_id AND signals.key = s.key"
    )
    session.execute("INSERT INTO lake.signals SELECT user_id, key, value_list FROM new_signals")
    return realised


def _rule_traits(session: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Realise or drop the rule traits of the users whose key-values changed, by their
    key-values after this batch (read before the batch's own are written)."""
    session.execute(
        """
        CREATE TEMP TABLE after_signals AS
        SELECT s.user_id, s.key, s.value_list FROM lake.signals s
        WHERE s.user_id IN (SELECT user_id FROM new_signals)
          AND NOT EXISTS (SELECT 1 FROM new_signals n WHERE n.user_id = s.user_id AND n.key = s.key)
        UNION ALL SELECT user_id, key, value_list FROM new_signals;
        """
    )
    _add_folds(
        session,
        "SELECT key FROM after_signals UNION ALL SELECT unnest(value_list) FROM after_signals",
    )
    session.execute(
        """
        CREATE TEMP TABLE rule_holds AS
        SELECT s.user_id, c.trait_id
        FROM (SELECT user_id, key, unnest(value_list) AS value FROM after_signals) s
        LEFT JOIN folds fk ON fk.original = s.key
        LEFT JOIN folds fv ON fv.original = s.value
        JOIN rule_conditions c ON c.key_f = coalesce(fk.folded, lower(s.key))
                              AND c.value_f = coalesce(fv.folded, lower(s.value))
        JOIN (SELECT trait_id, count(*) AS needed FROM rule_conditions GROUP BY trait_id) r
          ON r.trait_id = c.trait_id
        GROUP BY s.user_id, c.trait_id, r.needed
        HAVING count(DISTINCT (c.key_f, c.value_f)) = r.needed;
        DELETE FROM lake.realisations USING (
            SELECT DISTINCT s.user_id, c.trait_id FROM new_signals s, rule_conditions c
        ) d WHERE realisations.user_id = d.user_id AND realisations.trait_id = d.trait_id;
        """
    )
    session.execute(
        "INSERT INTO lake.realisations SELECT user_id, trait_id, ?::TIMESTAMPTZ FROM rule_holds",
        [now],
    )
    [(count,)] = session.execute("SELECT count(*) FROM rule_holds").fetchall()
    return int(count)
