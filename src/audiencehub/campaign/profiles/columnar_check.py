"""A profile file read and checked by columns in DuckDB, for the imports that write by sets.

The row-by-row import (:mod:`.file_import`) checks each field in Python, about 60
CPU microseconds a row with the write. On PostgreSQL two imports write a checked
file by sets instead: the first load into an empty store (:mod:`.first_load`) and
the merge with stored profiles (:mod:`.bulk_merge`). Both read and check it here:

- DuckDB reads the file as lines and checks the plain rows by columns: the
  same tests as the Python checks' fast paths, written as SQL in
  :mod:`.plain_rows`, and computes each key's SHA-256;
- phone numbers go through the plain-number steps of
  :mod:`audiencehub.identity.numbering` written as SQL; the few those leave go
  to :func:`~audiencehub.identity.normalize.to_e164` itself, once a distinct
  number and region (as do emails under a scheme's own rules, such as Gmail's);
- every row the columns do not accept (a quote inside a field, white space
  other than spaces, a width, a value a fast path leaves to the library) is
  checked by the row import's own validator: the same result, the same reason.

What the whole file decides (a key on several rows, a CRM id two keys claim) is
:mod:`.checked_file`'s part.

Files it cannot read line by line the same way (a quoted field over several
lines, bytes that are not UTF-8, a damaged gzip stream) are left to the row
import, which says what is wrong with them.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from audiencehub.campaign.profiles.fields import ColumnMapping, ProfileField
from audiencehub.campaign.profiles.plain_rows import (
    column_checks,
    ends_in_quotes,
    plain_line,
)
from audiencehub.campaign.profiles.rows import ProfileChange, RejectedRow, RowValidator
from audiencehub.engines.session import copy_table, sql_text
from audiencehub.errors import InvalidInput
from audiencehub.formats.compression import gzip_inflated
from audiencehub.identity.normalize import OWN_EMAIL_RULES, normalize_e164, normalize_email, to_e164
from audiencehub.identity.numbering import read_plain_numbers
from audiencehub.identity.schemes import HashScheme, IdKind

__all__ = ["ColumnarCheck", "Reject"]

_POOL_LEAST = 20_000  # distinct values worth handing to the worker processes
_MAP_BATCH = 200_000  # distinct values mapped by Python at a time
# Rows the validator checks, or the row import's merge applies, one by one, kept in memory
# as Python objects until the write: beyond this many the row import takes the whole file.
_SLOW_MOST = 200_000


Reject = Callable[[RejectedRow], None]


class ColumnarCheck:
    """One file read and checked by columns: the DuckDB session its writer reads from.

    After :meth:`check`, the table ``checked`` holds each plain line's fields and
    whether the columns accept them (``plain``), ``normals`` the normal form of each
    accepted line's keys; :attr:`changes` holds the rows the validator accepted and
    :attr:`rejected` those it refused. :class:`.checked_file.CheckedFile` splits them
    for the writers.
    """

    def __init__(
        self,
        path: Path,
        *,
        gzipped: bool,
        delimiter: str,
        validator: RowValidator,
        scratch: Path,
        memory_limit: str,
        cores: int,
    ) -> None:
        self.path, self.gzipped, self.delimiter = path, gzipped, delimiter
        self.validator = validator
        self.mapping: ColumnMapping = validator.mapping
        self.scratch = scratch
        # forked before DuckDB starts its threads: normalising emails by a scheme's own
        # rules (Gmail dots and tags), which only Python knows, runs on every core
        mapped = ProfileField.EMAIL in self.mapping.mapped_fields and any(
            scheme in OWN_EMAIL_RULES for scheme in validator.schemes
        )
        self.cores = cores
        self._pool = (
            multiprocessing.get_context("fork").Pool(cores) if mapped and cores > 1 else None
        )
        self.db = duckdb.connect(
            config={
                "threads": cores,
                "memory_limit": memory_limit,
                "temp_directory": str(scratch),
                "preserve_insertion_order": True,  # line numbers are read from the order
            }
        )
        self.read = 0
        self.rejected: list[RejectedRow] = []
        self.changes: list[ProfileChange] = []  # merged row by row, in file order

    def close(self) -> None:
        self.db.close()
        self._close_pool()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    @staticmethod
    def too_many(rows: int) -> bool:
        """Whether ``rows`` held as Python objects until the write pass :data:`_SLOW_MOST`:
        then the row import, which streams them, takes the whole file."""
        return rows > _SLOW_MOST

    # --- reading ---------------------------------------------------------------------

    def check(self) -> bool:
        """Read and check the file, every line judged; False when it must go through the
        row import instead."""
        with ExitStack() as stack:
            source = self.path
            if self.gzipped:
                inflated = gzip_inflated(self.path, self.scratch / "inflated.txt")
                # DuckDB reads a cut-short stream without a word: the row import says
                if (plain := stack.enter_context(inflated)) is None:
                    return False
                source = plain
            try:
                self._read_lines(source)
            except duckdb.Error:
                return False  # not UTF-8, unreadable: the row import names the problem
        [(count,)] = self.db.execute("SELECT count(*) FROM body WHERE NOT simple").fetchall()
        if count > _SLOW_MOST:
            return False  # mostly rows only the validator can judge: the row import is for them
        others = self.db.execute(  # a quote inside a field, white space other than spaces
            "SELECT line, text FROM body WHERE NOT simple ORDER BY line"
        ).fetchall()
        for _, text in others:
            if ends_in_quotes(text, self.delimiter):
                return False  # a field spans lines: the row import reads those
        other_lines = set(others)
        [(self.read,)] = self.db.execute("SELECT count(*) FROM body WHERE simple").fetchall()
        self._check_columns()
        self._check_phones()
        self._check_keys()
        self._close_pool()
        [(count,)] = self.db.execute("SELECT count(*) FROM checked WHERE NOT plain").fetchall()
        if len(others) + count > _SLOW_MOST:
            return False
        unchecked = self.db.execute(
            "SELECT line, text FROM checked JOIN body USING (line) WHERE NOT plain ORDER BY line"
        ).fetchall()
        for line, text in sorted(others + unchecked):
            results = self.validator.validate_block(line, text + "\n", self.delimiter)
            if (line, text) in other_lines:
                self.read += len(results)  # a line holding only "" is no record
            for result in results:
                if isinstance(result, RejectedRow):
                    self.rejected.append(result)
                else:
                    self.changes.append(result)
        return True

    def _read_lines(self, source: Path) -> None:
        """Each non-empty line after the header of the plain file ``source``, numbered,
        and whether it is plain.

        The lines are stored as read first, and numbered by their place in that table:
        numbering them as they are read (``row_number() OVER ()``) would leave the
        marking of plain lines to one thread (1.2 s a million lines against 0.7 s)."""
        self.db.execute(
            f"""
            CREATE TEMP TABLE lines AS
            SELECT text
            FROM read_csv({sql_text(str(source))}, columns = {{'text': 'VARCHAR'}},
                          header = false, delim = chr(0), quote = '', escape = '',
                          auto_detect = false, strict_mode = false, compression = 'none')
            """
        )
        self.db.execute(  # the table keeps the order it was read in: rowid 0 is line 1
            f"""
            CREATE TABLE body AS
            SELECT rowid + 1 AS line, text, {plain_line(self.delimiter)} AS simple
            FROM lines
            WHERE rowid > 0 AND text IS NOT NULL AND text <> ''
            """
        )
        self.db.execute("DROP TABLE lines")

    def _check_columns(self) -> None:
        """One row per simple line: its fields, and whether the column checks accept it.

        The line's text stays in ``body`` alone, read again for the few rows the
        validator or the row import's merge takes: carried here too, it doubled the
        table DuckDB must hold (a 5 M-row file spilled it to disk)."""
        columns, tests = column_checks(self.mapping, self.validator.default_region)
        self.db.execute(
            f"""
            CREATE TABLE checked AS
            SELECT * EXCLUDE (width), {" AND ".join(tests)} AS plain
            FROM (
                SELECT line, {", ".join(columns)}
                FROM (
                    SELECT line, string_split(text, {sql_text(self.delimiter)}) AS f
                    FROM body WHERE simple
                )
            )
            """
        )

    def _check_phones(self) -> None:
        """Each distinct number and region read by the plain-number steps in SQL, or
        else by :func:`to_e164` itself; a number it refuses sends its row to the
        validator, for the reason."""
        if ProfileField.MOBILE_PHONE not in self.mapping.mapped_fields:
            return
        read_plain_numbers(
            self.db,
            "SELECT DISTINCT phone_text AS text, region FROM checked "
            "WHERE plain AND phone_text IS NOT NULL",
            "plain_phones",
        )
        self._map_distinct(  # the numbers only the library reads, or refuses
            "SELECT text, region FROM plain_phones WHERE e164 IS NULL",
            ("text", "region"),
            _e164_each,
            None,
            "other_phones",
        )
        self.db.execute(
            "CREATE TABLE phones AS SELECT text, region, e164 AS result FROM plain_phones "
            "WHERE e164 IS NOT NULL UNION ALL SELECT * FROM other_phones"
        )
        # Updated in place: rewriting the wide table of checked rows for one column cost
        # 1.2 s to 1.4 s a million rows, against 0.4 s to 0.5 s.
        self.db.execute("ALTER TABLE checked ADD COLUMN mobile_phone VARCHAR")
        self.db.execute(
            "UPDATE checked c SET mobile_phone = p.result FROM phones p "
            "WHERE p.text = c.phone_text AND p.region IS NOT DISTINCT FROM c.region"
        )
        self.db.execute(
            "UPDATE checked SET plain = false "
            "WHERE plain AND phone_text IS NOT NULL AND mobile_phone IS NULL"
        )

    def _map_distinct(
        self,
        query: str,
        names: tuple[str, ...],
        function: Callable[[tuple[Any, list[tuple[Any, ...]]]], list[str | None]],
        argument: Any,
        table: str,
    ) -> None:
        """The distinct inputs ``query`` gives, each mapped by ``function`` (a Python
        function no SQL can stand for), as ``table`` (the inputs, then ``result``). A
        batch at a time, spread over the worker processes: memory stays flat."""
        columns = ", ".join(f"{name} VARCHAR" for name in (*names, "result"))
        self.db.execute(f"CREATE TEMP TABLE {table} ({columns})")  # there, batches or none
        reader = self.db.cursor()
        reader.execute(query)
        cores = self.cores
        while batch := reader.fetchmany(_MAP_BATCH):
            if self._pool is not None and len(batch) >= _POOL_LEAST:
                step = -(-len(batch) // cores)
                parts = [(argument, batch[i : i + step]) for i in range(0, len(batch), step)]
                results = [r for part in self._pool.map(function, parts) for r in part]
            else:
                results = function((argument, batch))
            arrays = [pa.array([row[i] for row in batch], pa.string()) for i in range(len(names))]
            mapped = pa.table([*arrays, pa.array(results, pa.string())], names=[*names, "result"])
            copy_table(self.db, table, mapped)
        reader.close()

    def _key_sources(self) -> list[tuple[HashScheme, IdKind]]:
        mapped = self.mapping.mapped_fields
        kinds = [
            kind
            for kind, field in (
                (IdKind.EMAIL, ProfileField.EMAIL),
                (IdKind.PHONE, ProfileField.MOBILE_PHONE),
            )
            if field in mapped
        ]
        return [(s, k) for k in kinds for s in self.validator.schemes if k in s.kinds]

    def _check_keys(self) -> None:
        """The normal form each key is hashed from, per scheme: in SQL where it is the
        plain form, else from the normaliser itself once per distinct value (a value it
        refuses sends the row to the validator)."""
        selects = ["line"]
        for scheme, kind in self._key_sources():
            column = f"key_{scheme.value}_{kind.value}"
            if kind is IdKind.EMAIL and scheme not in OWN_EMAIL_RULES:
                selects.append(f"lower(email) AS {column}")
                continue
            if kind is IdKind.PHONE and scheme is HashScheme.GOOGLE:
                selects.append(f"mobile_phone AS {column}")
                continue
            if kind is IdKind.PHONE and scheme is HashScheme.META:
                selects.append(f"substr(mobile_phone, 2) AS {column}")
                continue
            source = "email" if kind is IdKind.EMAIL else "mobile_phone"
            self._map_distinct(
                f"SELECT DISTINCT {source} FROM checked WHERE plain AND {source} IS NOT NULL",
                ("value",),
                _normal_each,
                (scheme, kind),
                f"map_{column}",
            )
            self.db.execute(
                f"""
                CREATE OR REPLACE TABLE checked AS
                SELECT c.* EXCLUDE (plain), m.result AS {column},
                       c.plain AND (c.{source} IS NULL OR m.result IS NOT NULL) AS plain
                FROM checked c LEFT JOIN map_{column} m ON m.value = c.{source}
                """
            )
            selects.append(column)
        self.db.execute(
            f"CREATE TABLE normals AS SELECT {', '.join(selects)} FROM checked WHERE plain"
        )


def _e164_each(job: tuple[None, list[tuple[Any, ...]]]) -> list[str | None]:
    """Each (number, region)'s E.164 form, or ``None`` when :func:`to_e164` refuses it."""
    numbers: list[str | None] = []
    for text, region in job[1]:
        try:
            numbers.append(to_e164(text, region))
        except (InvalidInput, ValueError):
            numbers.append(None)
    return numbers


def _normal_each(job: tuple[tuple[HashScheme, IdKind], list[tuple[Any, ...]]]) -> list[str | None]:
    """Each value's normal form under the scheme, or ``None`` when it is refused."""
    (scheme, kind), values = job
    normals: list[str | None] = []
    for (value,) in values:
        try:
            normals.append(
                normalize_email(value, scheme)
                if kind is IdKind.EMAIL
                else normalize_e164(value, scheme)
            )
        except (InvalidInput, ValueError):
            normals.append(None)
    return normals
