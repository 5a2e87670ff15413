"""An export's records resolved on Spark, for audiences too large for one process.

The database is read once (every share's pending records, by
:meth:`~audiencehub.campaign.sharing.export_records.Export.records`, as one
Arrow extract); Spark then groups them by profile, turns each profile's ID
material into the data source's ID with the same function the streaming
export calls (:func:`~audiencehub.campaign.sharing.shared_ids.declared_ids`,
run in Spark's Python workers through ``mapInArrow``, so hashing and
encryption are the reference code, not a re-implementation), counts every
outcome per share, and sorts the lines to send by profile. The driver reads
the sorted lines back and writes the inbound file as the streaming export
does: the same bytes.

On a cluster, the executors' Python needs audiencehub installed, and the
data source's key travels to them inside the task (as Spark ships every
closure); keep the cluster's network private.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, union_all

from audiencehub.campaign.sharing.data_sources import SharedDataSource
from audiencehub.campaign.sharing.export_records import Export
from audiencehub.engines import extract
from audiencehub.engines.bulk_settings import scratch_of
from audiencehub.engines.spark import SparkBatch, SparkSettings, spark_session
from audiencehub.files import scratch_folder
from audiencehub.identity.ciphers import DeclaredIdCipher

__all__ = ["SparkExport"]

_RECORDS = pa.schema(
    [
        ("share_id", pa.int64()),
        ("profile_id", pa.int64()),
        ("material", pa.string()),
        ("excluded", pa.bool_()),
    ]
)
_RESOLVED_SCHEMA = (
    "profile_id BIGINT, shares ARRAY<BIGINT>, material STRING, excluded BOOLEAN, user_id STRING"
)


def _with_ids(
    shared_id: Callable[[str], str | None],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function adding each profile's shared ID (None: it has none)."""

    def convert(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            materials = batch.column("material").to_pylist()
            excluded = batch.column("excluded").to_pylist()
            ids = [
                None if out or not material else (shared_id(material) or None)
                for material, out in zip(materials, excluded, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.array(ids, pa.string())],
                names=[*batch.schema.names, "user_id"],
            )

    return convert


class SparkExport(Export):
    """:class:`Export` with the records grouped, resolved and sorted on Spark."""

    def __init__(
        self,
        source: SharedDataSource,
        cipher: DeclaredIdCipher | None,
        group: list[dict[str, Any]],
        settings: SparkSettings,
    ) -> None:
        super().__init__(source, cipher, group)
        self.settings = settings

    def lines(self, connection: Connection) -> Iterator[str]:
        """Inbound lines in profile order, one per profile with an ID, every record counted."""
        query = union_all(*(self.records(share).order_by(None) for share in self.shares))
        records = extract(connection.engine, query.subquery().select())
        records = records.rename_columns(_RECORDS.names).cast(_RECORDS)
        with scratch_folder(scratch_of(connection.engine), "export-spark") as scratch:
            batch = SparkBatch(spark_session(self.settings), scratch)
            try:
                yield from self._resolved(batch, records)
            finally:
                batch.close()

    def _resolved(self, batch: SparkBatch, records: pa.Table) -> Iterator[str]:
        batch.register("records", records)
        grouped = batch.spark.sql(
            "SELECT profile_id, sort_array(collect_list(share_id)) AS shares, "
            "first(material) AS material, bool_or(excluded) AS excluded "
            "FROM records GROUP BY profile_id"
        )
        grouped.mapInArrow(_with_ids(self.shared_id()), _RESOLVED_SCHEMA).createOrReplaceTempView(
            "with_ids"
        )
        batch.create_table(
            "resolved",
            "SELECT profile_id, shares, user_id, CASE WHEN excluded THEN 'excluded' "
            "WHEN user_id IS NULL THEN 'no_id' ELSE 'sent' END AS outcome FROM with_ids",
        )
        for share_id, outcome, count in batch.rows(
            "SELECT share_id, outcome, count(*) FROM (SELECT explode(shares) AS share_id, "
            "outcome FROM resolved) GROUP BY share_id, outcome"
        ):
            self.count([int(share_id)], str(outcome), int(count))
        batch.create_table(
            "sent_lines",
            "SELECT profile_id, user_id, shares FROM resolved WHERE outcome = 'sent' "
            "ORDER BY profile_id",
        )
        traits: dict[tuple[int, ...], str] = {}
        # a global sort writes its ranges in part order: reading the parts by name is in order
        for part in sorted(batch.path("sent_lines").glob("part-*.parquet")):
            for chunk in pq.ParquetFile(part).iter_batches(batch_size=50_000):
                profile_ids = chunk.column("profile_id").to_pylist()
                user_ids = chunk.column("user_id").to_pylist()
                share_lists = chunk.column("shares").to_pylist()
                for profile_id, user_id, wanted in zip(
                    profile_ids, user_ids, share_lists, strict=True
                ):
                    yield self.line(profile_id, user_id, tuple(wanted), traits)
