"""Tables of the people service database (SQLAlchemy Core; migrations mirror them).

The bulk state (trait realisations, key-values, memberships, published state) is
not here but in the people lake (:mod:`audiencehub.people.lake`).

Users are the IDs the service knows: devices (visitor IDs, data source 0, the
service's own namespace) and customer IDs of a data source. The ID graph links
devices to customer IDs with an authentication state and a last-seen time.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from audiencehub.db.audit_trail import audit_table
from audiencehub.db.job_runs import job_runs_table
from audiencehub.db.types import ID, UTCDateTime
from audiencehub.spool import spool_marks_table

__all__ = [
    "api_clients",
    "api_tokens",
    "audit_log",
    "data_sources",
    "destinations",
    "id_links",
    "ingested_files",
    "job_runs",
    "metadata",
    "opt_outs",
    "segment_sizes",
    "segments",
    "spool_marks",
    "traits",
    "users",
]

metadata = MetaData()

data_sources = Table(
    "people_data_sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # the DPID
    Column("name", String(255), nullable=False),
    Column("integration_code", String(255), unique=True),
    Column("id_type", String(16), nullable=False),
    Column("inbound_id_type", String(16), nullable=False),
    Column("authenticated_profile", Boolean, nullable=False),
    Column("share_enabled", Boolean, nullable=False),
    Column("export_controls", JSON, nullable=False),
    Column("retention_days", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


users = Table(
    "people_users",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("data_source_id", Integer, nullable=False),  # 0: a device (visitor ID)
    Column("external_id", String(512), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    UniqueConstraint("data_source_id", "external_id", name="uq_people_users_external"),
)

id_links = Table(
    "people_id_links",
    metadata,
    Column("device_user_id", ID, ForeignKey("people_users.id"), primary_key=True),
    Column("customer_user_id", ID, ForeignKey("people_users.id"), primary_key=True),
    Column("auth_state", Integer, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Index("ix_people_id_links_customer", "customer_user_id"),
)

opt_outs = Table(
    "people_opt_outs",
    metadata,
    Column("user_id", ID, ForeignKey("people_users.id"), primary_key=True),
    Column("data_source_id", Integer, primary_key=True),  # 0: every partner
    Column("created_at", UTCDateTime, nullable=False),
)

traits = Table(
    "people_traits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("data_source_id", Integer, ForeignKey("people_data_sources.id"), nullable=False),
    Column("integration_code", String(255)),
    Column("rule", JSON),  # rule traits: {key: value} conditions that must all hold
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("data_source_id", "integration_code", name="uq_people_traits_code"),
)

segments = Table(
    "people_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("rule", Text, nullable=False),
    Column("merge_rule", String(32), nullable=False),
    Column("data_source_id", Integer),  # the source a partner created it for, if any
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # members at the last materialisation, and when it ran (p0012); the members are in the lake
    Column("size", BigInteger),
    Column("sized_at", UTCDateTime),
)

# who read or erased what the service holds about an ID (p0014), and who changed its
# configuration: the trail an access or erasure request, or a change of where data goes,
# is accounted for by; an ID is kept as a digest, never as itself
audit_log = audit_table(
    "people_audit_log",
    metadata,
    Column("subject", String(64), index=True),  # the ID's digest, when it is about one
)

# a segment's size, day by day (p0013): the last materialisation of each day, for its
# population trend; rows older than the history kept are pruned as new ones come
segment_sizes = Table(
    "people_segment_sizes",
    metadata,
    Column("segment_id", Integer, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sized_at", UTCDateTime, nullable=False),
)

destinations = Table(
    "people_destinations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("drop_url", Text, nullable=False),
    Column("id_type", String(16), nullable=False),
    Column("data_source_id", Integer),
    Column("segments", JSON, nullable=False),
    Column("export_labels", JSON, nullable=False),
    Column("split_rows", Integer, nullable=False),
    Column("alias", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

ingested_files = Table(
    "people_ingested_files",
    metadata,
    Column("batch", String(1024), primary_key=True),
    Column("files", JSON, nullable=False),
    Column("receipt", JSON, nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
)

api_clients = Table(
    "people_api_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("secret_sha256", String(64), nullable=False),  # secrets are random 256-bit values
    Column("role", String(16), nullable=False, server_default="partner"),  # p0010
    Column("created_at", UTCDateTime, nullable=False),
    # p0015: a replaced secret, working until then, so a partner switches with no gap
    Column("previous_secret_sha256", String(64), nullable=True),
    Column("previous_secret_until", UTCDateTime, nullable=True),
)

api_tokens = Table(
    "people_api_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("client_id", String(64), ForeignKey("people_api_clients.client_id"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

job_runs = job_runs_table("people_job_runs", metadata)

# sessions of the web pages (migration p0011): the SHA-256 of the cookie, never the cookie
ui_sessions = Table(
    "people_ui_sessions",
    metadata,
    Column("session_hash", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), ForeignKey("people_api_clients.client_id"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# how far each online-write spool has been applied (see audiencehub.spool)
spool_marks = spool_marks_table("people_spool_marks", metadata)
