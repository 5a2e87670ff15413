"""ETags and If-Match: two editors of one thing do not overwrite each other.

A representation's ETag is a digest of its JSON form. A client sends the ETag it
read in ``If-Match`` with its change; if the thing changed meanwhile, the change
is refused (412) and nothing is written. ``If-Match`` is optional, as in most
APIs: a script that does not send it takes the last-writer-wins it asked for.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from fastapi import Response
from fastapi.encoders import jsonable_encoder

from audiencehub.errors import Changed

__all__ = ["check_if_match", "etag_of", "with_etag"]

R = TypeVar("R")


def etag_of(representation: Any) -> str:
    """A strong ETag of what a GET answers for the thing."""
    body = json.dumps(jsonable_encoder(representation), sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def check_if_match(if_match: str | None, current: Any) -> None:
    """Refuse a change made on a stale copy: ``If-Match`` names none of the current ETags."""
    if if_match is None or if_match.strip() == "*":
        return
    given = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag_of(current) not in given:
        raise Changed(
            "it changed since you read it; nothing was written",
            hint="Read it again, apply your change to what it is now, and send its new ETag "
            "in If-Match.",
        )


def with_etag(response: Response, representation: R) -> R:
    """Set the ETag of ``representation`` on ``response`` and return the representation."""
    response.headers["ETag"] = etag_of(representation)
    return representation
