"""``audiencehub users`` and ``audiencehub tokens``: who may use campaign, and their tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from audiencehub.campaign.users import (
    Role,
    add_user,
    create_token,
    disable_user,
    list_tokens,
    list_users,
    revoke_token,
    set_password,
    set_role,
)
from audiencehub.cli.options import JsonOption, WorkspaceOption
from audiencehub.cli.output import console, err_console, print_or_json, print_value
from audiencehub.workspace import open_workspace

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(help="The people who use campaign, and their roles.")
tokens_app = typer.Typer(help="Personal API tokens (shown once, stored hashed).")

PasswordOption = Annotated[
    str,
    typer.Option(
        prompt=True,
        confirmation_prompt=True,
        hide_input=True,
        envvar="AUDIENCEHUB_PASSWORD",
        help="The password (prompted, or AUDIENCEHUB_PASSWORD; never an argument in history).",
    ),
]


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[Role, typer.Option(help="viewer, marketer or admin.")] = Role.VIEWER,
    password: PasswordOption = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Add a user with a role."""
    with open_workspace(workspace).campaign.begin() as connection:
        user = add_user(connection, name, password, role)
    console.print(f"User {user['name']} added ({user['role']})")


@users_app.command("list")
def users_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List users and their roles."""
    with open_workspace(workspace).campaign.connect() as connection:
        print_or_json(list_users(connection), "Users", as_json=as_json)


@users_app.command("passwd")
def users_passwd(
    name: str, password: PasswordOption = "", workspace: WorkspaceOption = None
) -> None:
    """Set a user's password."""
    with open_workspace(workspace).campaign.begin() as connection:
        set_password(connection, name, password)
    console.print(f"Password of {name} changed")


@users_app.command("role")
def users_role(name: str, role: Role, workspace: WorkspaceOption = None) -> None:
    """Give a user another role."""
    with open_workspace(workspace).campaign.begin() as connection:
        set_role(connection, name, role)
    console.print(f"{name} is now a {role}")


@users_app.command("disable")
def users_disable(name: str, workspace: WorkspaceOption = None) -> None:
    """Disable a user: their password and tokens stop working; their history stays."""
    with open_workspace(workspace).campaign.begin() as connection:
        disable_user(connection, name)
    console.print(f"User {name} disabled")


@tokens_app.command("create")
def tokens_create(
    user: str,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'nightly sync'.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Create a personal token for ``user`` and print it, this once only."""
    with open_workspace(workspace).campaign.begin() as connection:
        token_id, token = create_token(connection, user, name)
    err_console.print(f"Token {token_id} for {user}; it is shown this once, keep it now:")
    print_value(token)


@tokens_app.command("list")
def tokens_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List tokens (never the tokens themselves): whose, what for, last used, revoked."""
    with open_workspace(workspace).campaign.connect() as connection:
        print_or_json(list_tokens(connection), "Tokens", as_json=as_json)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int, workspace: WorkspaceOption = None) -> None:
    """Revoke a token for good."""
    with open_workspace(workspace).campaign.begin() as connection:
        revoke_token(connection, token_id)
    console.print(f"Token {token_id} revoked")
