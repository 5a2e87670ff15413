"""CSV downloads streamed as they are read: an audience's or a segment's members run to
millions of rows, which are written a batch at a time, never gathered first."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

__all__ = ["csv_download", "download_name"]

# rows written to the answer at a time
_BATCH = 5_000


def download_name(text: str, fallback: str) -> str:
    """A file name for ``text`` that no browser or header reads two ways: letters and digits
    kept, anything else a dash."""
    return "".join(c if c.isalnum() else "-" for c in text)[:80] or fallback


def csv_download(
    header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str
) -> StreamingResponse:
    """``rows`` under ``header`` as a CSV attachment named ``filename`` (made by
    :func:`download_name`). ``rows`` is read only as the answer is sent: whatever it opens
    (a connection, a lake session) should be opened inside it, and what must fail as a
    404 checked before."""

    def lines() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for count, row in enumerate(rows, 1):
            writer.writerow(row)
            if count % _BATCH == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
