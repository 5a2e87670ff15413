"""Applying ID sync files (``adobe_id_*``): device IDs linked to declared IDs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection

from audiencehub.drops import DropLocation, DropObject
from audiencehub.errors import InvalidInput
from audiencehub.formats.idsync import parse_id_sync_row
from audiencehub.formats.names import IdSyncName
from audiencehub.identity.declared import AuthState
from audiencehub.identity.visitor import VisitorId
from audiencehub.people.data_sources import DEVICE_NAMESPACE, check_device_id, get_data_source
from audiencehub.people.graph import ensure_users, link
from audiencehub.people.receipts import Receipt, read_lines

__all__ = ["apply_id_sync"]


def apply_id_sync(
    connection: Connection,
    drop: DropLocation,
    objects: list[DropObject],
    name: IdSyncName,
    receipt: Receipt,
) -> None:
    """Link the first column's device IDs to the declared IDs of each DPID column.

    Partners send these from their own systems of record, so the links count as
    authenticated.
    """
    for dpid in name.dpids:
        get_data_source(connection, dpid)
    master_is_device = name.master_dpid == DEVICE_NAMESPACE
    now = datetime.now(UTC)
    for obj in objects:
        for number, line in enumerate(read_lines(drop, obj), start=1):
            if not line.strip():
                continue
            receipt.records_received += 1
            try:
                row = parse_id_sync_row(line, len(name.dpids))
            except InvalidInput as exc:
                receipt.format_errors += 1
                receipt.problem(number, obj.key, exc.message)
                continue
            device_id = row.device_id
            if master_is_device:
                try:
                    VisitorId.parse(device_id)
                except InvalidInput as exc:
                    receipt.invalid_ids += 1
                    receipt.problem(number, obj.key, exc.message)
                    continue
            device_user = ensure_users(connection, name.master_dpid, [device_id], now)[device_id]
            linked = 0
            for dpid, declared in zip(name.dpids, row.declared, strict=True):
                if declared is None:
                    continue
                try:
                    check_device_id(dpid, declared)  # a global source's IDs have a format
                except InvalidInput as exc:
                    receipt.invalid_ids += 1
                    receipt.problem(number, obj.key, exc.message)
                    continue
                customer = ensure_users(connection, dpid, [declared], now)[declared]
                link(connection, device_user, customer, AuthState.AUTHENTICATED, now)
                linked += 1
            receipt.stored_records += 1 if linked else 0
            receipt.no_matching_id += 0 if linked else 1
