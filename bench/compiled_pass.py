"""The ingest's plan floor as one compiled streaming pass (``compiled_pass.c``), for
``people_pipeline.py``: what the design change of docs/people-lake.md would reach.

The C source is built once per version with the machine's C compiler (``cc``, or
``$CC``) into the temporary folder and loaded with :mod:`ctypes`, which lets go of
the GIL during each call, so the pass's threads run on every core. The
realisations it holds are written to Parquet by DuckDB, as the plan floor's last
statement writes them.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from isal import igzip

_SOURCE = Path(__file__).with_name("compiled_pass.c")
_BLOCK = 16 << 20  # bytes inflated, and read by the pass, at a time
_MAX_PARTS = 8  # threads the pass may run on (MAX_PARTS in compiled_pass.c)
COUNTS = (
    "lines",
    "long",
    "no TAB",
    "no ID",
    "control",
    "colon",
    "quote",
    "beyond ASCII",
    "unknown IDs",
    "added",
    "removed",
    "other",
    "users who added",
    "users with lines",
)


def compiler() -> str | None:
    """The C compiler the pass is built with, None when the machine has none."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def library() -> ctypes.CDLL:
    """The pass, built first if this version of it has not been (before a clock starts)."""
    source = _SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    built = Path(tempfile.gettempdir()) / f"ah-compiled-pass-{digest}.so"
    if not built.exists():
        cc = compiler()
        if cc is None:
            raise SystemExit("the compiled pass needs a C compiler (cc, gcc or $CC)")
        partial = built.with_suffix(f".{os.getpid()}.so")
        subprocess.run(
            [cc, "-O2", "-march=native", "-shared", "-fPIC", "-o", str(partial), str(_SOURCE)],
            check=True,
        )
        partial.replace(built)
    lib = ctypes.CDLL(str(built))
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    lib.pass_open.restype = pointer
    lib.pass_open.argtypes = [size, ctypes.c_int, size]
    lib.pass_add_users.argtypes = [pointer, pointer, pointer, pointer, size]
    lib.pass_feed.argtypes = [pointer, ctypes.c_int, ctypes.c_uint64, pointer, size]
    lib.pass_counts.argtypes = [pointer, pointer]
    lib.pass_held.restype = size
    lib.pass_held.argtypes = [pointer]
    lib.pass_realisations.argtypes = [pointer, pointer, pointer]
    lib.pass_close.argtypes = [pointer]
    return lib


def _inflate(data: Path, plain: Path) -> None:
    buffer = memoryview(bytearray(_BLOCK))
    with igzip.open(data, "rb") as source, plain.open("wb") as target:  # type: ignore[no-untyped-call]
        while got := source.readinto(buffer):
            target.write(buffer[:got])


def _blocks(plain: Path) -> Iterator[tuple[int, int, int]]:
    """The inflated file in blocks of whole lines: each block's address, length and
    offset in the file. The blocks share one buffer (a fresh one per block had the
    kernel clear a page for every 4 KB read), so each is gone at the next."""
    buffer = bytearray(_BLOCK)
    filled = offset = 0
    with plain.open("rb") as handle:
        while True:
            got = handle.readinto(memoryview(buffer)[filled:])
            filled += got
            cut = buffer.rfind(b"\n", 0, filled) + 1 if got else filled
            if cut:
                address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
                yield address, cut, offset
                offset += cut
                buffer[: filled - cut] = buffer[cut:filled]
                filled -= cut
            elif filled == len(buffer):  # a line longer than the buffer
                buffer = buffer + bytearray(len(buffer))
            if not got:
                return


def run(
    lib: ctypes.CDLL, session: duckdb.DuckDBPyConnection, data: Path, out: Path
) -> dict[str, int]:
    """The pass over ``data`` against the graph's IDs of namespace 0 that ``session``
    reads as ``lake.graph_users``; the held realisations written to ``out``.

    ISA-L inflates the file into the temporary folder (as the ingest inflates it into
    its scratch folder) while the graph's IDs are read and hashed; then both cores read
    the lines, each for its half of the users."""
    parts = max(1, min(len(os.sched_getaffinity(0)), _MAX_PARTS))
    query = "FROM lake.graph_users WHERE ns = 0"
    [(rows,)] = session.execute(f"SELECT count(*) {query}").fetchall()
    state = lib.pass_open(rows, parts, 2 * rows)
    if not state:
        raise SystemExit("the compiled pass could not have its tables: out of memory")
    plain = Path(tempfile.mkstemp(prefix="ah-compiled-pass-", suffix=".sync")[1])
    try:
        with ThreadPoolExecutor(parts) as pool:
            inflating = pool.submit(_inflate, data, plain)
            reader = session.execute(f"SELECT external_id, id {query}").to_arrow_reader()
            for batch in reader:
                ids = batch.column(0).cast(pa.string())
                users = np.ascontiguousarray(batch.column(1).to_numpy(), dtype=np.int64)
                _, offsets, text = ids.buffers()
                if lib.pass_add_users(
                    state,
                    text.address,
                    offsets.address + 4 * ids.offset,
                    users.ctypes.data,
                    len(ids),
                ):
                    raise SystemExit("the graph grew while it was read")
            inflating.result()
            for address, length, offset in _blocks(plain):
                feeds = [
                    pool.submit(lib.pass_feed, state, t, offset, address, length)
                    for t in range(parts)
                ]
                if any(feed.result() for feed in feeds):
                    raise SystemExit("the compiled pass ran out of memory")
        counts = np.zeros(len(COUNTS), dtype=np.int64)
        lib.pass_counts(state, counts.ctypes.data)
        held = lib.pass_held(state)
        user_ids = np.empty(held, dtype=np.int64)
        trait_ids = np.empty(held, dtype=np.int32)
        lib.pass_realisations(state, user_ids.ctypes.data, trait_ids.ctypes.data)
    finally:
        lib.pass_close(state)
        plain.unlink(missing_ok=True)
    realised = pa.table({"uid": user_ids, "trait_id": trait_ids})  # noqa: F841 -- read by DuckDB
    session.execute(f"COPY (SELECT uid, trait_id, now() FROM realised) TO '{out}' (FORMAT parquet)")
    return dict(zip(COUNTS, (int(c) for c in counts), strict=True))
