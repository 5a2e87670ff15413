"""What the profile import's parity tests share: a file of every field, and the store
compared whole, so that one path (the first load, the merge by sets) is held to the
outcome of another (the row import) on the same file."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import delete, select, text

from audiencehub.campaign.profiles import bulk_merge, file_import, first_load
from audiencehub.campaign.profiles.fields import ProfileField
from audiencehub.campaign.schema import profile_keys, profiles

HEADER = [*(field.value for field in ProfileField), "tier", "note"]  # every field, 2 attributes


def row(email: str = "", phone: str = "", crm: str = "", first: str = "", **more: str) -> list[str]:
    values = {
        "email": email,
        "mobile_phone": phone,
        "crm_id": crm,
        "first_name": first,
        **more,
    }
    return [values.get(name, "") for name in HEADER]


def text_of(rows: list[list[str]], *, line_end: str = "\r\n", extra: str = "") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end).writerows([HEADER, *rows])
    return out.getvalue() + extra


def snapshot(workspace) -> dict[str, Any]:
    """Every profile by its place (all but ids and times) and every key by owner's place.

    Ids follow the file's order either way; a merge may leave unused an id it drew for a
    row it then rejects, so ids are compared by their order.
    """
    with workspace.campaign.connect() as connection:
        rows = connection.execute(select(profiles)).mappings().all()
        place = {profile_id: at for at, profile_id in enumerate(sorted(r["id"] for r in rows))}
        stored = {
            place[row["id"]]: {
                name: value
                for name, value in row.items()
                if name not in ("id", "created_at", "updated_at")
            }
            for row in rows
        }
        keys = sorted(
            (scheme, kind, digest.hex(), place[owner])
            for scheme, kind, digest, owner in connection.execute(select(profile_keys))
        )
        indexes = sorted(
            connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename IN ('profiles', 'profile_keys') UNION ALL "
                    "SELECT column_name, column_default FROM information_schema.columns "
                    "WHERE table_name = 'profiles' AND column_default IS NOT NULL UNION ALL "
                    # the constraints of the two tables and those referring to them
                    "SELECT conrelid::regclass || '.' || conname, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE 'profiles'::regclass IN (conrelid, confrelid) "
                    "OR 'profile_keys'::regclass IN (conrelid, confrelid)"
                )
            ).tuples()
        )
    return {"profiles": stored, "keys": keys, "indexes": indexes}


def empty(workspace) -> None:
    with workspace.campaign.begin() as connection:
        connection.execute(delete(profile_keys))
        connection.execute(delete(profiles))


def counted_loads(monkeypatch) -> list[int]:
    """The rows each first load from now on COPYs, one entry a load that writes."""
    loads: list[int] = []
    real_write = first_load.FirstLoad.write

    def counted(self, *args, **kwargs):
        loads.append(self.fast)
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(first_load.FirstLoad, "write", counted)
    return loads


def counted_merges(monkeypatch) -> list[int]:
    """The rows each merge from now on inserts or merges by sets."""
    merges: list[int] = []
    real_merge = bulk_merge.BulkMerge.merge

    def counted(self, *args, **kwargs):
        result = real_merge(self, *args, **kwargs)
        if result is not None:
            merges.append(self.by_sets)
        return result

    monkeypatch.setattr(bulk_merge.BulkMerge, "merge", counted)
    return merges


def row_by_row(monkeypatch, chunks: str = "as cut") -> None:
    """From now on, import through the row import; ``chunks="a row each"`` applies its
    rows one at a time (where chunks are cut must change nothing)."""
    monkeypatch.setattr(file_import, "first_load_applies", lambda connection: False)
    monkeypatch.setattr(file_import, "merge_applies", lambda connection: False)
    if chunks == "a row each":
        monkeypatch.setattr(file_import, "_BLOCK_ROWS", 1)
        monkeypatch.setattr(file_import, "_PG_CHUNK_ROWS", 1)
