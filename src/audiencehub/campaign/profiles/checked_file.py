"""A checked profile file split into the rows a writer applies by sets and those merged
one by one, with the queries its writers read them by.

After :class:`.columnar_check.ColumnarCheck` has judged every line, what decides
a row's fate is the whole file: a key on several rows is merged in file order by
the row import's own :func:`.store.apply_changes`, as is every row the validator
judged; a CRM id two keys claim goes to the first claim in an empty store
(:attr:`CheckedFile.settles_claims`), or those rows to the merge. The rest is
written by sets, each new profile numbered by the line its key first stands on,
as the row import numbers them. The two writers are :mod:`.first_load` and
:mod:`.bulk_merge`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

from audiencehub.campaign.profiles.columnar_check import ColumnarCheck
from audiencehub.campaign.profiles.fields import ProfileField, UpsertKey
from audiencehub.campaign.profiles.key_stage import KeyStage
from audiencehub.campaign.profiles.merging import FLAG_COLUMNS, CrmClaims
from audiencehub.campaign.profiles.plain_rows import attribute_object
from audiencehub.campaign.profiles.rows import ProfileChange, RejectedRow
from audiencehub.campaign.profiles.store import ChunkOutcome, apply_changes
from audiencehub.engines.session import sql_text

__all__ = ["CheckedFile"]

_CHUNK_ROWS = 25_000  # rows of the row-by-row merge applied at a time, as the row import


class CheckedFile(ColumnarCheck):
    """One file read, checked and split: after :meth:`check`, the table ``copied`` names
    the lines a writer applies by sets, each with its ``ordinal`` among the new
    profiles; :attr:`changes` holds the rows for the row import's merge, in file
    order, and :attr:`rejected` the rows rejected."""

    # Whether a CRM id two keys of the file claim goes to the first claim here (an empty
    # store: no one else may hold it), or those rows to the row import's merge.
    settles_claims = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = 0  # rows COPY'd
        self.created = 0  # profiles the load creates, COPY'd or merged
        self.places: dict[str, int] = {}  # the place of each profile merged row by row

    def merge_one_by_one(self, rows: list[tuple[int, str]]) -> None:
        """Send plain rows (line number, text) the columns accepted to the row import's
        merge: the validator gives their changes, as it would row by row."""
        for line, text in rows:
            self.changes.extend(
                r
                for r in self.validator.validate_block(line, text + "\n", self.delimiter)
                if isinstance(r, ProfileChange)
            )

    def holds_too_many(self, more: int) -> bool:
        """Whether ``more`` rows for the row import's merge, on top of those held already,
        would pass :meth:`too_many` (they are held as Python objects until the write)."""
        return self.too_many(len(self.changes) + len(self.rejected) + more)

    def check(self) -> bool:
        """Read and check the file, then split it; False when it must go through the row
        import instead."""
        return super().check() and self._split()

    def _split(self) -> bool:
        """Which rows are COPY'd, which merged in file order, which lose their CRM id;
        False when too many rows must be merged one by one (:meth:`too_many`)."""
        mapping = self.mapping
        key = "lower(email)" if mapping.key is UpsertKey.EMAIL else "crm_id"
        crm = "crm_id" if "crm_id" in mapping.value_columns else "NULL::VARCHAR"
        at = mapping.value_columns.index("crm_id") if "crm_id" in mapping.value_columns else -1
        self.db.register(
            "slow",
            pa.table(
                {
                    "line": pa.array([c.line for c in self.changes], pa.int64()),
                    "key": pa.array([c.key for c in self.changes], pa.string()),
                    "crm": pa.array(
                        [
                            str(c.values[at]) if at >= 0 and c.values[at] else None
                            for c in self.changes
                        ],
                        pa.string(),
                    ),
                }
            ),
        )
        claims = mapping.key is not UpsertKey.CRM_ID and at >= 0
        # Grouped, then joined back: most keys and CRM ids stand on one row, so the groups
        # of several are few. As two windows over the file (two sorts of every row) this
        # took 0.67 s a million rows.
        repeats = "r.key IS NOT NULL"
        if claims and not self.settles_claims:
            repeats = f"{repeats} OR coalesce(c.contested, false)"
        loses = "coalesce(c.first_key <> a.key, false)"
        self.db.execute(
            f"""
            CREATE TABLE accepted AS
            WITH file_rows AS (
                SELECT line, {key} AS key, {crm} AS crm, true AS fast FROM checked WHERE plain
                UNION ALL SELECT line, key, crm, false FROM slow
            ),
            repeated AS (SELECT key FROM file_rows GROUP BY key HAVING count(*) > 1),
            claimed AS (
                SELECT crm, min(key) <> max(key) AS contested, arg_min(key, line) AS first_key
                FROM file_rows WHERE crm IS NOT NULL GROUP BY crm HAVING count(*) > 1
            )
            SELECT a.line, a.key, a.crm, a.fast,
                   {repeats} AS repeated,
                   {loses if claims and self.settles_claims else "false"} AS loses
            FROM file_rows a
            LEFT JOIN repeated r ON r.key = a.key
            LEFT JOIN claimed c ON c.crm = a.crm
            """
        )
        self.db.unregister("slow")
        [(count,)] = self.db.execute("SELECT count(*) FROM accepted WHERE loses").fetchall()
        if self.too_many(len(self.rejected) + count):
            return False  # rejected rows are held until the write: the row import streams them
        for line, crm_id in self.db.execute(
            "SELECT line, crm FROM accepted WHERE loses ORDER BY line"
        ).fetchall():
            self.rejected.append(
                RejectedRow(
                    line,
                    f"crm_id: {crm_id!r} belongs to another profile; "
                    "a CRM id identifies one profile only",
                )
            )
        losing = {
            line
            for (line,) in self.db.execute(
                "SELECT line FROM accepted WHERE loses AND NOT fast"
            ).fetchall()
        }
        self.changes = [c for c in self.changes if c.line not in losing]
        repeated = self.db.execute(
            "SELECT a.line, b.text FROM accepted a JOIN body b USING (line) "
            "WHERE a.fast AND a.repeated AND NOT a.loses ORDER BY a.line"
        ).fetchall()
        if self.too_many(len(repeated) + len(self.changes)):
            return False
        self.merge_one_by_one(repeated)
        self.changes.sort(key=lambda change: change.line)
        # Each new profile's place among them, by the line its key first stands on: its id
        # is the first one drawn plus that place, as the row import numbers them.
        # A key on one row only first stands on that row; ``copied`` marks the rows COPY'd.
        # The table is stored in that order, so a row's place is its rowid (the session
        # keeps insertion order): numbered by a window, 0.27 s a million rows, against 0.10 s.
        self.db.execute(
            """
            CREATE TABLE places AS
            SELECT key, first, copied
            FROM (
                SELECT key, line AS first, fast AS copied FROM accepted
                WHERE NOT repeated AND NOT loses
                UNION ALL
                SELECT key, min(line), false FROM accepted WHERE repeated AND NOT loses
                GROUP BY key
            )
            ORDER BY first
            """
        )
        [(self.created,)] = self.db.execute("SELECT count(*) FROM places").fetchall()
        self.places = dict(
            self.db.execute("SELECT key, rowid FROM places WHERE NOT copied").fetchall()
        )
        self.db.execute(
            "CREATE TABLE copied AS SELECT first AS line, rowid AS ordinal FROM places WHERE copied"
        )
        [(self.fast,)] = self.db.execute("SELECT count(*) FROM copied").fetchall()
        return True

    def apply_judged(
        self,
        connection: Connection,
        stage: KeyStage,
        outcome: ChunkOutcome,
        *,
        resubscribe: bool,
        new_ids: dict[str, int],
    ) -> None:
        """Merge the rows the validator judged, in file order, by the row import's own
        :func:`.store.apply_changes` a chunk at a time (``new_ids``: the id of each
        profile they create, by key), counted into ``outcome``."""
        self.changes.sort(key=lambda change: change.line)
        claims = CrmClaims(self.mapping)
        for start in range(0, len(self.changes), _CHUNK_ROWS):
            chunk = apply_changes(
                connection,
                self.mapping,
                self.changes[start : start + _CHUNK_ROWS],
                self.validator.schemes,
                resubscribe=resubscribe,
                stage=stage,
                new_ids=new_ids,
                claims=claims,
            )
            outcome.inserted += chunk.inserted
            outcome.updated += chunk.updated
            outcome.unchanged += chunk.unchanged
            outcome.kept_opt_outs += chunk.kept_opt_outs
            self.rejected.extend(chunk.rejected)

    def profile_rows(self, ids: str, lines: str) -> tuple[list[str], str]:
        """The ``profiles`` columns a COPY fills, and the query of their rows: those of
        the table ``lines`` (with a ``line`` column), each with the id ``ids`` says."""
        mapping = self.mapping
        names: list[str] = []
        values: list[str] = []
        for _, field in mapping.fields:
            name = field.value
            names.append(name)
            if name in FLAG_COLUMNS:
                values.append(f"{name}_said = 1")
            else:
                values.append(name)
        if ProfileField.EMAIL in mapping.mapped_fields:
            names.append("email_key")
            values.append("lower(email)")
        for flag in sorted(FLAG_COLUMNS - set(names)):
            names.append(flag)
            values.append("false")
        names.append("attributes")
        values.append(attribute_object(mapping.attribute_names))
        query = f"""
            SELECT {ids}, {", ".join(values)}
            FROM {lines}
            JOIN checked USING (line)
        """
        return ["id", *names], query

    def key_rows(self, ids: str, lines: str) -> str:
        """The query of the keys (:data:`KEY_COLUMNS`) of the profiles of ``lines``, each
        with the id ``ids`` says, in the primary key's order: building it then finds its
        input sorted (1.1 s a million keys instead of 3.1 s). Empty when the file maps no
        key's source."""
        parts = [
            f"SELECT {sql_text(scheme.value)}, {sql_text(kind.value)}, "
            f"unhex(sha256(n.key_{scheme.value}_{kind.value})), {ids} "
            f"FROM {lines} JOIN normals n USING (line) "
            f"WHERE n.key_{scheme.value}_{kind.value} IS NOT NULL"
            for scheme, kind in self._key_sources()
        ]
        return f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY 1, 2, 3, 4" if parts else ""
