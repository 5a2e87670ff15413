"""The stored data a batch's SQL lookups join with, read ahead of the batch.

Hashed sources join with the reconciliation keys of their scheme and kind,
visitor sources with the click links. Both are read as Arrow tables by
:func:`~audiencehub.engines.extract` while the batch's files are being staged.

Reading 10 M keys out of SQLite is the largest single cost of an import (about
as long as staging the batch, and it holds a core while staging wants both).
So, given a cache folder, the keys read are kept there as an Arrow file named
after their scheme's *keys token*, which every transaction that writes the
scheme's keys replaces (:func:`~audiencehub.campaign.profiles.store.keys_changed`).
The next import finds the file under the current token and maps it instead of
reading the database; after any key write the token differs, the copy is
ignored, and the keys are read again. A copy is kept only when the token was the
same before and after the read, so it never mixes two states of the keys.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select

from audiencehub.campaign.schema import key_schemes, profile_keys, visitor_links
from audiencehub.campaign.sharing.data_sources import (
    SharedDataSource,
    reconciliation_key_of,
)
from audiencehub.engines import extract, read_kept

__all__ = ["KEY_CACHE", "Lookups", "prefetch", "reads_database"]

#: where a workspace keeps the columnar copies of its keys (relative to its folder)
KEY_CACHE = Path("cache") / "keys"


#: stored data the SQL lookups join with, read ahead: source index -> Arrow table
Lookups = dict[int, pa.Table]


def prefetch(
    engine: Engine, sources: Sequence[SharedDataSource], cache: Path | None = None
) -> Lookups:
    """Read the reconciliation keys or click links each source will be joined with.

    With ``cache``, keys come from (and are kept in) that folder while valid.
    """
    found: Lookups = {}
    for index, source in enumerate(sources):
        if source["reconciliation"] == "visitor":
            found[index] = extract(
                engine,
                select(
                    visitor_links.c.visitor_id,
                    visitor_links.c.profile_id,
                    visitor_links.c.linked_at,
                ),
            )
        elif source["hashing"]:
            found[index] = _first_per_digest(_keys(engine, source["hashing"], _kind(source), cache))
    return found


def reads_database(
    engine: Engine, sources: Sequence[SharedDataSource], cache: Path | None = None
) -> bool:
    """Whether :func:`prefetch` will read the database (a process and a core) for ``sources``."""
    for source in sources:
        if source["reconciliation"] == "visitor":
            return True
        if source["hashing"]:
            kept = _kept(engine, source["hashing"], _kind(source), cache)
            if kept is None or not kept.exists():
                return True
    return False


def _kind(source: SharedDataSource) -> str:
    key = reconciliation_key_of(source)
    return key.kind.value if key.kind else ""


def _kept(engine: Engine, scheme: str, kind: str, cache: Path | None) -> Path | None:
    """Where the keys of ``scheme`` and ``kind`` are kept under the current token."""
    if cache is None:
        return None
    with engine.connect() as connection:
        token = connection.execute(
            select(key_schemes.c.keys_token).where(key_schemes.c.scheme == scheme)
        ).scalar_one_or_none()
    return None if token is None else cache / f"{scheme}-{kind or 'none'}-{token}.arrows"


def _keys(engine: Engine, scheme: str, kind: str, cache: Path | None) -> pa.Table:
    """The digests and profile ids of one scheme and kind, in digest order."""
    query = (
        select(profile_keys.c.digest, profile_keys.c.profile_id)
        .where(profile_keys.c.scheme == scheme, profile_keys.c.kind == kind)
        .order_by(profile_keys.c.digest, profile_keys.c.profile_id)
    )
    kept = _kept(engine, scheme, kind, cache)
    if kept is None:
        return extract(engine, query)
    if kept.exists():
        return read_kept(query, kept)
    kept.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".reading-", suffix=".arrows", dir=kept.parent)
    os.close(handle)
    fresh = Path(name)
    try:
        keys = extract(engine, query, keep=fresh)
        if _kept(engine, scheme, kind, cache) == kept:  # no key written meanwhile: keep it
            fresh.replace(kept)
            stem = kept.name.rsplit("-", 1)[0]
            for old in kept.parent.glob(f"{stem}-*.arrows"):
                if old != kept:
                    old.unlink(missing_ok=True)
    finally:
        fresh.unlink(missing_ok=True)
    return keys


def _first_per_digest(keys: pa.Table) -> pa.Table:
    """Keep the lowest profile id of each digest (profiles sharing an email share a key).

    The keys come in index order, so duplicates are neighbours: comparing each
    digest with the one before is one vectorised pass per chunk (SQLite's GROUP
    BY costs two seconds on 10 M keys), and nothing is copied when, as almost
    always, there are none.
    """
    masks: list[pa.Array] = []
    previous: bytes | None = None
    duplicates = False
    for chunk in keys.column("digest").chunks:
        size = len(chunk)
        if size == 0:
            continue
        head = pa.array([previous is None or chunk[0].as_py() != previous])
        rest = pc.not_equal(chunk.slice(1), chunk.slice(0, size - 1))
        mask = pa.concat_arrays([head, rest])
        duplicates = duplicates or not pc.all(mask).as_py()
        masks.append(mask)
        previous = chunk[size - 1].as_py()
    if not duplicates:
        return keys
    return keys.filter(pa.chunked_array(masks, pa.bool_()))
