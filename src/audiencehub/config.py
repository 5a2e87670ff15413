"""Workspace settings: an ``audiencehub.toml`` file, overridden by ``AUDIENCEHUB_*`` variables.

A workspace is a folder holding that file and, in the embedded default, the two
SQLite databases. Settings are built by :func:`load_settings` (no import-time
singleton), so tests can point them anywhere.
"""

from __future__ import annotations

import os
import re
import tomllib
from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from audiencehub.errors import ConfigurationError, WorkspaceNotFound

__all__ = [
    "CONFIG_FILE",
    "Settings",
    "find_workspace",
    "load_settings",
    "normalize_db_url",
    "placeholder_reason",
]

CONFIG_FILE = "audiencehub.toml"
_SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def normalize_db_url(url: str) -> str:
    """Check a database URL and pin PostgreSQL URLs to the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"{url!r} is not a database URL",
            hint="Use sqlite:///path/to/file.db or postgresql://user@host:5432/dbname.",
        ) from None
    if parsed.get_backend_name() not in _SUPPORTED_BACKENDS:
        raise ConfigurationError(
            f"database backend {parsed.get_backend_name()!r} is not supported",
            hint="audiencehub runs on SQLite (embedded) or PostgreSQL.",
        )
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# Values people leave in a settings file meaning "fill this in later".
_PLACEHOLDERS = frozenset(
    {
        "changeme", "change-me", "change_me", "secret", "password", "passw0rd", "passwd",
        "placeholder", "example", "default", "admin", "test", "token", "todo", "tbd",
        "none", "null", "dummy", "fixme", "1234", "12345", "123456", "12345678",
    }
)  # fmt: skip
_PLACEHOLDER_SHAPES = re.compile(
    r"x+|\*+|0+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|(your|replace|insert)[-_ ].*|change[-_ ]?me.*"
)


def placeholder_reason(value: str) -> str | None:
    """Why ``value`` looks like a placeholder rather than a real secret (None if it does not).

    The reason never quotes the value: a real secret that happens to look like a
    placeholder must not end up in a terminal or a log.
    """
    lowered = value.strip().lower()
    if not lowered:
        return "it is empty"
    if lowered in _PLACEHOLDERS or _PLACEHOLDER_SHAPES.fullmatch(lowered):
        return "it is a placeholder left where a secret belongs"
    return None


class Settings(BaseSettings):
    """Everything a command needs to know about where its data lives."""

    model_config = SettingsConfigDict(env_prefix="AUDIENCEHUB_", extra="forbid")

    workspace: Path
    # repr=False: a URL may hold a password, and a settings object can end up in a log
    campaign_db_url: str = Field(default="", repr=False)
    people_db_url: str = Field(default="", repr=False)
    # where the people service's bulk state (a DuckLake: Parquet files) is kept: a folder
    # or s3://bucket/prefix/; by default WORKSPACE/people_lake beside a SQLite database
    people_lake_path: str = ""
    # DuckDB's memory limit in bulk jobs; beyond it they spill to a scratch folder
    bulk_memory_limit: str = Field(default="1GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*[KMGT]i?B$")
    # what the compiled inbound pass's tables may take; a batch needing more is read by
    # DuckDB's SQL plan, which spills (docs/people-lake.md)
    inbound_pass_memory_limit: str = Field(
        default="2GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*[KMGT]i?B$"
    )
    # where bulk jobs make their scratch folders (staged and inflated copies of batches,
    # spills): the system's temporary folder by default; relative to the workspace
    scratch_path: Path | None = None
    # how long the lake keeps old snapshots: what `people segments show --at` can reach
    lake_history_days: int = Field(default=30, ge=1, le=3650)
    # where batch jobs run: DuckDB in the process, or Spark (the spark extra) for data
    # beyond one machine; Spark's master URL and settings (spark.* keys) when it is Spark
    bulk_engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict)
    default_region: str | None = None
    # where campaign drops inbound files for the people service (exportSharedAudience)
    people_inbound_drop: str = ""
    s3_endpoint_url: str | None = None
    # deliveries: with no SMTP host, messages are written to WORKSPACE/outbox as .eml files
    tracking_base_url: str = "http://127.0.0.1:8080"
    tracking_domain: str | None = None
    # days a tracked link, open pixel or unsubscribe link stays valid
    tracking_token_days: int = Field(default=90, ge=1, le=3650)
    mail_from: str = "audiencehub <no-reply@localhost>"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_security: str = "none"  # none | starttls | tls
    smtp_user: str | None = None
    # prefer AUDIENCEHUB_SMTP_PASSWORD over the file
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_ca_file: str | None = None  # a CA bundle to trust besides the system's (private relays)
    sms_gateway_url: str | None = None  # with none, SMS go to WORKSPACE/outbox as .sms.json
    sms_gateway_token: str | None = Field(default=None, repr=False)
    # bearer token of campaign's API (AUDIENCEHUB_API_TOKEN)
    api_token: str | None = Field(default=None, repr=False)
    # largest request body either app reads; a larger one is refused before it is read
    max_request_bytes: int = Field(default=1_048_576, ge=1_024)
    # triggered messages a minute per API token (a tenth of it may come at once)
    triggers_per_minute: int = Field(default=600, ge=1)
    # requests to the people service's public /id and /optout a minute per client address
    # (a tenth of them may come at once); addresses in id_unlimited_networks are not limited
    id_requests_per_minute: int = Field(default=1200, ge=1)
    id_unlimited_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # tokens a minute one API client may take from the people service (a tenth at once):
    # a token lasts an hour, and each one issued is written to the audit trail
    token_requests_per_minute: int = Field(default=60, ge=1)
    # failed sign-ins before a lockout (campaign: per user name and address; the people
    # service: per address, its client secrets being unguessable), and its length
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    # where every server process counts the limits and lockouts above (redis://host:6379/0,
    # the redis extra); unset, each process counts its own, so N workers allow N times them
    limits_redis_url: str | None = Field(default=None, repr=False)
    # how long a web session lasts after signing in
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # days the audit trails keep sign-ins (they name addresses, which are personal data)
    sign_in_retention_days: int = Field(default=365, ge=1, le=3650)
    # declared-ID mode of the tracking server: on click, sync this source's ID with /id
    tracking_declared_source: str | None = None
    # a demo workspace (``audiencehub demo``) may carry example secrets; no other may
    demo: bool = False

    @field_validator("campaign_db_url", "people_db_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return normalize_db_url(value) if value else value

    @field_validator("spark_conf")
    @classmethod
    def _check_spark_conf(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(key for key in value if not key.startswith("spark."))
        if wrong:
            raise ValueError(
                f"spark_conf keys are Spark settings starting with 'spark.': {', '.join(wrong)}"
            )
        return value

    @field_validator("limits_redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "limits_redis_url is a Redis URL such as redis://127.0.0.1:6379/0 "
                "(rediss:// over TLS, unix:///path/to/redis.sock)"
            )
        return value or None

    @field_validator("id_unlimited_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"id_unlimited_networks: {network!r} is not an address or a network "
                    "such as 10.0.0.0/8"
                ) from None
        return value

    @field_validator("default_region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) != 2 or not value.isalpha():
            raise ValueError("default_region must be a two-letter country code such as US")
        return value.upper()

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.demo:
            return self
        secrets = {
            "smtp_password": self.smtp_password,
            "sms_gateway_token": self.sms_gateway_token,
            "api_token": self.api_token,
        }
        for name in ("campaign_db_url", "people_db_url", "limits_redis_url"):
            url = getattr(self, name)
            secrets[f"the password in {name}"] = make_url(url).password if url else None
        for name, value in secrets.items():
            reason = None if value is None else placeholder_reason(str(value))
            if reason:
                raise ValueError(f"{name}: {reason}; set the real value or remove the setting")
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Fill the embedded SQLite defaults for URLs left unset."""
        if not self.campaign_db_url:
            self.campaign_db_url = f"sqlite:///{self.workspace / 'campaign.db'}"
        if not self.people_db_url:
            self.people_db_url = f"sqlite:///{self.workspace / 'people.db'}"
        if self.scratch_path is not None and not self.scratch_path.is_absolute():
            self.scratch_path = self.workspace / self.scratch_path
        if not self.people_inbound_drop:
            self.people_inbound_drop = str(self.workspace / "drops" / "exportSharedAudience")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables win over the workspace file (passed as init values)."""
        return env_settings, init_settings


def find_workspace(explicit: Path | None = None) -> Path:
    """The workspace folder: ``explicit``, else ``AUDIENCEHUB_WORKSPACE``, else the cwd."""
    if explicit is not None:
        return explicit.resolve()
    from_env = os.environ.get("AUDIENCEHUB_WORKSPACE")
    return Path(from_env).resolve() if from_env else Path.cwd().resolve()


def load_settings(workspace: Path | None = None) -> Settings:
    """Read the settings of the workspace found by :func:`find_workspace`."""
    folder = find_workspace(workspace)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise WorkspaceNotFound(f"{folder} is not an audiencehub workspace (no {CONFIG_FILE})")
    try:
        values = tomllib.loads(config_path.read_text(encoding="utf-8")).get("audiencehub", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{config_path} is not valid TOML: {exc}") from None
    values["workspace"] = folder
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(
            f"the settings of {folder} are invalid: {problems}",
            hint=f"Fix {config_path} or the AUDIENCEHUB_* environment variables.",
        ) from None
