"""The reference's limits on inbound files, checked from the listing before a byte is read.

Adobe's "Amazon S3 name and file size requirements for inbound data files" (Accepted file
sizes) caps a compressed file at 3 GB and an uncompressed one at 5 GB; the compression page
says 1 GB for ``.gz``. The docs disagree, so the larger documented figure is the limit (a
file the reference may accept is never refused here). A file over it refuses its batch
whole with the reason and the fix, and is not recorded, so the batch is retried once split.
"""

from __future__ import annotations

from audiencehub.drops import DropObject

__all__ = ["MAX_COMPRESSED_BYTES", "MAX_UNCOMPRESSED_BYTES", "size_problem"]

_GB = 1 << 30
MAX_COMPRESSED_BYTES = 3 * _GB
MAX_UNCOMPRESSED_BYTES = 5 * _GB


def size_problem(obj: DropObject) -> str | None:
    """Why ``obj`` is too large for an inbound file, or None."""
    compressed = obj.name.endswith(".gz")
    limit = MAX_COMPRESSED_BYTES if compressed else MAX_UNCOMPRESSED_BYTES
    if obj.size <= limit:
        return None
    kind = "compressed" if compressed else "uncompressed"
    return (
        f"{obj.key} is {obj.size:,} bytes, over the {limit // _GB} GB limit for {kind} "
        "inbound files; split it into numbered files of the same batch "
        "(ftp_dpm_<DPID>_<ts>.sync.1.gz, .2.gz...; 200-300 MB compressed is the optimal size)"
    )
