"""Drop locations: the folders and S3 prefixes both systems exchange files through."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from audiencehub.drops.base import DropLocation, DropObject
from audiencehub.drops.folder import FolderDrop
from audiencehub.errors import InvalidInput

__all__ = ["DropLocation", "DropObject", "FolderDrop", "check_location", "open_drop"]


def open_drop(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    server_side_encryption: bool = False,
    credentials: tuple[str, str] | None = None,
) -> DropLocation:
    """The drop location at ``url``: a folder path, or ``s3://bucket/prefix``.

    ``credentials`` (access key id, secret) are for S3; without them the AWS
    environment's are used.
    """
    if url.startswith("s3://"):
        from audiencehub.drops.s3 import S3Drop  # boto3 loads only when S3 is used

        return S3Drop(
            url,
            endpoint_url=endpoint_url,
            region=region,
            server_side_encryption=server_side_encryption,
            credentials=credentials,
        )
    return FolderDrop(Path(url.removeprefix("file://")))


def check_location(url: str) -> None:
    """Refuse a location that is neither ``s3://BUCKET/PREFIX`` nor an absolute folder: a
    relative one would land wherever the server happens to run."""
    if url.startswith("s3://"):  # a missing bucket is the S3 drop's own clear error
        return
    if PurePosixPath(url.removeprefix("file://")).is_absolute():
        return
    raise InvalidInput(
        f"{url[:80]!r} is neither s3://BUCKET/PREFIX nor an absolute folder path",
        hint="Give the location in full.",
    )
