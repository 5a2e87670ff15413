"""Column types both systems' schemas and migrations share.

A migration may import this module: these types are part of the storage
contract and change only with a migration of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, String
from sqlalchemy.types import TypeDecorator

__all__ = ["ID", "UTCDateTime", "key_text", "stored_utc"]

# A surrogate key: 64-bit on PostgreSQL, and SQLite's INTEGER so that an
# INTEGER PRIMARY KEY stays the rowid (SQLite autoincrements only that type).
ID = BigInteger().with_variant(Integer(), "sqlite")


def key_text(length: int) -> String:
    """Text that identifies a row (an upsert key, a CRM id), compared byte by byte.

    On PostgreSQL the column is ``COLLATE "C"``: a key is looked up by equality and never
    sorted for people, and its B-tree then compares with ``memcmp`` instead of the
    locale's rules (building the index of a million emails took 1.8 s with the
    database's ``C.UTF-8`` and 1.1 s with ``C``). SQLite compares bytes already.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def stored_utc(moment: datetime) -> datetime:
    """A timestamp read back from the database, as an aware UTC datetime.

    SQLite hands ``DateTime(timezone=True)`` values back naive; they were written in UTC.
    """
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that reads back aware on every engine.

    PostgreSQL keeps the offset; SQLite stores the UTC text and hands it back
    naive, which an API would then send without its zone (not an RFC 3339
    date-time). The DDL is the plain type's, so no migration changes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Mark a naive value as the UTC it was written in."""
        return None if value is None else stored_utc(value)
