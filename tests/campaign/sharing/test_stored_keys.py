"""Stored keys as the bulk engine reads them: one profile per digest, streamed to Parquet."""

from __future__ import annotations

import pyarrow as pa

from audiencehub.campaign.sharing.stored_keys import _first_per_digest


def _batch(pairs: list[tuple[bytes, int]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([d for d, _ in pairs], pa.binary()), pa.array([p for _, p in pairs], pa.int64())],
        names=["digest", "profile_id"],
    )


def test_the_lowest_profile_keeps_a_digest_even_across_batches():
    """Keys come in (digest, profile) order: a digest's first row is its lowest profile,
    also when its duplicates start the next batch."""
    a, b, c = b"a" * 32, b"b" * 32, b"c" * 32
    batches = [
        _batch([(a, 1), (a, 4), (b, 2)]),
        _batch([(b, 7), (b, 9), (c, 3)]),  # b's duplicates begin this batch
        _batch([]),
        _batch([(c, 8)]),  # and c's, after an empty one
    ]
    kept = pa.Table.from_batches(list(_first_per_digest(iter(batches))))
    assert list(zip(kept["digest"].to_pylist(), kept["profile_id"].to_pylist(), strict=True)) == [
        (a, 1),
        (b, 2),
        (c, 3),
    ]


def test_batches_without_duplicates_pass_unchanged():
    """The common case costs no copy: the batch itself goes on."""
    batch = _batch([(bytes([i]) * 32, i) for i in range(5)])
    [out] = list(_first_per_digest(iter([batch])))
    assert out is batch
