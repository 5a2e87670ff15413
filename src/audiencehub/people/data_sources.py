"""People-service data sources: where IDs and traits come from, and how they may be used."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import record_change
from audiencehub.errors import InUse, InvalidInput, NotFound
from audiencehub.people.schema import audit_log, data_sources, destinations, segments, traits, users

__all__ = [
    "DEVICE_NAMESPACE",
    "GLOBAL_DATA_SOURCES",
    "DataSource",
    "ExportControl",
    "GlobalDataSource",
    "IdType",
    "InboundIdType",
    "add_data_source",
    "check_device_id",
    "delete_data_source",
    "get_data_source",
    "list_data_sources",
    "update_data_source",
]

DEVICE_NAMESPACE = 0  # the people service's own 38-digit IDs (visitor IDs)

_UPPER_UUID = r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"
_LOWER_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ALPHANUMERIC = r"[A-Za-z0-9]+"


@dataclass(frozen=True)
class GlobalDataSource:
    """A device advertising ID namespace every people service has (Adobe's "Global Data
    Sources"), with the format its IDs must have ("Index of IDs in Audience Manager")."""

    dpid: int
    name: str
    pattern: str
    format: str

    @property
    def integration_code(self) -> str:
        """The integration code, ``DSID_<dpid>``, that d_cid_ic syncs name it by."""
        return f"DSID_{self.dpid}"

    def check(self, device_id: str) -> None:
        """Refuse an ID that does not have the documented format (the ID is not quoted)."""
        if not re.fullmatch(self.pattern, device_id):
            raise InvalidInput(f"the ID is not a {self.name}: {self.format}")


_UUID_UPPER = "36 characters, upper-case hexadecimal in 8-4-4-4-12 groups"
_UUID_LOWER = "36 characters, lower-case hexadecimal in 8-4-4-4-12 groups"
_LETTERS = "letters and digits"
GLOBAL_DATA_SOURCES = {
    source.dpid: source
    for source in (
        GlobalDataSource(20914, "Google Advertising ID (GAID)", _LOWER_UUID, _UUID_LOWER),
        GlobalDataSource(20915, "Apple ID for Advertising (IDFA)", _UPPER_UUID, _UUID_UPPER),
        GlobalDataSource(121963, "Roku ID for Advertising (RIDA)", _LOWER_UUID, _UUID_LOWER),
        GlobalDataSource(
            389146, "Microsoft Advertising ID (MAID)", _ALPHANUMERIC, "letters and digits"
        ),
        GlobalDataSource(
            963906, "Samsung Tizen ID for Advertising (TIFA)", _ALPHANUMERIC, "letters and digits"
        ),
        GlobalDataSource(488258, "Amazon Fire TV Advertising ID", _LOWER_UUID, _UUID_LOWER),
        GlobalDataSource(1171485, "LG webOS TV ID (LGUDID)", _LOWER_UUID, _UUID_LOWER),
        GlobalDataSource(
            1171489, "Vizio ID for Advertising (IFA)", _ALPHANUMERIC, "letters and digits"
        ),
    )
}


def check_device_id(dpid: int, value: str) -> None:
    """Refuse an ID of a global data source that does not have its documented format."""
    source = GLOBAL_DATA_SOURCES.get(dpid)
    if source is not None:
        source.check(value)


class IdType(enum.StrEnum):
    """What kind of ID the data source holds."""

    COOKIE = "cookie"
    DEVICE = "device"
    CROSS_DEVICE = "cross-device"


class InboundIdType(enum.StrEnum):
    """What the user IDs of this source's inbound files are."""

    VISITOR = "visitor"
    CUSTOMER = "customer"
    PEOPLE = "people"

    @property
    def is_device(self) -> bool:
        """Visitor and people-service IDs are both the service's own 38-digit device IDs."""
        return self is not InboundIdType.CUSTOMER


class ExportControl(enum.StrEnum):
    """A data-use restriction; each forbids one destination export label."""

    NO_PII = "no-pii"
    NO_ONSITE_ADS = "no-onsite-ads"
    NO_OFFSITE_ADS = "no-offsite-ads"
    NO_ONSITE_PERSONALIZATION = "no-onsite-personalization"

    @property
    def forbidden_label(self) -> str:
        """The destination label this control clashes with."""
        return self.value.removeprefix("no-")

    @property
    def description(self) -> str:
        """The control as the reference product words it."""
        return {
            ExportControl.NO_PII: "cannot be tied to personally identifiable information",
            ExportControl.NO_ONSITE_ADS: "cannot be used for on-site ad targeting",
            ExportControl.NO_OFFSITE_ADS: "cannot be used for off-site ad targeting",
            ExportControl.NO_ONSITE_PERSONALIZATION: "cannot be used for on-site personalisation",
        }[self]


class DataSource(TypedDict):
    """A people-service data source (its DPID is ``id``) with its export controls."""

    id: int
    name: str
    integration_code: str | None
    id_type: str
    inbound_id_type: str
    authenticated_profile: bool
    share_enabled: bool
    export_controls: list[str]
    retention_days: int
    created_at: datetime


def add_data_source(
    connection: Connection,
    *,
    dpid: int,
    name: str,
    inbound_id_type: InboundIdType,
    integration_code: str | None = None,
    id_type: IdType = IdType.CROSS_DEVICE,
    authenticated_profile: bool = False,
    share_enabled: bool = True,
    export_controls: Sequence[ExportControl] = (),
    retention_days: int = 720,
    actor: str | None = None,
) -> DataSource:
    """Create a data source; its id is the DPID partners put in file names and syncs
    (``actor``: who, for the audit trail; None: the operating-system user)."""
    if dpid in GLOBAL_DATA_SOURCES:
        raise InvalidInput(
            f"data source {dpid} is the global data source {GLOBAL_DATA_SOURCES[dpid].name}; "
            "every people service has it already",
            hint="Choose another DPID for your own data source.",
        )
    if dpid <= 0:
        raise InvalidInput("a data source id (DPID) is a positive number; 0 is the service's own")
    if retention_days < 1:
        raise InvalidInput("retention of inactive customer IDs is at least one day")
    row = {
        "id": dpid,
        "name": name,
        "integration_code": integration_code,
        "id_type": IdType(id_type).value,
        "inbound_id_type": InboundIdType(inbound_id_type).value,
        "authenticated_profile": authenticated_profile,
        "share_enabled": share_enabled,
        "export_controls": sorted({ExportControl(c).value for c in export_controls}),
        "retention_days": retention_days,
        "created_at": datetime.now(UTC),
    }
    try:
        with connection.begin_nested():
            connection.execute(insert(data_sources), row)
    except IntegrityError:
        raise InvalidInput(
            f"data source {dpid} (or integration code {integration_code!r}) already exists"
        ) from None
    created = get_data_source(connection, dpid)
    record_change(
        connection,
        audit_log,
        "data source created",
        actor=actor,
        after=created,
        data_source_id=dpid,
    )
    return created


def get_data_source(connection: Connection, dpid: int) -> DataSource:
    """One data source by DPID."""
    row = (
        connection.execute(select(data_sources).where(data_sources.c.id == dpid)).mappings().first()
    )
    if row is None:
        raise NotFound(
            f"the people service has no data source {dpid}",
            hint="Add it with `audiencehub people datasources add --id DPID ...`.",
        )
    return cast(DataSource, dict(row))


def list_data_sources(connection: Connection) -> list[DataSource]:
    """Every data source, by DPID."""
    return [
        cast(DataSource, dict(r))
        for r in connection.execute(select(data_sources).order_by(data_sources.c.id)).mappings()
    ]


def update_data_source(
    connection: Connection,
    dpid: int,
    *,
    name: str | None = None,
    share_enabled: bool | None = None,
    export_controls: Sequence[ExportControl] | None = None,
    retention_days: int | None = None,
    actor: str | None = None,
) -> DataSource:
    """Change a data source's name, sharing, export controls or retention.

    An export control added here takes effect at the next publication: a
    destination whose labels it forbids is refused then, not silently fed.
    Its DPID and ID types stay: IDs already stored were read by them.
    """
    current = get_data_source(connection, dpid)
    if retention_days is not None and retention_days < 1:
        raise InvalidInput("retention of inactive customer IDs is at least one day")
    if name is not None and not name.strip():
        raise InvalidInput("a data source's name cannot be empty")
    changes = {
        "name": name,
        "share_enabled": share_enabled,
        "retention_days": retention_days,
        "export_controls": None
        if export_controls is None
        else sorted({ExportControl(c).value for c in export_controls}),
    }
    values = {column: value for column, value in changes.items() if value is not None}
    if values:
        connection.execute(update(data_sources).where(data_sources.c.id == dpid).values(**values))
    changed = get_data_source(connection, dpid)
    record_change(
        connection,
        audit_log,
        "data source changed",
        actor=actor,
        before=current,
        after=changed,
        data_source_id=dpid,
    )
    return changed


def delete_data_source(connection: Connection, dpid: int, *, actor: str | None = None) -> None:
    """Delete a data source nothing refers to: no trait, segment, destination or stored ID."""
    current = get_data_source(connection, dpid)
    uses = {
        "trait": select(func.count()).select_from(traits).where(traits.c.data_source_id == dpid),
        "segment": select(func.count())
        .select_from(segments)
        .where(segments.c.data_source_id == dpid),
        "destination": select(func.count())
        .select_from(destinations)
        .where(destinations.c.data_source_id == dpid),
        "stored ID": select(func.count()).select_from(users).where(users.c.data_source_id == dpid),
    }
    found = {what: int(connection.execute(query).scalar_one()) for what, query in uses.items()}
    named = [f"{n:,} {what}(s)" for what, n in found.items() if n]
    if named:
        raise InUse(
            f"data source {dpid} is used by {', '.join(named)}",
            hint="Delete its traits, segments and destinations first; stored IDs leave with "
            "retention or opt-outs.",
        )
    connection.execute(delete(data_sources).where(data_sources.c.id == dpid))
    record_change(
        connection,
        audit_log,
        "data source deleted",
        actor=actor,
        before=current,
        data_source_id=dpid,
    )
