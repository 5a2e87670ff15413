"""An inbound batch read, checked, resolved and counted by one compiled streaming pass.

The SQL plan (:mod:`~audiencehub.people.inbound_rows`,
:mod:`~audiencehub.people.inbound_batch`) takes a batch through a dozen set
operations over relations of every line and every item, each as lean as SQL lets
it be; at ten million lines that is four times what DuckDB takes merely to read the
file and insert its realisations. The pass (``inbound_pass.c``) does the same work
handling each line once, as it is read: the checks, the items (each *distinct* item
judged by the reference parser, :func:`~audiencehub.people.inbound_rows.part_verdict`,
the first time a thread meets it), the ID looked up in a hash table of the
namespace's users, the lines per user, the receipt's counters and first reasons, and
the last word per user and trait. What it leaves to DuckDB is small: the key-values'
last values and the rule traits (:func:`~audiencehub.people.inbound_effects.signal_effects`),
and the lake's one transaction. A differential test holds the two paths to the same
receipts and the same lake.

The pass is compiled when the package is installed (``setup.py``: optional, so a
machine without a C compiler installs without it). A batch goes by the SQL plan when
the pass is not built, when its tables would not fit in the workspace's
``inbound_pass_memory_limit`` (the SQL plan spills; the pass does not), when its
data source is a global one (whose IDs Python checks), or when a line is one only the
reference parser reads (see ``inbound_pass.c``).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import logging
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

from audiencehub.engines.session import DuckBatch
from audiencehub.formats.inbound import MAX_LINES_PER_USER
from audiencehub.people.data_sources import GLOBAL_DATA_SOURCES
from audiencehub.people.graph import create_users, touch_users
from audiencehub.people.inbound_batch import (
    COUNTED,
    CROWDED,
    FOREIGN,
    NO_TRAIT,
    NOT_VISITOR,
    UNSEEN,
    Target,
    fill_receipt,
)
from audiencehub.people.inbound_effects import keep_last_values
from audiencehub.people.inbound_rows import (
    LINE_CHECKS,
    LINE_KEY,
    id_length_problem,
    line_place,
    part_verdict,
)
from audiencehub.people.lake import LakeTables
from audiencehub.people.receipts import Receipt
from audiencehub.people.trait_index import TraitIndex

__all__ = ["Batch", "pass_available", "run_pass"]

_log = logging.getLogger(__name__)

_OK, _ELSEWHERE, _NO_MEMORY, _UNREADABLE = 0, 1, -1, -2
# why the pass left a batch to the SQL plan, as its log says it
_LEFT_BECAUSE = {
    _NO_MEMORY: "its tables would pass inbound_pass_memory_limit",
    _UNREADABLE: "it could not read a file of the batch",
}

# the verdict's bits (inbound_pass.c)
_REF, _REMOVAL, _NO_TRAIT, _FOREIGN, _PAIR, _TESTED, _ERROR = (1 << b for b in range(7))
_MAX_CODE = (1 << 23) - 1

# the pass's counters, in pass_counts' order
_COUNTERS = ("lines", *COUNTED, "words", "pairs", "new")
# the problems' kinds, in inbound_pass.c's order
_KINDS = (
    "long",
    "no_tab",
    "no_id",
    "id_long",
    "control",
    "colon",
    "quote",
    "item",
    "crowded",
    "not_visitor",
    "unseen",
    "failed",
    "no_trait",
)
_SEEN, _MATCHED = 1 << 31, 1 << 30
# the words the pass first makes room for: after the first block of lines it makes room
# for the whole batch at that block's rate
_FIRST_WORDS = 1 << 16
_MAX_THREADS = 8

_JUDGE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)
_P, _I64, _I32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int


@cache
def _library() -> ctypes.CDLL | None:
    """The compiled pass beside this module, with its functions' types; None where the
    package was installed without it."""
    folder = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"_inbound_pass{suffix}"
        if path.exists():
            break
    else:
        return None
    lib = ctypes.CDLL(str(path))
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "pass_open": (_P, [_I64, _I32, _I32, _I32, _I32, _JUDGE, _I64]),
        "pass_parts": (_I32, [_P, _I64]),
        "pass_add_users": (_I32, [_P, _P, _P, _P, _I64]),
        "pass_add_file": (_I32, [_P, ctypes.c_char_p]),
        "pass_run": (_I32, [_P, _I64]),
        "pass_counts": (None, [_P, _P]),
        "pass_problems": (_I32, [_P, _P]),
        "pass_problem_text": (_P, [_P, _I64, _I64]),
        "pass_new_text": (_P, [_P, _I64, _I64]),
        "pass_new": (None, [_P, _P]),
        "pass_set_new": (_I32, [_P, _P, _I64]),
        "pass_users": (_I64, [_P, ctypes.c_uint32, _P]),
        "pass_words": (None, [_P, _P, _P, _P]),
        "pass_pairs": (None, [_P, _P, _P, _P, _P]),
        "pass_used": (_I64, [_P]),
        "pass_release": (None, [_P, _I32]),
        "pass_close": (None, [_P]),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)
        function.restype = result
        function.argtypes = arguments
    return lib


def pass_available() -> bool:
    """Whether this installation has the compiled pass."""
    return _library() is not None


@dataclass
class _Judge:
    """The reference parser's verdicts on the batch's distinct items, packed for the pass
    (``code``: the error's message, or the key-value's place in ``pairs``)."""

    index: TraitIndex
    messages: list[str] = field(default_factory=list)
    pairs: dict[tuple[str, str], tuple[int, bool]] = field(default_factory=dict)
    failure: BaseException | None = None

    def __call__(self, item: int | None, length: int) -> int:
        try:
            part = ctypes.string_at(item or 0, length).decode("utf-8")
            return self._packed(part_verdict(part, self.index))
        except BaseException as exc:
            self.failure = exc
            return -1

    def _packed(self, verdict: dict[str, Any]) -> int:
        if verdict["error"] is not None:
            self.messages.append(verdict["error"])
            return _ERROR | self._code(len(self.messages) - 1)
        if verdict["action"] is not None:
            bits = _REF
            bits |= _REMOVAL if verdict["action"] == "remove" else 0
            bits |= _FOREIGN if verdict["foreign_"] else 0
            if verdict["trait_id"] is None:
                return bits | _NO_TRAIT
            return bits | (int(verdict["trait_id"]) & 0xFFFFFFFF) << 8
        if verdict["key"] is not None:
            pair = (verdict["key"], verdict["value"])
            code, tested = self.pairs.setdefault(pair, (len(self.pairs), bool(verdict["tested"])))
            return _PAIR | (_TESTED if tested else 0) | self._code(code)
        return 0

    @staticmethod
    def _code(code: int) -> int:
        if code > _MAX_CODE:
            raise OverflowError("more distinct items than the pass codes")
        return code << 40


def _capacity(n: int) -> int:
    """The slots of a table for ``n`` entries (inbound_pass.c's capacity_for)."""
    capacity = 1024
    while capacity < n + n // 2:
        capacity <<= 1
    return capacity


@dataclass(frozen=True)
class Batch:
    """An inbound batch as the pass reads it."""

    files: Callable[[], Sequence[Path] | None]  # its plain files, once ready (None: none)
    keys: Sequence[str]  # the files' names in the receipt
    index: TraitIndex
    target: Target
    tables: LakeTables
    graph: Callable[[], AbstractContextManager[Connection]]  # a transaction of the graph
    now: datetime
    budget: int  # bytes the pass's tables may take


def run_pass(session: DuckBatch, batch: Batch, receipt: Receipt) -> bool:
    """Read the batch by the pass: the receipt's counters and first reasons, unknown
    customer IDs created and known ones marked seen in a transaction of the graph, and
    in ``session`` the relations the lake's writes read (``final_traits``,
    ``last_values``, and ``matched`` for an overwrite file). The namespace's users are
    loaded while the files are made ready (a gzip file inflated). False, with nothing
    done, when the batch is for the SQL plan (see the module's text)."""
    lib, target = _library(), batch.target
    if lib is None or (not target.device and target.namespace in GLOBAL_DATA_SOURCES):
        return False
    users = f"FROM {batch.tables.graph_users} WHERE ns = {int(target.namespace)}"
    [(rows,)] = session.rows(f"SELECT count(*) {users}")
    threads = max(1, min(len(os.sched_getaffinity(0)), _MAX_THREADS))
    if 24 * _capacity(rows) + 8 * (rows + 1) > batch.budget:
        return False
    judge = _Judge(batch.index)
    callback = _JUDGE(judge)
    state = lib.pass_open(
        rows, threads, int(target.device), int(not target.overwrite), MAX_LINES_PER_USER,
        callback, batch.budget,
    )  # fmt: skip
    if not state:
        return False
    try:
        status = _add_users(lib, state, session, users)
        files = batch.files()
        if status == _OK and files is not None:
            status = lib.pass_parts(state, _FIRST_WORDS)
        if status != _OK:
            return _left(status)
        if files is None:  # not plain files in a folder: the plan reads them
            return False
        for path in files:
            if (status := lib.pass_add_file(state, os.fsencode(path))) != _OK:
                return _left(status)
        status = lib.pass_run(state, LINE_KEY)
        _log.debug("the inbound pass's tables: %d MB", lib.pass_used(state) >> 20)
        if judge.failure is not None:
            _log.warning("the inbound pass left a batch to SQL: %r", judge.failure)
            return False
        if status != _OK:
            return _left(status)
        _results(lib, state, session, judge, batch, receipt)
    finally:
        lib.pass_close(state)
    keep_last_values(  # with the pass's memory free
        session,
        "SELECT p.uid, v.key, v.value, p.pos, p.k FROM pass_pairs p "
        "JOIN pass_pair_values v ON v.code = p.code",
    )
    session.unregister("pass_pairs")
    session.drop("pass_pair_values")
    return True


def _left(status: int) -> bool:
    """Say why the pass leaves a batch to the SQL plan (``status`` is not ``_OK``): what
    it leaves by design (a line only the reference parser reads, a line longer than its
    block, too many files) at debug level; the rest (its memory limit, a file it could
    not read) at info. Returns False."""
    if status == _ELSEWHERE:
        _log.debug("the inbound pass left a batch to SQL: it holds what the plan reads")
    else:
        why = _LEFT_BECAUSE.get(status, f"status {status}")
        _log.info("the inbound pass left a batch to SQL: %s", why)
    return False


def _add_users(lib: ctypes.CDLL, state: int, session: DuckBatch, users: str) -> int:
    """The namespace's users into the pass's table."""
    for batch in session.stream(f"SELECT external_id, id {users}", 1 << 20):
        ids = batch.column(0).cast(pa.string())
        numbers = batch.column(1).cast(pa.int64())
        _, offsets, text = ids.buffers()
        if lib.pass_add_users(
            state,
            text.address if text is not None else 0,
            offsets.address + 4 * ids.offset,
            numbers.buffers()[1].address + 8 * numbers.offset,
            len(ids),
        ):
            return _NO_MEMORY  # more users than counted: the graph grew meanwhile
    return _OK


def _fetched(
    fill: Callable[..., Any], kinds: dict[str, pa.DataType], length: int
) -> dict[str, pa.Array]:
    """Columns of ``length`` fixed-width values each, of ``kinds``, written by the pass:
    ``fill`` is given their buffers' addresses, in order, and the buffers become the
    arrays (no copy)."""
    buffers = {
        name: pa.allocate_buffer(max(1, length * kind.byte_width)) for name, kind in kinds.items()
    }
    fill(*(buffer.address for buffer in buffers.values()))
    return {
        name: pa.Array.from_buffers(kinds[name], length, [None, buffer])
        for name, buffer in buffers.items()
    }


def _results(
    lib: ctypes.CDLL, state: int, session: DuckBatch, judge: _Judge, batch: Batch, receipt: Receipt
) -> None:
    """The receipt, the graph's new IDs, and the tables handed to DuckDB (``final_traits``,
    ``pass_pairs`` and ``pass_pair_values``, ``matched``), each of the pass's tables freed
    once read."""
    counts = (ctypes.c_int64 * len(_COUNTERS))()
    lib.pass_counts(state, counts)
    count = dict(zip(_COUNTERS, counts, strict=True))
    receipt.records_received = count["lines"]
    fill_receipt(receipt, {name: count[name] for name in COUNTED})
    _problems(lib, state, judge, receipt, batch.keys)
    if not batch.target.device:
        with batch.graph() as connection:
            _new_users(lib, state, count["new"], batch, connection)
    if batch.target.overwrite:  # what an overwrite file replaces
        session.keep("matched", pa.table({"uid": _users(lib, state, _MATCHED)}))
    lib.pass_release(state, 1)
    _keep_words(lib, state, session, count["words"])
    lib.pass_release(state, 2)
    _keep_pairs(lib, state, session, judge, count["pairs"])


def _users(lib: ctypes.CDLL, state: int, flag: int) -> pa.Array:
    """The ids of the users the pass flagged so."""
    length = int(lib.pass_users(state, flag, None))
    ids = _fetched(lambda at: lib.pass_users(state, flag, at), {"id": pa.int64()}, length)
    return ids["id"]


def _text(address: int, length: int) -> str:
    return ctypes.string_at(address, length).decode("utf-8")


def _problems(
    lib: ctypes.CDLL, state: int, judge: _Judge, receipt: Receipt, keys: Sequence[str]
) -> None:
    """The first reasons, in the lines' order (each thread kept its own first ones)."""
    values = (ctypes.c_int64 * (7 * 20 * _MAX_THREADS))()
    found = int(lib.pass_problems(state, values))
    rows = sorted(tuple(values[7 * i : 7 * i + 7]) for i in range(found))
    for k, _, kind, detail, thread, place, length in rows[:20]:
        name = _KINDS[kind]
        if name in LINE_CHECKS:
            message = LINE_CHECKS[name]
        elif name == "id_long":
            message = id_length_problem(detail)
        elif name == "item":
            message = judge.messages[detail]
        elif name == "unseen":
            message = _text(lib.pass_problem_text(state, thread, place), length) + UNSEEN
        elif name == "failed":
            message = f"{detail}{FOREIGN}"
        else:
            message = {"crowded": CROWDED, "not_visitor": NOT_VISITOR, "no_trait": NO_TRAIT}[name]
        f, n = line_place(k)
        receipt.problem(n, keys[f], message)


def _new_users(lib: ctypes.CDLL, state: int, new: int, batch: Batch, graph: Connection) -> None:
    """A customer-ID source's unknown IDs created, in the order of their first lines, and
    its known ones marked seen, as the graph records activity for retention."""
    now = batch.now
    touch_users(graph, _users(lib, state, _SEEN).to_pylist(), now)
    if not new:
        return
    values = (ctypes.c_int64 * (5 * new))()
    lib.pass_new(state, values)
    rows = sorted(tuple(values[5 * i : 5 * i + 5]) for i in range(new))  # by first line
    missing = [_text(lib.pass_new_text(state, t, at), n) for _, t, at, n, _ in rows]
    created = create_users(graph, batch.target.namespace, missing, now)
    first = min(row[4] for row in rows)
    ids = (ctypes.c_int64 * new)()
    for row, external_id in zip(rows, missing, strict=True):
        ids[row[4] - first] = created[external_id]
    if lib.pass_set_new(state, ids, new) != _OK:
        raise MemoryError("no room for the new users' ids")


def _keep_words(lib: ctypes.CDLL, state: int, session: DuckBatch, words: int) -> None:
    """``final_traits(user_id, trait_id, held)``: the batch's last word on each user's trait."""
    kinds = {"user_id": pa.int64(), "trait_id": pa.int32(), "held": pa.uint8()}
    arrays = _fetched(lambda *at: lib.pass_words(state, *at), kinds, words)
    arrays["held"] = arrays["held"].cast(pa.bool_())
    # read in place by the lake's writes, not copied: a copy took 1.5 s at 10 M lines
    session.register("final_traits", pa.table(arrays))


def _keep_pairs(
    lib: ctypes.CDLL, state: int, session: DuckBatch, judge: _Judge, pairs: int
) -> None:
    """``last_values``: from each matched line's key-values (each once, at its first place)."""
    kinds = {"uid": pa.int64(), "k": pa.int64(), "code": pa.int32(), "pos": pa.int32()}
    session.keep(
        "pass_pairs", pa.table(_fetched(lambda *at: lib.pass_pairs(state, *at), kinds, pairs))
    )
    known = list(judge.pairs)
    session.keep(
        "pass_pair_values",
        pa.table(
            {
                "code": pa.array([judge.pairs[p][0] for p in known], pa.int32()),
                "key": pa.array([p[0] for p in known], pa.string()),
                "value": pa.array([p[1] for p in known], pa.string()),
            }
        ),
    )
