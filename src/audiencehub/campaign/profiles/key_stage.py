"""Reconciliation keys a long write holds back, to store them once, in key order.

A large import writes a key row per profile and scheme. Inserted as each chunk
is applied they land all over ``profile_keys``' B-tree, because digests are
random: on PostgreSQL a million of them cost about three times as much as the
same rows written in the index's order, which is nearly the append-only path.
So an import on PostgreSQL stages its keys in a temporary table with no
index, and writes them to ``profile_keys`` with one sorted ``INSERT ... SELECT``
after its last chunk (SQLite writes them as it goes: see :class:`KeyStage`).

The import goes on deleting stale keys from ``profile_keys`` itself, as it
reads them; the stage notes those deletions too, with the chunk's number. A
staged key deleted by a later chunk is not written, and one staged again after
the deletion is. The staged rows are the ones that the rows written one chunk
at a time would have left.

``profile_keys`` has no foreign key to ``profiles`` (it cost more than the
keys' index: migration c0019), so the store keeps the rule itself: a key is
written only for a profile that exists when it is written. A profile another
session deleted after the import read it is gone when the stage is written
(that session locked the profile, deleted its keys, then the profile), and its
staged keys are dropped with it. Whoever deletes a profile or rewrites its keys
locks its row first (:func:`.editing.delete_profile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    Table,
)
from sqlalchemy.exc import DBAPIError

from audiencehub.campaign.schema import profile_keys, profiles
from audiencehub.db.bulk import bulk_insert
from audiencehub.errors import StorageError

__all__ = ["KEY_COLUMNS", "KeyStage"]

#: a ``profile_keys`` row's columns, in the order its rows are written
KEY_COLUMNS = ("scheme", "kind", "digest", "profile_id")

_NO_PRIVILEGE = "42501"  # PostgreSQL's insufficient_privilege

#: PostgreSQL's memory for the final sort; larger stages spill to disk, a little slower
_SORT_MEMORY = "256MB"

_temporary = MetaData()


def _stage_table(name: str) -> Table:
    return Table(
        name,
        _temporary,
        *(Column(column, profile_keys.c[column].type, nullable=False) for column in KEY_COLUMNS),
        Column("chunk", Integer, nullable=False),
        # the profile is held by this transaction (created or locked): no other session
        # can delete it before the stage is written
        Column("held", Boolean, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


_added = _stage_table("profile_keys_staged")
_deleted = _stage_table("profile_keys_unstaged")
# deletions are few (a changed email or phone); the final anti-join looks each one up
Index("profile_keys_unstaged_key", *(_deleted.c[name] for name in KEY_COLUMNS))


class KeyStage:
    """The keys one transaction will write to ``profile_keys`` when it calls :meth:`write`.

    On PostgreSQL the temporary tables belong to the transaction, which drops
    them at its end (:meth:`write` drops them first). SQLite has nothing to
    stage: one writer at a time holds the database, so no profile can go while
    its keys wait, and its page cache holds the keys' B-tree, so their order
    hardly matters. Staging there measured 5 % slower and 160 MB larger, so the
    rows go straight to ``profile_keys``.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._staging = connection.dialect.name == "postgresql"
        self._chunk = 0
        self.staged = 0
        if self._staging:
            try:
                for table in (_added, _deleted):
                    table.create(connection)  # with its index
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != _NO_PRIVILEGE:
                    raise
                raise StorageError(
                    "the database account may not create temporary tables, which a profile "
                    "import needs for its keys; nothing was imported",
                    hint="Grant it: GRANT TEMPORARY ON DATABASE <database> TO <account>.",
                ) from exc

    def next_chunk(self) -> None:
        """Later deletions undo only what was staged before them."""
        self._chunk += 1

    def add(self, rows: Sequence[tuple[Any, ...]], *, held: bool = False) -> None:
        """Stage ``profile_keys`` rows (:data:`KEY_COLUMNS` order); ``held`` when this
        transaction created or locked their profiles (their existence is not checked again)."""
        if not self._staging:
            if rows:
                bulk_insert(self._connection, profile_keys, KEY_COLUMNS, rows)
        else:
            self._put(_added, rows, held)
        self.staged += len(rows)

    def delete(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Note that these rows were deleted: the ones staged before are not written."""
        if self._staging:
            self._put(_deleted, rows, False)

    def _put(self, table: Table, rows: Sequence[tuple[Any, ...]], held: bool) -> None:
        if rows:
            chunk = self._chunk
            bulk_insert(
                self._connection,
                table,
                [*KEY_COLUMNS, "chunk", "held"],
                ((*r, chunk, held) for r in rows),
            )

    def write(self) -> None:
        """Write the staged keys that stand and whose profile exists, in the order of
        ``profile_keys``' primary key."""
        if not self._staging:
            return
        connection = self._connection
        same = " AND ".join(f"d.{name} = a.{name}" for name in KEY_COLUMNS)
        # the sort stays in memory: a million keys take about 130 MB
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{_SORT_MEMORY}'")
        connection.exec_driver_sql(
            f"INSERT INTO {profile_keys.name} ({', '.join(KEY_COLUMNS)}) "
            f"SELECT {', '.join(f'a.{name}' for name in KEY_COLUMNS)} FROM {_added.name} a "
            f"WHERE NOT EXISTS (SELECT 1 FROM {_deleted.name} d "
            f"WHERE {same} AND d.chunk > a.chunk) "
            # checked only when needed: the hashed look-up is built on its first use
            f"AND (a.held OR EXISTS (SELECT 1 FROM {profiles.name} p "
            "WHERE p.id = a.profile_id)) "
            # by digest alone: a scheme and kind's keys come in the index's order,
            # and sorting on the leading (nearly constant) columns costs twice as much
            "ORDER BY a.digest"
        )
        connection.exec_driver_sql("RESET work_mem")
        for table in (_added, _deleted):
            table.drop(connection)
