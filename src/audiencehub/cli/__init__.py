"""The ``audiencehub`` command line: parse, call the core, print.

User errors (:class:`~audiencehub.errors.AudienceHubError`) become one message on
stderr and exit code 2, here and nowhere else; anything unexpected is an
internal failure, exit code 1. With ``AUDIENCEHUB_DEBUG`` set, both also print
their traceback, the driver's error they were raised from included.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from audiencehub import __version__
from audiencehub.cli import (  # the catalogs' commands register on the apps they extend
    campaign_catalog,  # noqa: F401
    identity,
    messaging,
    people,
    people_audit,  # noqa: F401
    people_catalog,  # noqa: F401
    people_ids,  # noqa: F401
    profiles,
    serve,
    sharing,
    users,
    workflows,
    workspace,
)
from audiencehub.cli.output import err_console, print_value
from audiencehub.errors import AudienceHubError

__all__ = ["app", "main"]

app = typer.Typer(
    name="audiencehub",
    help="Share audiences between a campaign tool and a people service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        print_value(__version__)
        raise typer.Exit


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Share audiences between a campaign tool and a people service."""


app.add_typer(identity.app, name="id")
app.add_typer(profiles.app, name="profiles")
app.add_typer(people.app, name="people")
app.add_typer(sharing.accounts_app, name="accounts")
app.add_typer(sharing.datasources_app, name="datasources")
app.add_typer(sharing.audiences_app, name="audiences")
app.add_typer(sharing.jobs_app, name="jobs")
app.add_typer(sharing.connection_app, name="connection")
app.add_typer(workflows.app, name="workflows")
app.add_typer(messaging.templates_app, name="templates")
app.add_typer(messaging.deliveries_app, name="deliveries")
app.command("serve")(serve.serve_command)
people.app.command("serve")(serve.serve_people_command)
app.command("audit")(sharing.audit_command)
app.add_typer(workspace.db_app, name="db")
app.add_typer(users.users_app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.command("init")(workspace.init)
app.command("demo")(workspace.demo)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI and exit with 0, 2 for user errors, or 1 for internal failures."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="audiencehub")
    except AudienceHubError as exc:
        if os.environ.get("AUDIENCEHUB_DEBUG"):
            traceback.print_exc()  # with the driver's error it was raised from
        err_console.print(f"[bold red]Error:[/] {escape(exc.message)}")
        if exc.hint:
            err_console.print(f"[yellow]Fix:[/] {escape(exc.hint)}")
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("AUDIENCEHUB_DEBUG"):
            traceback.print_exc()
        err_console.print(
            f"[bold red]Internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}"
        )
        err_console.print("Set AUDIENCEHUB_DEBUG=1 for a traceback, and report it as a bug.")
        sys.exit(1)
    sys.exit(0)
