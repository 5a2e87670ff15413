"""Tables of the campaign database (SQLAlchemy Core; migrations mirror them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

__all__ = ["key_schemes", "metadata", "profile_keys", "profiles"]

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
_ID = BigInteger().with_variant(Integer(), "sqlite")

profiles = Table(
    "profiles",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("crm_id", String(255), unique=True),
    Column("email", String(320)),
    # trim + lowercase of email: the upsert key and the regular declared ID
    Column("email_key", String(320), index=True),
    Column("mobile_phone", String(32)),  # E.164
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("country", String(2)),
    Column("birth_date", Date),
    Column("email_opt_out", Boolean, nullable=False, default=False),
    Column("sms_opt_out", Boolean, nullable=False, default=False),
    Column("blocklisted", Boolean, nullable=False, default=False),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The primary key is the matching path (scheme, kind, digest) and the table is
# stored in that order (WITHOUT ROWID on SQLite): one B-tree a key, no second
# index to keep up. Keys of one profile are found from its email and phone.
profile_keys = Table(
    "profile_keys",
    metadata,
    Column("scheme", String(16), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("digest", LargeBinary(32), primary_key=True),
    Column("profile_id", _ID, ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True),
    sqlite_with_rowid=False,
)

key_schemes = Table(
    "key_schemes",
    metadata,
    Column("scheme", String(16), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)
