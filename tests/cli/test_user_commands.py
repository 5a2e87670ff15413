"""``audiencehub users`` and ``audiencehub tokens`` through the real CLI entry point."""

from __future__ import annotations

from audiencehub.campaign.users import TOKEN_PREFIX

PASSWORD = "correct horse battery staple"


def test_users_and_tokens_through_the_cli(cli, tmp_path, monkeypatch):
    """The password comes from the environment (or a prompt), the token is printed once."""
    ws = str(tmp_path / "ws")
    assert cli("init", ws).code == 0
    monkeypatch.setenv("AUDIENCEHUB_PASSWORD", PASSWORD)
    assert cli("users", "add", "mara", "--role", "marketer", "-w", ws).code == 0
    created = cli("tokens", "create", "mara", "--name", "ci", "-w", ws)
    token = created.out
    assert created.code == 0 and token.strip().startswith(TOKEN_PREFIX)
    assert "shown this once" in created.err
    listed = cli("tokens", "list", "-w", ws)
    assert listed.code == 0 and token.strip() not in listed.out and "mara" in listed.out
    again = cli("users", "add", "mara", "-w", ws)
    assert again.code == 2 and "already exists" in again.err
    assert PASSWORD not in cli("users", "list", "--json", "-w", ws).out
