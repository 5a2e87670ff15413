"""What an inbound batch does to the lake: worked out as relations, then written.

Within the batch the last word on a user's trait wins (a line's removals after
its additions), a later line's values of a key replace an earlier one's, an
overwrite file states the user's traits of the source whole, and rule traits
follow the key-values. :func:`work_out_effects` makes the relations in the
job's bulk session (DuckDB, or Spark, whose results DuckDB reads as Parquet)
from the lines :mod:`audiencehub.people.inbound_batch` matched; only
:func:`apply_effects` writes, in the lake's one DuckDB transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from audiencehub.engines.session import (
    BatchSession,
    create_in_parts,
    part_of,
    parts_for,
    streamed,
)
from audiencehub.people.inbound_batch import Target
from audiencehub.people.lake import LakeTables
from audiencehub.people.trait_index import TraitIndex

__all__ = ["Effects", "apply_effects", "keep_last_values", "signal_effects", "work_out_effects"]


def _add_folds(session: BatchSession, values_sql: str) -> None:
    """``folds(original, folded)``: the non-ASCII strings of ``values_sql`` case-folded by
    Python (``lower`` folds ASCII exactly; beyond it, ß is ss and ﬁ is fi)."""
    sql = session.dialect
    originals = [
        value
        for (value,) in streamed(
            session,
            f"SELECT DISTINCT v FROM ({values_sql}) t(v) "
            f"WHERE v IS NOT NULL AND {sql.byte_length('v')} <> length(v)",
        )
    ]
    session.keep(
        "folds",
        pa.table(
            {
                "original": pa.array(originals, pa.string()),
                "folded": pa.array([o.casefold() for o in originals], pa.string()),
            }
        ),
    )


def _rule_conditions(session: BatchSession, index: TraitIndex) -> None:
    """``rule_conditions(trait_id, key_f, value_f)``: what each rule trait needs, folded."""
    conditions = {
        (trait_id, key.casefold(), value.casefold())
        for trait_id, rule in index.rules.items()
        for key, value in rule.items()
    }
    session.keep(
        "rule_conditions",
        pa.table(
            {
                "trait_id": pa.array([c[0] for c in conditions], pa.int32()),
                "key_f": pa.array([c[1] for c in conditions], pa.string()),
                "value_f": pa.array([c[2] for c in conditions], pa.string()),
            }
        ),
    )


@dataclass(frozen=True)
class Effects:
    """What a batch changes, as relations of the session that worked it out."""

    signals: bool  # whether any user's key-values change
    rules: bool  # whether rule traits were worked out (``rule_holds``, ``rule_users``)


# bytes of memory limit per value DuckDB gathers into lists in one statement: a list
# aggregate's state does not spill, and 9 million groups overran a 1 GB limit
_BYTES_PER_VALUE = 1_000


def _new_signals(session: BatchSession) -> None:
    """``new_signals(user_id, key, value_list)`` from ``last_values``: in DuckDB a part of
    the users at a time, so the lists of a batch of any size fit in the memory limit
    (Spark's aggregates spill: one statement)."""
    sql = session.dialect
    parts = parts_for(session, "last_values", _BYTES_PER_VALUE)
    create_in_parts(
        session,
        "new_signals",
        (
            f"SELECT user_id, key, {sql.ordered_list('value', 'pos')} AS value_list "
            f"FROM {part_of('last_values', 'hash(user_id)', part, parts)} GROUP BY user_id, key"
            for part in range(parts)
        ),
    )
    session.drop("last_values")


def work_out_effects(
    session: BatchSession, target: Target, index: TraitIndex, tables: LakeTables
) -> Effects:
    """The batch's effects, before anything is written: ``final_traits(user_id, trait_id,
    held)``, the last word of the batch on each user's trait; ``new_signals(user_id,
    key, value_list)``; and for the users whose key-values change, the rule traits
    they hold after the batch (``rule_holds``) among those a rule tests (``rule_users``
    times the rule traits: what is dropped before)."""
    sync = "false" if target.overwrite else "true"
    session.create_table(
        "final_traits",
        f"""
        SELECT m.uid AS user_id, r.trait_id,
               max(r.k * 2 + CASE WHEN r.removal THEN 1 ELSE 0 END) % 2 = 0 AS held
        FROM in_refs r JOIN matched m ON m.k = r.k
        WHERE r.trait_id IS NOT NULL AND (NOT r.removal OR {sync})
        GROUP BY m.uid, r.trait_id
        """,
    )
    keep_last_values(
        session,
        "SELECT m.uid, p.key, p.value, p.pos, p.k FROM in_pairs p JOIN matched m ON m.k = p.k",
    )
    return signal_effects(session, index, tables)


def keep_last_values(session: BatchSession, pairs: str) -> None:
    """``last_values(user_id, key, value, pos)``: of the key-values ``pairs(uid, key, value,
    pos, k)`` of the matched lines, those of each user's last line with the key."""
    session.create_table(
        "last_values",
        f"""
        SELECT uid AS user_id, key, value, pos
        FROM (
            SELECT uid, key, value, pos, k, max(k) OVER (PARTITION BY uid, key) AS last
            FROM ({pairs}) p
        ) s
        WHERE k = last
        """,
    )


def signal_effects(session: BatchSession, index: TraitIndex, tables: LakeTables) -> Effects:
    """The batch's effects once ``final_traits`` and ``last_values`` are made (see
    :func:`work_out_effects`): ``new_signals``, and the rule traits they realise."""
    sql = session.dialect
    _new_signals(session)
    [(changed,)] = session.rows("SELECT count(*) FROM new_signals")
    if not changed or not index.rules:
        return Effects(signals=bool(changed), rules=False)
    _rule_conditions(session, index)
    session.create_table(
        "after_signals",
        f"""
        SELECT s.user_id, s.key, s.value_list FROM {tables.signals} s
        WHERE s.user_id IN (SELECT user_id FROM new_signals)
          AND NOT EXISTS (SELECT 1 FROM new_signals n WHERE n.user_id = s.user_id AND n.key = s.key)
        UNION ALL SELECT user_id, key, value_list FROM new_signals
        """,
    )
    _add_folds(
        session,
        "SELECT key FROM after_signals UNION ALL "
        f"SELECT {sql.unnest('value_list')} FROM after_signals",
    )
    session.create_table(
        "rule_holds",
        f"""
        SELECT s.user_id, c.trait_id
        FROM (SELECT user_id, key, {sql.unnest("value_list")} AS value FROM after_signals) s
        LEFT JOIN folds fk ON fk.original = s.key
        LEFT JOIN folds fv ON fv.original = s.value
        JOIN rule_conditions c ON c.key_f = coalesce(fk.folded, lower(s.key))
                              AND c.value_f = coalesce(fv.folded, lower(s.value))
        JOIN (SELECT trait_id, count(*) AS needed FROM rule_conditions GROUP BY trait_id) r
          ON r.trait_id = c.trait_id
        GROUP BY s.user_id, c.trait_id, r.needed
        HAVING {sql.count_pairs("c.key_f", "c.value_f")} = r.needed
        """,
    )
    session.create_table("rule_users", "SELECT DISTINCT user_id FROM new_signals")
    return Effects(signals=True, rules=True)


def apply_effects(
    lake: duckdb.DuckDBPyConnection,
    effects: Effects,
    target: Target,
    index: TraitIndex,
    now: datetime,
    *,
    source: Mapping[str, str],
    add_rows: bool = True,
) -> int:
    """Write the batch's effects into the lake, in ``lake``'s open transaction; returns how
    many rule traits it realised. ``source`` names where DuckDB reads each relation
    :func:`work_out_effects` made (and ``matched``); ``add_rows``: insert the new rows
    too (else the caller registers the files another engine wrote for them)."""
    if target.overwrite and index.ids:
        ids = ", ".join(map(str, sorted(index.ids)))
        lake.execute(
            f"DELETE FROM lake.realisations USING (SELECT DISTINCT uid FROM {source['matched']}) o "
            f"WHERE realisations.user_id = o.uid AND realisations.trait_id IN ({ids})"
        )
    lake.execute(
        f"DELETE FROM lake.realisations USING {source['final_traits']} t "
        "WHERE realisations.user_id = t.user_id AND realisations.trait_id = t.trait_id"
    )
    if add_rows:
        lake.execute(
            "INSERT INTO lake.realisations SELECT user_id, trait_id, ?::TIMESTAMPTZ "
            f"FROM {source['final_traits']} WHERE held",
            [now],
        )
    if not effects.signals:
        return 0
    realised = 0
    if effects.rules:
        rule_ids = ", ".join(map(str, sorted(index.rules)))
        lake.execute(
            f"DELETE FROM lake.realisations USING {source['rule_users']} d "
            f"WHERE realisations.user_id = d.user_id AND realisations.trait_id IN ({rule_ids})"
        )
        if add_rows:
            lake.execute(
                "INSERT INTO lake.realisations SELECT user_id, trait_id, ?::TIMESTAMPTZ "
                f"FROM {source['rule_holds']}",
                [now],
            )
        [(count,)] = lake.execute(f"SELECT count(*) FROM {source['rule_holds']}").fetchall()
        realised = int(count)
    lake.execute(
        f"DELETE FROM lake.signals USING {source['new_signals']} s "
        "WHERE signals.user_id = s.user_id AND signals.key = s.key"
    )
    if add_rows:
        lake.execute(
            f"INSERT INTO lake.signals SELECT user_id, key, value_list FROM {source['new_signals']}"
        )
    return realised
