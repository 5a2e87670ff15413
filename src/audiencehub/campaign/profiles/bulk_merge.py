"""A file merged by sets into a PostgreSQL store that already holds profiles.

The row-by-row import looks up each chunk's stored profiles, merges every row
in Python and writes each changed one back with a statement of its own: a
daily re-import of a million-profile base spent six times a bare COPY on that.
This merge reads and checks the file by columns, as the first load does
(:class:`.checked_file.CheckedFile`), then:

- reads the stored profiles the file names out of PostgreSQL into DuckDB, in
  one COPY (the file's keys go in first, in another);
- matches and merges them there, with the rules of :class:`.merging.Merger`
  written as SQL: a flag changes only on a yes or a no, an opt-out the person
  made stays against a "no" unless the file carries renewed consent,
  attributes merge by name, any other column takes the row's value;
- writes back only what changes: new profiles and their keys COPY'd (ids drawn
  in file order), changed ones COPY'd into a temporary table and applied in one
  ``UPDATE ... FROM``. A file that changes nothing writes nothing;
- hands every other row to the row import's own :func:`.store.apply_changes`,
  in file order: rows that change an email or phone (their keys are rewritten)
  or a CRM id (which a unique index guards), whose CRM id another profile
  holds, or whose key several stored profiles share. Those keys are not the
  others' (the first pass held every repeated key back), so order holds.

The outcome is the row import's, row for row: counts, profiles, keys, rejected
lines and reasons (``tests/campaign/profiles/test_bulk_merge.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow as pa
from sqlalchemy import Connection, func, select

from audiencehub.campaign.profiles.checked_file import CheckedFile
from audiencehub.campaign.profiles.columnar_check import Reject
from audiencehub.campaign.profiles.fields import ProfileField, UpsertKey
from audiencehub.campaign.profiles.key_stage import KEY_COLUMNS, KeyStage
from audiencehub.campaign.profiles.merging import FLAG_COLUMNS, UNSUBSCRIBED, CrmClaims
from audiencehub.campaign.profiles.plain_rows import attribute_column
from audiencehub.campaign.profiles.store import ChunkOutcome, keys_changed
from audiencehub.campaign.schema import profile_keys, profiles
from audiencehub.db.bulk import reserved_ids
from audiencehub.db.value_lists import one_of
from audiencehub.engines.pg_copy import copy_from_postgresql, copy_to_postgresql
from audiencehub.engines.session import sql_text

__all__ = ["BulkMerge", "merge_applies", "merge_in"]

_JOIN_MEMORY = "256MB"  # PostgreSQL's work_mem for the merge's joins (4 MB by default)
# A file whose rows are at least this share of the store's reads the whole table
_WHOLE_SHARE = 0.25
# Columns that name a profile's keys: a row that changes one is merged row by row
_KEYED = ("email", "mobile_phone")


class _Kind(NamedTuple):
    """A profile column's type as DuckDB reads it and as a PostgreSQL update table has it."""

    duckdb: str
    postgresql: str


_TEXT = _Kind("VARCHAR", "text")
_KINDS = {
    ProfileField.BIRTH_DATE: _Kind("DATE", "date"),
    **dict.fromkeys((ProfileField(flag) for flag in FLAG_COLUMNS), _Kind("BOOLEAN", "boolean")),
}


def merge_applies(connection: Connection) -> bool:
    """Whether an import now would merge by sets: PostgreSQL (SQLite imports row by row)."""
    return connection.dialect.name == "postgresql"


def _stored_rows(connection: Connection) -> int:
    """About how many profiles the store holds: the planner's estimate, or a count where
    the table was never analysed."""
    [estimate] = connection.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = 'profiles'::regclass"
    ).one()
    if estimate >= 0:
        return int(estimate)
    return int(connection.execute(select(func.count()).select_from(profiles)).scalar_one())


def _pointer(name: str) -> str:
    """The JSON pointer of a top-level member (RFC 6901), as an SQL literal."""
    return sql_text("/" + name.replace("~", "~0").replace("/", "~1"))


