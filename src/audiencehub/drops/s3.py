"""A drop location in an S3 bucket (or any S3-compatible store, by endpoint URL).

Credentials are given (an external account's stored ones) or come from the
standard AWS environment and configuration chain; they are never logged or
returned. Errors say what is wrong in the user's terms (bad credentials, missing
bucket, no permission), name the location and say what to check.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from audiencehub.drops.base import DropObject
from audiencehub.errors import ConfigurationError, RemoteError

__all__ = ["S3Drop"]

_SPOOL_BYTES = 64 * 1024 * 1024  # larger uploads spill to disk before they are sent

#: S3 error codes -> (what is wrong, what to do)
_REASONS = {
    "NoSuchBucket": ("the bucket {bucket} does not exist", "Create it or fix the S3 URL."),
    "AccessDenied": (
        "no permission: the credentials may not use this location",
        "Allow them to list, read and write s3://{bucket}/{prefix}* (s3:ListBucket, "
        "s3:GetObject, s3:PutObject).",
    ),
    "AllAccessDisabled": ("no permission: all access to {bucket} is disabled", "Ask its owner."),
    "InvalidAccessKeyId": (
        "bad credentials: the store does not know the access key id",
        "Check --access-key-id of the account, or AWS_ACCESS_KEY_ID when it has none.",
    ),
    "SignatureDoesNotMatch": (
        "bad credentials: the secret access key does not belong to the access key id",
        "Check --secret-access-key of the account, or AWS_SECRET_ACCESS_KEY when it has none.",
    ),
    "NoCredentialsError": (
        "no credentials: the account has none and the AWS environment gives none",
        "Set --access-key-id and --secret-access-key on the account, or AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY.",
    ),
    "EndpointConnectionError": (
        "the S3 endpoint cannot be reached",
        "Check --endpoint-url and --region, and that the store is up.",
    ),
}
_REMOTE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"})


class S3Drop:
    """Objects under ``s3://bucket/prefix``; keys are relative to the prefix."""

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        server_side_encryption: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigurationError(f"{url!r} names no bucket", hint="Write s3://BUCKET/PREFIX.")
        self.url, self.bucket = url, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            region_name=region,
            aws_access_key_id=credentials[0] if credentials else None,
            aws_secret_access_key=credentials[1] if credentials else None,
        )
        self._upload_args = {"ServerSideEncryption": "AES256"} if server_side_encryption else None

    def _fail(self, exc: Exception, action: str) -> ConfigurationError | RemoteError:
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
        what, hint = _REASONS.get(
            code, (f"the store answered {code}", "Check the endpoint URL, region and credentials.")
        )
        where = {"bucket": self.bucket, "prefix": self.prefix}
        status = (
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if isinstance(exc, ClientError)
            else 0
        )
        # the store could not be reached or failed itself: a later run may succeed
        kind = RemoteError if code in _REMOTE or status >= 500 else ConfigurationError
        return kind(
            f"cannot {action} {self.url}: {what.format(**where)}", hint=hint.format(**where)
        )

    def list(self) -> Iterator[DropObject]:
        """Every object under the prefix, in key order."""
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            found = [
                DropObject(item["Key"][len(self.prefix) :], int(item["Size"]))
                for page in pages
                for item in page.get("Contents", [])
            ]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "list") from None
        yield from sorted(found, key=lambda obj: obj.key)

    @contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """Stream one object."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, f"read {key} from") from None
        try:
            yield body
        finally:
            body.close()

    @contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        """Buffer the object (in memory, then on disk past 64 MB) and upload it on success."""
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as buffer:
            yield buffer
            buffer.seek(0)
            try:
                self._client.upload_fileobj(
                    buffer, self.bucket, self.prefix + key, ExtraArgs=self._upload_args
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(exc, f"write {key} to") from None
