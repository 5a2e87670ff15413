"""Column types both systems' schemas and migrations share.

A migration may import this module: these types are part of the storage
contract and change only with a migration of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer

__all__ = ["ID", "stored_utc"]

# A surrogate key: 64-bit on PostgreSQL, and SQLite's INTEGER so that an
# INTEGER PRIMARY KEY stays the rowid (SQLite autoincrements only that type).
ID = BigInteger().with_variant(Integer(), "sqlite")


def stored_utc(moment: datetime) -> datetime:
    """A timestamp read back from the database, as an aware UTC datetime.

    SQLite hands ``DateTime(timezone=True)`` values back naive; they were written in UTC.
    """
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
