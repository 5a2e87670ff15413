"""The process that reads SQLite for :func:`audiencehub.engines.extract` (see there why).

Run as a file (``python -I extract_worker.py``), not as a module of the package:
it imports only pyarrow and the ADBC driver, so it starts in a fifth of a second.
Reads one JSON request on stdin (``database``, ``sql``, ``target``) and writes
the result to ``target`` as an Arrow IPC stream, one record batch at a time.
"""

from __future__ import annotations

import json
import sys

import adbc_driver_sqlite.dbapi
import pyarrow as pa


def main() -> None:
    """Serve one request."""
    request = json.load(sys.stdin)
    with (
        adbc_driver_sqlite.dbapi.connect(request["database"], autocommit=True) as connection,
        connection.cursor() as cursor,
    ):
        # 1,024 rows a batch by default: 10 M keys would come in 9,766 pieces,
        # which every consumer (DuckDB's scan, Python loops) pays for
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "262144"})
        cursor.execute(request["sql"])
        reader = cursor.fetch_record_batch()
        with (
            pa.OSFile(request["target"], "wb") as sink,
            pa.ipc.new_stream(sink, reader.schema) as writer,
        ):
            for batch in reader:
                writer.write_batch(batch)


if __name__ == "__main__":
    main()
