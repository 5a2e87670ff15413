"""Tables of the campaign database (SQLAlchemy Core; migrations mirror them)."""

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
    text,
)

from audiencehub.db.audit_trail import audit_table
from audiencehub.db.job_runs import job_runs_table
from audiencehub.db.types import ID, UTCDateTime, key_text
from audiencehub.spool import spool_marks_table

__all__ = [
    "audience_addresses",
    "audience_members",
    "audiences",
    "audit_log",
    "deliveries",
    "external_accounts",
    "job_runs",
    "key_schemes",
    "message_templates",
    "messages",
    "metadata",
    "people_connection",
    "processed_batches",
    "profile_keys",
    "profiles",
    "share_exports",
    "shared_data_sources",
    "shares",
    "spool_marks",
    "tracking_log",
    "trigger_events",
    "user_tokens",
    "users",
    "visitor_links",
    "workflow_runs",
    "workflow_schedules",
    "workflow_sets",
]

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.

profiles = Table(
    "profiles",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("crm_id", key_text(255), unique=True),  # compared byte by byte: migration c0020
    Column("email", String(320)),
    # trim + lowercase of email: the upsert key and the regular declared ID
    Column("email_key", key_text(320), index=True),
    Column("mobile_phone", String(32)),  # E.164
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("country", String(2)),
    Column("birth_date", Date),
    Column("email_opt_out", Boolean, nullable=False, default=False),
    Column("sms_opt_out", Boolean, nullable=False, default=False),
    Column("blocklisted", Boolean, nullable=False, default=False),
    # when the person opted out through an unsubscribe link: an import's "no" keeps it
    Column("email_unsubscribed_at", UTCDateTime),
    Column("sms_unsubscribed_at", UTCDateTime),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The primary key is the matching path (scheme, kind, digest) and the table is
# stored in that order (WITHOUT ROWID on SQLite): one B-tree a key, no second
# index to keep up. Keys of one profile are found from its email and phone.
# No foreign key to profiles: checking one per key row cost a large import more
# than the keys' own index; the profile store keeps the rule instead (see
# campaign.profiles.key_stage and migration c0019).
profile_keys = Table(
    "profile_keys",
    metadata,
    Column("scheme", String(16), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("digest", LargeBinary(32), primary_key=True),
    Column("profile_id", ID, primary_key=True),
    sqlite_with_rowid=False,
)

key_schemes = Table(
    "key_schemes",
    metadata,
    Column("scheme", String(16), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
    # replaced by a fresh random value in every transaction that writes this
    # scheme's keys: names the columnar copies of campaign.sharing.stored_keys
    Column("keys_token", String(32)),
)

shared_data_sources = Table(
    "shared_data_sources",
    metadata,
    Column("id", String(32), primary_key=True),  # defaultDataSource or AMCDS<n>
    Column("label", String(255), nullable=False),
    Column("alias_dpid", Integer),
    Column("destination_id", Integer, index=True),
    Column("priority", Integer, nullable=False),
    Column("reconciliation", String(16), nullable=False),  # visitor | declared
    Column("reconciliation_key", String(32)),  # email | mobile_phone | crm_id
    Column("hashing", String(16)),
    Column("encryption", String(16)),  # aes-cbc | aes-siv
    Column("channel", String(8)),  # email | sms | other
    Column("secret", LargeBinary),  # key material, encrypted with the workspace key
    Column("terms_accepted_by", String(255)),
    Column("terms_accepted_at", UTCDateTime),
    Column("last_file_processed", String(1024)),
    Column("created_at", UTCDateTime, nullable=False),
)

audiences = Table(
    "audiences",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("type", String(16), nullable=False),  # shared | file
    Column("segment_id", Integer),
    Column("data_source_id", String(32), ForeignKey("shared_data_sources.id")),
    Column("force_profile", Boolean, nullable=False),
    Column("last_report", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Every (audience, profile) pair, file audiences' profiles included: what targeting,
# workflows, deliveries and shares read.
audience_members = Table(
    "audience_members",
    metadata,
    Column("audience_id", ID, ForeignKey("audiences.id"), primary_key=True),
    Column("profile_id", ID, primary_key=True),
    sqlite_with_rowid=False,
)

# A file audience's members: decrypted addresses, with their profile when there is one.
audience_addresses = Table(
    "audience_addresses",
    metadata,
    Column("audience_id", ID, ForeignKey("audiences.id"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("profile_id", ID),
    sqlite_with_rowid=False,
)

visitor_links = Table(
    "visitor_links",
    metadata,
    Column("visitor_id", String(38), primary_key=True),
    # its own index too: a profile's erasure finds its links by it
    Column("profile_id", ID, ForeignKey("profiles.id"), primary_key=True, index=True),
    Column("linked_at", UTCDateTime, nullable=False),
)

external_accounts = Table(
    "external_accounts",
    metadata,
    Column("name", String(32), primary_key=True),  # importSharedAudience | exportSharedAudience
    Column("url", Text, nullable=False),
    Column("endpoint_url", Text),
    Column("region", String(32)),
    Column("server_side_encryption", Boolean, nullable=False),
    Column("access_key_id", String(128)),  # S3; none: the AWS environment's credentials
    Column("secret", LargeBinary),  # the secret access key, sealed with the workspace key
)

processed_batches = Table(
    "processed_batches",
    metadata,
    Column("batch", String(1024), primary_key=True),
    Column("processed_at", UTCDateTime, nullable=False),
    Column("report", JSON, nullable=False),
    # what the batch name says, so a batch older than the last full one can be told
    Column("destination_id", Integer),
    Column("timestamp_ms", BigInteger),
    Column("full", Boolean),
)

audit_log = audit_table("audit_log", metadata, Column("data_source_id", String(32)))

people_connection = Table(
    "people_connection",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("people_url", Text, nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("secret", LargeBinary, nullable=False),  # sealed with the workspace key
    Column("org_id", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
)

shares = Table(
    "shares",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("source_audience_id", ID, ForeignKey("audiences.id"), nullable=False),
    Column("segment_id", Integer, nullable=False),
    Column("trait_code", String(255), nullable=False),
    Column("data_source_id", String(32), ForeignKey("shared_data_sources.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

share_exports = Table(
    "share_exports",
    metadata,
    Column("share_id", ID, ForeignKey("shares.id"), primary_key=True),
    Column("profile_id", ID, primary_key=True),
    Column("exported_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)

workflow_runs = Table(
    "workflow_runs",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("status", String(16), nullable=False),
    Column("activities", JSON, nullable=False),  # per activity: inputs and output counts
)

# Working sets of workflow runs: the profiles on each transition, kept in the database.
workflow_sets = Table(
    "workflow_sets",
    metadata,
    Column("run_id", ID, ForeignKey("workflow_runs.id"), primary_key=True),
    Column("output", String(255), primary_key=True),
    Column("profile_id", ID, primary_key=True),
    sqlite_with_rowid=False,
)

tracking_log = Table(
    "tracking_log",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # click | open
    Column("delivery_id", ID),
    Column("profile_id", ID, index=True),
    Column("link", Integer),
    Column("url", Text),
    Column("visitor_id", String(64)),  # a visitor ID, or campaign's own cookie id
    Column("user_agent", Text),
    Column("at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("channel", String(8), nullable=False),  # email | sms
    Column("kind", String(16), nullable=False),  # delivery | trigger
    Column("created_at", UTCDateTime, nullable=False),
    # one delivery per trigger template: its messages, clicks and opens add up there
    Index(
        "ix_deliveries_trigger",
        "name",
        unique=True,
        sqlite_where=text("kind = 'trigger'"),
        postgresql_where=text("kind = 'trigger'"),
    ),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("delivery_id", ID, ForeignKey("deliveries.id"), index=True),
    Column("delivery", String(255), nullable=False),  # the delivery's name (or the trigger's)
    Column("channel", String(8), nullable=False),  # email | sms
    Column("profile_id", ID, index=True),
    Column("address", String(320), nullable=False),
    Column("status", String(8), nullable=False),  # sent | failed | skipped
    Column("reason", Text),
    Column("at", UTCDateTime, nullable=False),
)

trigger_events = Table(
    "trigger_events",
    metadata,
    Column("idempotency_key", String(255), primary_key=True),
    Column("message_id", ID, ForeignKey("messages.id")),
    Column("at", UTCDateTime, nullable=False),
)

message_templates = Table(
    "message_templates",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("channel", String(8), nullable=False),  # email | sms
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
)

workflow_schedules = Table(
    "workflow_schedules",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("document", JSON, nullable=False),
    Column("cron", String(255), nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("last_run_id", ID),
)

# runs of importSharedAudience and exportSharedAudience, as the people service records its own
job_runs = job_runs_table("campaign_job_runs", metadata)

# how far each online-write spool has been applied (see audiencehub.spool)
spool_marks = spool_marks_table("campaign_spool_marks", metadata)

# the people who use campaign (migration c0017): argon2 password hashes, never passwords
users = Table(
    "campaign_users",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
)

# personal API tokens: the SHA-256 of the token (shown once), never the token
user_tokens = Table(
    "campaign_user_tokens",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("user_id", ID, ForeignKey("campaign_users.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# signed-in sessions of the web UI (migration c0018): the SHA-256 of the cookie, never the cookie
user_sessions = Table(
    "campaign_user_sessions",
    metadata,
    Column("session_hash", LargeBinary(32), primary_key=True),
    Column("user_id", ID, ForeignKey("campaign_users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
