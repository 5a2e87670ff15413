"""The stored data a batch's SQL lookups join with, read ahead of the batch.

Hashed sources join with the reconciliation keys of their scheme and kind,
read into a Parquet file by :func:`~audiencehub.engines.extract_parquet` while
the batch's files are being staged: the bulk engine (DuckDB or Spark) reads
the file itself, within its memory limit, so 50 M keys (2 GB) never sit in
this process's memory. Visitor sources join with the click links, read as an
Arrow table by :func:`~audiencehub.engines.extract`.

Reading 10 M keys out of SQLite is the largest single cost of an import (about
as long as staging the batch, and it holds a core while staging wants both).
So, given a cache folder, the keys read are kept there as a Parquet file named
after their scheme's *keys token*, which every transaction that writes the
scheme's keys replaces (:func:`~audiencehub.campaign.profiles.store.keys_changed`).
The next import finds the file under the current token and maps it instead of
reading the database; after any key write the token differs, the copy is
ignored, and the keys are read again. A copy is kept only when the token was the
same before and after the read, so it never mixes two states of the keys.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select

from audiencehub.campaign.schema import key_schemes, profile_keys, visitor_links
from audiencehub.campaign.sharing.data_sources import (
    SharedDataSource,
    reconciliation_key_of,
)
from audiencehub.engines import extract, extract_parquet

__all__ = ["KEY_CACHE", "Lookups", "prefetch", "reads_database"]

#: where a workspace keeps the columnar copies of its keys (relative to its folder)
KEY_CACHE = Path("cache") / "keys"


#: stored data the SQL lookups join with, read ahead, by source index: the click
#: links as an Arrow table, the keys as a Parquet file (digest, profile_id)
Lookups = dict[int, pa.Table | Path]


def prefetch(
    engine: Engine, sources: Sequence[SharedDataSource], scratch: Path, cache: Path | None = None
) -> Lookups:
    """Read the reconciliation keys or click links each source will be joined with.

    Keys are read into ``scratch`` (the batch's folder, removed after it); with
    ``cache``, they come from (and are kept in) that folder while valid.
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
            found[index] = _keys(engine, source["hashing"], _kind(source), cache, scratch)
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
    return None if token is None else cache / f"{scheme}-{kind or 'none'}-{token}.parquet"


def _keys(engine: Engine, scheme: str, kind: str, cache: Path | None, scratch: Path) -> Path:
    """A Parquet file of the digests and profile ids of one scheme and kind, in digest
    order, one profile per digest: the kept copy when valid, else a fresh read in
    ``scratch`` (moved into the cache when no key was written while it was read)."""
    query = (
        select(profile_keys.c.digest, profile_keys.c.profile_id)
        .where(profile_keys.c.scheme == scheme, profile_keys.c.kind == kind)
        .order_by(profile_keys.c.digest, profile_keys.c.profile_id)
    )
    kept = _kept(engine, scheme, kind, cache)
    if kept is not None and kept.exists():
        return kept
    fresh = extract_parquet(
        engine, query, scratch / f"keys-{scheme}-{kind or 'none'}.parquet", _first_per_digest
    )
    if kept is None or _kept(engine, scheme, kind, cache) != kept:
        return fresh  # no cache, or a key was written meanwhile: used once, not kept
    kept.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".reading-", suffix=".parquet", dir=kept.parent)
    os.close(handle)
    try:
        shutil.copyfile(fresh, name)  # the scratch folder may be on another file system
        Path(name).replace(kept)
    finally:
        Path(name).unlink(missing_ok=True)
    stem = kept.name.rsplit("-", 1)[0]
    for old in kept.parent.glob(f"{stem}-*"):
        if old != kept:
            old.unlink(missing_ok=True)
    return kept


def _first_per_digest(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Keep the lowest profile id of each digest (profiles sharing an email share a key).

    The keys come in index order, so duplicates are neighbours: comparing each
    digest with the one before is one vectorised pass per batch (SQLite's GROUP
    BY costs two seconds on 10 M keys), and a batch with none, as almost all,
    passes as it is.
    """
    previous: bytes | None = None
    for batch in batches:
        digests = batch.column(0)
        size = len(digests)
        if size == 0:
            continue
        head = pa.array([previous is None or digests[0].as_py() != previous])
        rest = pc.not_equal(digests.slice(1), digests.slice(0, size - 1))
        mask = pa.concat_arrays([head, rest])
        previous = digests[size - 1].as_py()
        yield batch if pc.all(mask).as_py() else batch.filter(mask)
