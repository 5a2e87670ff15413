"""People-service data sources: where IDs and traits come from, and how they may be used."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from audiencehub.errors import InvalidInput, NotFound
from audiencehub.people.schema import data_sources

__all__ = [
    "DEVICE_NAMESPACE",
    "DataSource",
    "ExportControl",
    "IdType",
    "InboundIdType",
    "add_data_source",
    "get_data_source",
    "list_data_sources",
]

DEVICE_NAMESPACE = 0  # the people service's own 38-digit IDs (visitor IDs)


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
) -> DataSource:
    """Create a data source; its id is the DPID partners put in file names and syncs."""
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
    return get_data_source(connection, dpid)


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
