"""``audiencehub people audit``: the people service's audit trail, newest first: who read
or erased what it holds about an ID, and who changed its configuration (see
:mod:`audiencehub.people.audit_trail`)."""

from __future__ import annotations

from typing import Annotated, cast, get_args

import typer

from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import print_or_json
from audiencehub.cli.people import app
from audiencehub.people.audit_trail import AuditEntry, AuditKind, list_audit, summary
from audiencehub.workspace import open_workspace

__all__ = ["LimitOption", "audit_rows", "show_audit"]

LimitOption = Annotated[int, typer.Option(min=1, help="How many entries, newest first.")]


def audit_rows(entries: list[AuditEntry]) -> list[dict[str, object]]:
    """The entries as the table shows them."""
    return [
        {"at": e["at"], "actor": e["actor"], "action": e["action"], "what": summary(e)}
        for e in entries
    ]


def show_audit(
    workspace: WorkspaceOption,
    limit: int,
    *,
    kind: AuditKind | None,
    subject: str | None = None,
    as_json: bool,
    title: str,
) -> None:
    """Print the trail's newest entries (whole, as JSON)."""
    with open_workspace(workspace).people.connect() as connection:
        entries = list_audit(connection, limit, subject=subject, kind=kind)
    print_or_json(entries if as_json else audit_rows(entries), title, as_json=as_json)


@app.command("audit")
def audit(
    limit: LimitOption = 50,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only 'ids' (lookups and erasures), 'changes' (configuration) or "
            "'sign-ins' (pages and tokens, signed in or refused)."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who read or erased what is held about an ID (kept as a digest), and who created,
    changed or deleted data sources, traits, segments, destinations and API clients, and
    who signed in or was refused."""
    if kind is not None and kind not in get_args(AuditKind):
        *first, last = (repr(k) for k in get_args(AuditKind))
        raise typer.BadParameter(f"--kind is {', '.join(first)} or {last}", param_hint="--kind")
    chosen = cast("AuditKind | None", kind)
    show_audit(workspace, limit, kind=chosen, as_json=as_json, title="Audit trail")
