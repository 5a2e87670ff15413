"""The conventions both apps' REST APIs share: the app itself (problem details, size limit,
offline docs, operation ids), cursor pages and ETags.

A foundation package: it knows HTTP and no system, so the campaign and people
apps answer the same way without importing each other.
"""

from audiencehub.restapi.apps import create_api_app
from audiencehub.restapi.paging import Cursor, Limit, Page, decode_cursor, page_of, page_rows
from audiencehub.restapi.versions import check_if_match, etag_of, with_etag

__all__ = [
    "Cursor",
    "Limit",
    "Page",
    "check_if_match",
    "create_api_app",
    "decode_cursor",
    "etag_of",
    "page_of",
    "page_rows",
    "with_etag",
]
