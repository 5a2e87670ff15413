"""The visitor ID service: issues and confirms visitor IDs, records declared-ID syncs.

``GET /id`` returns ``{"d_mid", "id_sync_ttl", "dcs_region"}``, each a string as
in the reference's direct-integration response; its ``d_blob`` (Audience Manager
data for other Adobe products) is deliberately left out. Given ``d_mid``
it confirms that ID, else it issues a new one; every ``d_cid`` /
``d_cid_ic`` parameter (repeatable) links the visitor ID to a declared ID in
the graph, with its authentication state. ``POST /optout`` opts a visitor ID
out of one partner's data source, or of everything. Malformed parameters get
HTTP 400 with the reason.

Both are public (a browser calls them), so each client address may call them only
so often (:class:`~audiencehub.ratelimit.AddressLimit`): a flood of ``d_cid`` syncs
from one address would otherwise grow the ID graph without bound. Beyond the rate
the service answers 429 with ``Retry-After``, as the reference's DCS does when it
limits calls.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection, Engine, select

from audiencehub.errors import InvalidDeclaredId, NotFound, TooManyRequests
from audiencehub.identity.declared import MAX_DPID, DeclaredIdSync, parse_declared_sync
from audiencehub.identity.visitor import VisitorId
from audiencehub.people.data_sources import DEVICE_NAMESPACE, check_device_id, get_data_source
from audiencehub.people.schema import data_sources
from audiencehub.ratelimit import AddressLimit
from audiencehub.restapi.apps import example, problem_responses
from audiencehub.spool import OnlineWrites

__all__ = ["ID_SYNC_TTL", "MAX_SYNCS", "id_service_router"]

ID_SYNC_TTL = 604_800  # seconds a browser waits before syncing the same IDs again
MAX_SYNCS = 20  # declared-ID syncs (d_cid and d_cid_ic together) in one request


def _source(connection: Connection, dpid: int) -> int:
    """A data source named by a request parameter: one that does not exist is bad input."""
    try:
        return int(get_data_source(connection, dpid)["id"])
    except NotFound as exc:
        raise InvalidDeclaredId(exc.message, hint=exc.hint) from None


def _dpid(connection: Connection, sync: DeclaredIdSync) -> int:
    if sync.dpid is not None:
        return _source(connection, sync.dpid)
    found = connection.execute(
        select(data_sources.c.id).where(data_sources.c.integration_code == sync.namespace)
    ).scalar()
    if found is None:
        raise InvalidDeclaredId(f"no data source has the integration code {sync.namespace!r}")
    return int(found)


def id_service_router(
    engine: Engine, online: OnlineWrites, *, region: int = 6, limit: AddressLimit
) -> APIRouter:
    """The ID service routes on ``engine``'s people database, their writes through ``online``
    (never waiting for an ingest), each request within ``limit``; ``region`` is sent as
    dcs_region."""

    def within_limit(request: Request) -> None:
        wait = limit.wait(request.client.host if request.client else None)
        if wait:
            raise TooManyRequests(
                "too many ID service requests from this address",
                retry_after=wait,
                hint=f"Retry in {wait} s. A server that calls for many browsers (a tag "
                "manager's server side, a tracking server) belongs in id_unlimited_networks; "
                "behind a reverse proxy, let the server read the client's address from "
                "X-Forwarded-For (FORWARDED_ALLOW_IPS).",
            )

    app = APIRouter(tags=["visitor ID service"], dependencies=[Depends(within_limit)])

    @app.get(
        "/id",
        responses=example(
            200,
            {
                "d_mid": "12345678901234567890123456789012345678",
                "id_sync_ttl": 604800,
                "dcs_region": 6,
            },
        )
        | problem_responses(429),
    )
    def issue_id(
        d_mid: Annotated[str | None, Query(max_length=64)] = None,
        d_cid: Annotated[list[str] | None, Query()] = None,
        d_cid_ic: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, object]:
        """Issue or confirm a visitor ID and record its declared-ID syncs."""
        if len(d_cid or []) + len(d_cid_ic or []) > MAX_SYNCS:
            raise InvalidDeclaredId(
                f"a request may carry at most {MAX_SYNCS} declared-ID syncs",
                hint="Send the others in further requests.",
            )
        visitor = VisitorId.parse(d_mid) if d_mid else VisitorId.new()
        syncs = [parse_declared_sync(v) for v in d_cid or []]
        syncs += [parse_declared_sync(v, by_integration_code=True) for v in d_cid_ic or []]
        with engine.connect() as connection:  # a read: the data sources named
            dpids = [_dpid(connection, sync) for sync in syncs]
        for dpid, sync in zip(dpids, syncs, strict=True):
            check_device_id(dpid, sync.declared_id)  # a global source's IDs have a format
        resolved = [
            [dpid, sync.declared_id, int(sync.auth_state)]
            for dpid, sync in zip(dpids, syncs, strict=True)
        ]
        event = {"visitor": visitor.value, "syncs": resolved, "at": datetime.now(UTC).isoformat()}
        online.write("id_sync", [event])
        # the reference's types: every value a string ("Direct integration", sample response)
        return {"d_mid": visitor.value, "id_sync_ttl": str(ID_SYNC_TTL), "dcs_region": str(region)}

    @app.post(
        "/optout",
        responses=example(
            200, {"d_mid": "12345678901234567890123456789012345678", "opted_out_of": 0}
        )
        | problem_responses(429),
    )
    def opt_out_route(
        d_mid: Annotated[str, Query(max_length=64)],
        dpid: Annotated[int, Query(ge=0, le=MAX_DPID)] = DEVICE_NAMESPACE,
    ) -> dict[str, object]:
        """Opt a visitor ID out of a partner's data source (0: of everything)."""
        visitor = VisitorId.parse(d_mid)
        if dpid != DEVICE_NAMESPACE:
            with engine.connect() as connection:
                _source(connection, dpid)
        online.write("opt_out", [{"visitor": visitor.value, "dpid": dpid}])
        return {"d_mid": visitor.value, "opted_out_of": dpid}

    return app