class BulkMerge(CheckedFile):
    """A file read and checked by columns, written as a merge with the stored profiles."""

    by_sets = 0  # rows inserted or merged by sets (the rest went row by row)

    def merge(
        self, connection: Connection, stage: KeyStage, *, resubscribe: bool
    ) -> ChunkOutcome | None:
        """Merge the checked file inside the caller's transaction; ``None``, with nothing
        written, when too many of its rows change what only the row import merges (an
        email, a phone, a CRM id): the row import streams those."""
        outcome = ChunkOutcome()
        fresh: list[int] = []
        # the joins of a million rows in memory, not in batches on disk (4 MB by default)
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{_JOIN_MEMORY}'")
        if self.fast:
            self._fetch_stored(connection)
            self._plan(resubscribe=resubscribe)
            slow = self._lines("slow")
            if self.holds_too_many(len(slow)):
                return None
            self._judge_plain(slow)
            fresh = self._lines("new")
        slow_ids = self._insert_new(connection, fresh)
        outcome.inserted += len(fresh)
        if self.fast:
            self._update_merged(connection, outcome, resubscribe=resubscribe)
        self.apply_judged(connection, stage, outcome, resubscribe=resubscribe, new_ids=slow_ids)
        return outcome

    # --- what is stored ------------------------------------------------------------

    def _claims_crm(self) -> bool:
        """Whether a row's CRM id is a claim on it (it is not the key, and is in the file)."""
        return (
            self.mapping.key is not UpsertKey.CRM_ID
            and ProfileField.CRM_ID in self.mapping.mapped_fields
        )

    def _fetch_stored(self, connection: Connection) -> None:
        """Read the stored profiles the file's keys name into DuckDB's ``stored``, and
        the holders of the CRM ids it names into ``holders``.

        A file that names a good part of the store (:data:`_WHOLE_SHARE`) reads the
        whole table in one scan: sending its keys first and joining them would cost
        more than the rows it saves.
        """
        key_column = profiles.c[self.mapping.key.column].name
        whole = self.fast >= _WHOLE_SHARE * _stored_rows(connection)
        if not whole:
            self._send_wanted(connection)
        columns = {"id": "BIGINT", "key": "VARCHAR", "old_email": "VARCHAR"}
        selects = ["id", key_column, "email"]
        for name in ("mobile_phone", "crm_id"):
            columns[f"old_{name}"] = "VARCHAR"
            selects.append(name)
        for name, kind in self._merged_columns():
            if name != ProfileField.CRM_ID.value:
                columns[f"old_{name}"] = kind.duckdb
                selects.append(f"{name}::text" if name in FLAG_COLUMNS else name)
        for flag, column in UNSUBSCRIBED.items():
            columns[f"left_{flag}"] = "BOOLEAN"
            selects.append(f"({column} IS NOT NULL)::text")
        columns["old_attributes"] = "VARCHAR"
        selects.append("attributes::text")
        copy_from_postgresql(
            connection,
            self.db,
            self.scratch,
            f"SELECT {', '.join(selects)} FROM profiles"
            + ("" if whole else f" WHERE {key_column} IN (SELECT key FROM pg_temp.wanted)"),
            "stored",
            columns,
        )
        if self._claims_crm() and whole:
            self.db.execute(
                "CREATE TABLE holders AS SELECT old_crm_id AS crm_id, id FROM stored "
                "WHERE old_crm_id IS NOT NULL"
            )
        elif self._claims_crm():
            copy_from_postgresql(
                connection,
                self.db,
                self.scratch,
                "SELECT crm_id, id FROM profiles "
                "WHERE crm_id IN (SELECT crm FROM pg_temp.wanted WHERE crm IS NOT NULL)",
                "holders",
                {"crm_id": "VARCHAR", "id": "BIGINT"},
            )
        if not whole:
            connection.exec_driver_sql("DROP TABLE pg_temp.wanted")

    def _send_wanted(self, connection: Connection) -> None:
        """COPY the keys and CRM ids of the rows the columns accepted into PostgreSQL's
        temporary ``wanted``, to read only the profiles they name."""
        crm = "crm" if self._claims_crm() else "NULL::VARCHAR"
        connection.exec_driver_sql(
            'CREATE TEMPORARY TABLE wanted (key text COLLATE "C", crm text COLLATE "C") '
            "ON COMMIT DROP"
        )
        copy_to_postgresql(
            connection,
            self.db,
            "wanted",
            ["key", "crm"],
            f"SELECT key, {crm} FROM accepted JOIN copied USING (line)",
        )
        connection.exec_driver_sql("ANALYZE pg_temp.wanted")

    # --- the plan, in DuckDB -------------------------------------------------------

    def _plan(self, *, resubscribe: bool) -> None:
        """Sort the rows the columns accepted into ``plan``: ``new``, ``merge`` (with the
        merged values, whether they change anything, and the opt-outs kept) or ``slow``."""
        mapped = self.mapping.mapped_fields
        key = "lower(email)" if self.mapping.key is UpsertKey.EMAIL else "crm_id"
        claims = self._claims_crm()
        other_holder = "h.id IS NOT NULL AND h.id IS DISTINCT FROM m.id" if claims else "false"
        crm_moves = (
            "s.old_crm_id IS NOT NULL AND s.old_crm_id IS DISTINCT FROM c.crm_id"
            if claims
            else "false"
        )
        keys_move = " OR ".join(
            f"s.old_{name} IS DISTINCT FROM c.{name}"
            for name in _KEYED
            if ProfileField(name) in mapped
        )
        merged, kept, renewed = self._merged_values(resubscribe=resubscribe)
        changes = [f"{expression} IS DISTINCT FROM s.old_{name}" for name, expression in merged]
        patch, attributes_change = self._attributes()
        items = [
            "c.line",
            "m.id",
            f"""CASE WHEN m.found > 1 OR ({other_holder}) THEN 'slow'
                     WHEN m.found = 0 THEN 'new'
                     WHEN {keys_move or "false"} OR ({crm_moves}) THEN 'slow'
                     ELSE 'merge' END AS verdict""",
            *(f"{expression} AS {name}" for name, expression in merged),
            *renewed,
            f"json_merge_patch(s.old_attributes, {patch}) AS attributes",
            f"{' OR '.join([*changes, attributes_change])} AS changed",
            f"{' + '.join(kept) or '0'} AS kept",
        ]
        self.db.execute(
            f"""
            CREATE TABLE plan AS
            WITH f AS (SELECT *, {key} AS key FROM checked JOIN copied USING (line)),
            m AS (
                SELECT f.line, count(s.id) AS found,
                       CASE WHEN count(s.id) = 1 THEN min(s.id) END AS id  -- the one match
                FROM f LEFT JOIN stored s ON s.key = f.key
                GROUP BY f.line
            )
            SELECT {", ".join(items)}
            FROM f c
            JOIN m USING (line)
            LEFT JOIN stored s ON s.id = m.id
            {"LEFT JOIN holders h ON h.crm_id = c.crm_id" if claims else ""}
            """
        )

    def _merged_columns(self) -> list[tuple[str, _Kind]]:
        """The columns a merge by sets writes (the file's, but an email or phone: a row
        that changes one goes row by row), each with its type in DuckDB and PostgreSQL:
        the stored values read, the merged values computed and the update's columns all
        follow this one list."""
        return [
            (field.value, _KINDS.get(field, _TEXT))
            for _, field in self.mapping.fields
            if field.value not in _KEYED
        ]

    def _merged_values(
        self, *, resubscribe: bool
    ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
        """(column, merged value) of each column a merge writes; the opt-outs it keeps
        (as 0 or 1); and, with ``resubscribe``, whether each opt-out the person made is
        renewed."""
        merged: list[tuple[str, str]] = []
        kept: list[str] = []
        renewed: list[str] = []
        for name, _ in self._merged_columns():
            if name not in FLAG_COLUMNS:
                merged.append((name, f"c.{name}"))
                continue
            said = f"CASE c.{name}_said WHEN 1 THEN true WHEN 2 THEN false ELSE s.old_{name} END"
            if name in UNSUBSCRIBED:
                undo = f"coalesce(s.old_{name} AND c.{name}_said = 2 AND s.left_{name}, false)"
                if resubscribe:
                    renewed.append(f"{undo} AS renew_{name}")
                else:
                    said = f"CASE WHEN {undo} THEN true ELSE {said} END"
                    kept.append(f"{undo}::int")
            merged.append((name, said))
        return merged, kept, renewed

    def _attributes(self) -> tuple[str, str]:
        """The JSON merge patch of a row's attributes (a removed one as null), and SQL
        true when it changes the stored ones."""
        names = self.mapping.attribute_names
        if not names:
            return "'{}'", "false"
        patch = ", ".join(f"{sql_text(n)}, {attribute_column(n)}" for n in names)
        changes = [
            f"CASE WHEN c.{attribute_column(n)} IS NULL "
            f"THEN json_extract(s.old_attributes, {_pointer(n)}) IS NOT NULL "
            f"ELSE coalesce(json_type(s.old_attributes, {_pointer(n)}) <> 'VARCHAR' "
            f"OR json_extract_string(s.old_attributes, {_pointer(n)}) "
            f"<> c.{attribute_column(n)}, true) END"
            for n in names
        ]
        return f"json_object({patch})", " OR ".join(changes)

    def _lines(self, verdict: str) -> list[int]:
        return [
            line
            for (line,) in self.db.execute(
                f"SELECT line FROM plan WHERE verdict = {sql_text(verdict)} ORDER BY line"
            ).fetchall()
        ]

    def _judge_plain(self, lines: list[int]) -> None:
        """The validator's verdict on plain rows the merge leaves to the row import."""
        if not lines:
            return
        self.db.register("slow_lines", pa.table({"line": pa.array(lines, pa.int64())}))
        texts = self.db.execute(
            "SELECT line, text FROM body JOIN slow_lines USING (line) ORDER BY line"
        ).fetchall()
        self.db.unregister("slow_lines")
        self.merge_one_by_one(texts)

    # --- writing -------------------------------------------------------------------

    def _insert_new(self, connection: Connection, fresh: list[int]) -> dict[str, int]:
        """COPY the new profiles (the lines ``fresh``) and their keys. Ids are drawn for
        them and for the new keys of the rows left to the row import, in file order, as
        chunk after chunk of the row import draws them; returns the latter's, by key."""
        slow_new = {line: key for key, line in self._first_new_lines(connection).items()}
        order = sorted([*fresh, *slow_new])
        id_of = dict(zip(order, reserved_ids(connection, profiles, len(order)) or (), strict=True))
        self.by_sets += len(fresh)
        if fresh:
            self.db.register(
                "fresh",
                pa.table(
                    {
                        "line": pa.array(fresh, pa.int64()),
                        "id": pa.array([id_of[line] for line in fresh], pa.int64()),
                    }
                ),
            )
            self.db.execute("CREATE TABLE fresh_ids AS SELECT * FROM fresh")
            self.db.unregister("fresh")
            columns, rows = self.profile_rows("f.id", "fresh_ids f")
            # the times as text in the COPY: changing the columns' default would lock the
            # table against readers until the import commits
            now = sql_text(datetime.now(UTC).isoformat())
            copy_to_postgresql(
                connection,
                self.db,
                profiles.name,
                [*columns, "created_at", "updated_at"],
                f"SELECT *, {now}, {now} FROM ({rows})",
            )
            if keys := self.key_rows("f.id", "fresh_ids f"):
                copy_to_postgresql(connection, self.db, profile_keys.name, KEY_COLUMNS, keys)
                keys_changed(connection)
        return {key: id_of[line] for line, key in slow_new.items()}

    def _first_new_lines(self, connection: Connection) -> dict[str, int]:
        """The line of the first row the row import will accept for each new profile
        among the rows left to it (by key): where its id is drawn, as the row import
        draws it. Of those rows, only a CRM id that belongs to another profile rejects
        a new profile's row: the claims are played through in file order, as
        :func:`.store.apply_changes` plays them (the rows merged by sets name none of
        these CRM ids, so they change no claim)."""
        changes = sorted(self.changes, key=lambda c: c.line)
        if not changes:
            return {}
        key_column = profiles.c[self.mapping.key.column]
        stored: dict[str, list[str | None]] = {}
        named = sorted({change.key for change in changes})
        for key, crm_id in connection.execute(
            select(key_column, profiles.c.crm_id).where(one_of(connection, key_column, named))
        ):
            stored.setdefault(key, []).append(crm_id)
        claims = CrmClaims(self.mapping)
        claims.read(connection, changes)
        held = {key: crm_ids[0] for key, crm_ids in stored.items()}
        first: dict[str, int] = {}
        for change in changes:
            if claims.refused(change) is not None or len(stored.get(change.key, ())) > 1:
                continue  # rejected: a profile that shares the key, or another's CRM id
            if change.key not in stored:
                first.setdefault(change.key, change.line)
            crm_id = claims.crm_id(change.values)
            claims.taken(change.key, held.get(change.key), crm_id)
            held[change.key] = crm_id
        return first

    def _update_merged(
        self, connection: Connection, outcome: ChunkOutcome, *, resubscribe: bool
    ) -> None:
        """Write the merged rows that change something, in one ``UPDATE ... FROM``."""
        [(total, changed, kept)] = self.db.execute(
            "SELECT count(*), count(*) FILTER (WHERE changed), coalesce(sum(kept), 0) "
            "FROM plan WHERE verdict = 'merge'"
        ).fetchall()
        self.by_sets += total
        outcome.updated += changed
        outcome.unchanged += total - changed
        outcome.kept_opt_outs += kept
        if not changed:
            return
        merged = self._merged_columns()
        renew = [
            flag
            for flag in UNSUBSCRIBED
            if resubscribe and ProfileField(flag) in self.mapping.mapped_fields
        ]
        columns = [
            ("id", "bigint"),
            *((name, kind.postgresql) for name, kind in merged),
            ("attributes", "json"),
            *((f"renew_{flag}", "boolean") for flag in renew),
        ]
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE merged ("
            + ", ".join(f"{name} {kind}" for name, kind in columns)
            + ") ON COMMIT DROP"
        )
        copy_to_postgresql(
            connection,
            self.db,
            "merged",
            [name for name, _ in columns],
            f"SELECT {', '.join(name for name, _ in columns)} FROM plan "
            "WHERE verdict = 'merge' AND changed ORDER BY id",
        )
        sets = [f"{name} = m.{name}" for name, _ in merged]
        sets += ["attributes = m.attributes", "updated_at = now()"]
        sets += [
            f"{UNSUBSCRIBED[flag]} = CASE WHEN m.renew_{flag} THEN NULL "
            f"ELSE p.{UNSUBSCRIBED[flag]} END"
            for flag in renew
        ]
        connection.exec_driver_sql("ANALYZE pg_temp.merged")
        connection.exec_driver_sql(
            f"UPDATE profiles p SET {', '.join(sets)} FROM pg_temp.merged m WHERE p.id = m.id"
        )
        connection.exec_driver_sql("DROP TABLE pg_temp.merged")


def merge_in(
    connection: Connection,
    load: BulkMerge,
    stage: KeyStage,
    reject: Reject,
    *,
    resubscribe: bool,
) -> ChunkOutcome | None:
    """Write a checked merge, then report its rejected rows in file order; ``None`` when
    the row import must read the file instead (:meth:`BulkMerge.merge`)."""
    outcome = load.merge(connection, stage, resubscribe=resubscribe)
    if outcome is None:
        return None
    for row in sorted(load.rejected, key=lambda r: r.line):
        reject(row)
    return outcome
