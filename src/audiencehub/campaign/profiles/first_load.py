"""The first load of a profile base on PostgreSQL: checked by columns, COPY'd once, indexed after.

The row-by-row import (:mod:`.file_import`) merges every row with the stored
profile, and PostgreSQL keeps three indexes up to date in random order. When the
profile table is empty, which is how a profile base arrives (a CRM's whole
export, tens of millions of rows), there is nothing to merge with, so the file
is read, checked and split by columns (:mod:`.columnar_check`, :mod:`.checked_file`), then:

- rows whose key occurs more than once in the file, and the rows only the
  validator could judge, are merged in file order by the row import's own
  :func:`.store.apply_changes`, with the ids drawn for them in file order;
- the rest is COPY'd into ``profiles`` and ``profile_keys`` with their indexes
  dropped and built once at the end (:mod:`audiencehub.db.index_builds`).

The outcome is the row import's, row for row: the same profiles, keys, counts,
rejected lines and reasons (``tests/campaign/profiles/test_first_load.py`` holds
the two side by side).
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, select

from audiencehub.campaign.profiles.checked_file import CheckedFile
from audiencehub.campaign.profiles.columnar_check import Reject
from audiencehub.campaign.profiles.key_stage import KEY_COLUMNS, KeyStage
from audiencehub.campaign.profiles.store import ChunkOutcome, keys_changed
from audiencehub.campaign.schema import profile_keys, profiles
from audiencehub.db.bulk import load_time_default, reserved_id_range
from audiencehub.db.index_builds import indexes_built_after, lock_exclusively, may_rebuild
from audiencehub.engines.pg_copy import copy_to_postgresql, in_background, one_core_left

__all__ = ["FirstLoad", "first_load_applies", "load_first", "profiles_empty"]


def profiles_empty(connection: Connection) -> bool:
    """True when the store holds no profile: an import would be a first load."""
    return not connection.execute(select(exists().select_from(profiles))).scalar_one()


def first_load_applies(connection: Connection) -> bool:
    """Whether an import now would be a first load: PostgreSQL, no profile stored yet, and
    an account that owns the tables (it drops and builds their indexes)."""
    return (
        connection.dialect.name == "postgresql"
        and profiles_empty(connection)
        and may_rebuild(connection, (profiles.name, profile_keys.name))
    )


class FirstLoad(CheckedFile):
    """One file's first load into the empty store."""

    settles_claims = True  # an empty store: a CRM id two keys claim goes to the first claim

    def write(self, connection: Connection, stage: KeyStage, *, resubscribe: bool) -> ChunkOutcome:
        """Apply the checked file inside the caller's transaction (the store is empty and
        locked: see :func:`load_first`)."""
        outcome = ChunkOutcome(inserted=self.fast)
        ids = reserved_id_range(connection, profiles, self.created)  # the store is locked
        new_ids = {key: ids.start + place for key, place in self.places.items()}
        self.apply_judged(connection, stage, outcome, resubscribe=resubscribe, new_ids=new_ids)
        if not self.fast:
            return outcome
        numbered = f"{ids.start} + ordinal"
        keys = self.key_rows(numbered, "copied")
        columns, rows = self.profile_rows(numbered, "copied")
        with (
            indexes_built_after(connection, (profiles.name, profile_keys.name)),
            one_core_left(self.db, self.cores),  # PostgreSQL's backend takes in the rows
        ):
            # DuckDB sorts the keys while PostgreSQL takes in the profiles
            with (
                in_background(self.db, f"CREATE TABLE key_rows AS {keys}" if keys else None),
                load_time_default(connection, profiles, ("created_at", "updated_at")),
            ):
                copy_to_postgresql(connection, self.db, profiles.name, columns, rows)
            if keys:
                copy_to_postgresql(
                    connection,
                    self.db,
                    profile_keys.name,
                    KEY_COLUMNS,
                    "SELECT * FROM key_rows",
                )
        keys_changed(connection)
        return outcome


def load_first(
    connection: Connection,
    load: FirstLoad,
    stage: KeyStage,
    reject: Reject,
    *,
    resubscribe: bool,
) -> ChunkOutcome | None:
    """Write a checked first load, or ``None`` when the store is no longer empty (another
    session created a profile meanwhile) and the row import must run instead."""
    lock_exclusively(connection, (profiles.name, profile_keys.name))
    if not profiles_empty(connection):
        return None
    outcome = load.write(connection, stage, resubscribe=resubscribe)
    for row in sorted(load.rejected, key=lambda r: r.line):
        reject(row)
    return outcome
