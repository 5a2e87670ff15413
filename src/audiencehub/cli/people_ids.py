"""``audiencehub people ids``: what the people service holds about one ID, its erasure,
and the audit trail of both (see :mod:`audiencehub.people.id_record`)."""

from __future__ import annotations

from typing import Annotated

import typer

from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import console, print_facts, print_json
from audiencehub.cli.people import app
from audiencehub.cli.people_audit import LimitOption, show_audit
from audiencehub.db.audit_trail import current_actor
from audiencehub.people.audit_trail import id_digest
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.id_record import erase_id, id_record
from audiencehub.workspace import open_workspace

__all__ = ["ids_app"]

ids_app = typer.Typer(help="What the service holds about one ID, and its erasure.")
app.add_typer(ids_app, name="ids")
# the namespace of an ID named on the command line
SourceOption = Annotated[
    int, typer.Option(min=0, help="The ID's data source (DPID); 0: a visitor ID.")
]


@ids_app.command("show")
def ids_show(
    external_id: str,
    source: SourceOption = DEVICE_NAMESPACE,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Everything held about one ID: graph record, links, opt-outs, traits, key-values,
    segments and destinations (for an access request, or to see why it is in a segment)."""
    record = id_record(open_workspace(workspace).people, source, external_id, actor=current_actor())
    if as_json:
        print_json(record)
        return
    facts = [
        ("ID", f"{record['external_id']} (data source {record['data_source_id']})"),
        ("first seen", f"{record['created_at']:%Y-%m-%d %H:%M}"),
        ("last seen", f"{record['last_seen']:%Y-%m-%d %H:%M}"),
        ("opted out of", ", ".join(map(str, record["opted_out_of"])) or "nothing"),
        *(
            ("linked", f"{i['external_id']} (data source {i['data_source_id']})")
            for i in record["linked"]
        ),
        *(
            (f"trait {t['trait_id']}", f"{t['name']} (realised {t['realized_at']:%Y-%m-%d})")
            for t in record["traits"]
        ),
        *((f"key {k}", ", ".join(v)) for k, v in record["signals"].items()),
        *((f"segment {m['segment_id']}", m["name"]) for m in record["segments"]),
        *(
            (f"destination {p['destination_id']}", f"segment {p['segment_id']}")
            for p in record["published"]
        ),
    ]
    print_facts(f"ID {external_id}", facts)


@ids_app.command("delete")
def ids_delete(
    external_id: str,
    source: SourceOption = DEVICE_NAMESPACE,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase one ID (the right to be forgotten): its lake data, then its graph record; the
    destinations it was published to are sent its removal at their next publication."""
    erased = erase_id(open_workspace(workspace).people, source, external_id, actor=current_actor())
    if as_json:
        print_json(erased)
        return
    console.print(
        f"Erased: {erased['traits']} trait(s), {erased['signals']} key(s), "
        f"{erased['segments']} segment membership(s), {erased['links']} link(s); "
        + (
            f"destination(s) {', '.join(map(str, erased['destinations']))} drop it at their "
            "next publication"
            if erased["destinations"]
            else "published nowhere"
        )
    )


@ids_app.command("audit")
def ids_audit(
    limit: LimitOption = 50,
    id_of: Annotated[
        str | None, typer.Option("--id", help="Only the entries of this ID (with --source).")
    ] = None,
    source: SourceOption = DEVICE_NAMESPACE,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who read or erased what is held about an ID (kept as a digest, never as itself)."""
    subject = None if id_of is None else id_digest(source, id_of)
    show_audit(
        workspace, limit, kind="ids", subject=subject, as_json=as_json, title="Audit trail of IDs"
    )
