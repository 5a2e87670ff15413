"""Users, roles and personal tokens: hashed, shown once, checked on every use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from audiencehub.campaign.schema import user_sessions, user_tokens, users
from audiencehub.campaign.sessions import session_user, start_session
from audiencehub.campaign.users import (
    TOKEN_PREFIX,
    Role,
    add_user,
    authenticate_password,
    authenticate_token,
    create_token,
    disable_user,
    list_tokens,
    list_users,
    require,
    revoke_token,
    set_password,
    set_role,
)
from audiencehub.errors import Forbidden, InvalidCredentials, InvalidInput

PASSWORD = "correct horse battery staple"


def test_passwords_are_argon2_hashes_and_never_shown(workspace):
    with workspace.campaign.begin() as connection:
        added = add_user(connection, "ada", PASSWORD, Role.ADMIN)
        stored = connection.execute(select(users.c.password_hash)).scalar_one()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert "password_hash" not in added
        assert all("password_hash" not in user for user in list_users(connection))
        assert authenticate_password(connection, "ada", PASSWORD)["name"] == "ada"
        assert "password_hash" not in authenticate_password(connection, "ada", PASSWORD)


def test_every_login_failure_gets_one_answer(workspace):
    with workspace.campaign.begin() as connection:
        add_user(connection, "ada", PASSWORD, Role.ADMIN)
        answers = set()
        for name, password in (("ada", "wrong password!!"), ("nobody", PASSWORD)):
            with pytest.raises(InvalidCredentials) as refused:
                authenticate_password(connection, name, password)
            answers.add(refused.value.message)
        disable_user(connection, "ada")
        with pytest.raises(InvalidCredentials) as refused:
            authenticate_password(connection, "ada", PASSWORD)
        answers.add(refused.value.message)
    assert answers == {"unknown user or wrong password"}


def test_bad_users_are_refused_with_the_reason(workspace):
    with workspace.campaign.begin() as connection:
        with pytest.raises(InvalidInput, match="at least 12"):
            add_user(connection, "ada", "short", Role.ADMIN)
        add_user(connection, "ada", PASSWORD, Role.ADMIN)
        with pytest.raises(InvalidInput, match="already exists"):
            add_user(connection, "ada", PASSWORD, Role.VIEWER)
        set_password(connection, "ada", "another long passphrase")
        with pytest.raises(InvalidCredentials):
            authenticate_password(connection, "ada", PASSWORD)


def test_tokens_are_shown_once_stored_hashed_and_revocable(workspace):
    with workspace.campaign.begin() as connection:
        add_user(connection, "mara", PASSWORD, Role.MARKETER)
        token_id, token = create_token(connection, "mara", "nightly sync")
        assert token.startswith(TOKEN_PREFIX) and len(token) > 40
        stored = connection.execute(select(user_tokens.c.token_hash)).scalar_one()
        assert token.encode() not in bytes(stored) and len(stored) == 32
        assert authenticate_token(connection, token)["name"] == "mara"
        [listed] = list_tokens(connection)
        assert listed["last_used_at"] is not None and token not in str(listed)
        revoke_token(connection, token_id)
        with pytest.raises(InvalidCredentials):
            authenticate_token(connection, token)
        with pytest.raises(InvalidCredentials):
            authenticate_token(connection, token + "x")


def test_roles_are_levels(workspace):
    assert Role.ADMIN.allows(Role.MARKETER) and Role.MARKETER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.MARKETER)
    with workspace.campaign.begin() as connection:
        viewer = add_user(connection, "vic", PASSWORD, Role.VIEWER)
        with pytest.raises(Forbidden, match="takes the marketer role"):
            require(viewer, Role.MARKETER)
        set_role(connection, "vic", Role.MARKETER)
        require(authenticate_password(connection, "vic", PASSWORD), Role.MARKETER)


def test_a_new_password_or_disabling_signs_the_user_out_everywhere(workspace):
    """Whoever signed in with a password that has been replaced is signed out; the user's
    tokens are credentials of their own and stay; a disabled user's sessions are gone, not
    only refused, so enabling them again would not bring them back."""
    lifetime = timedelta(hours=1)
    with workspace.campaign.begin() as connection:
        ada = add_user(connection, "ada", PASSWORD, Role.ADMIN)
        bob = add_user(connection, "bob", PASSWORD, Role.VIEWER)
        _, token = create_token(connection, "ada", "ci")
        old = [start_session(connection, ada, lifetime).token for _ in range(2)]
        kept = start_session(connection, bob, lifetime).token
        set_password(connection, "ada", "a brand new passphrase")
        for session in old:
            with pytest.raises(InvalidCredentials):
                session_user(connection, session)
        assert session_user(connection, kept)["name"] == "bob"  # another user's stays
        assert authenticate_token(connection, token)["name"] == "ada"
        disable_user(connection, "bob")
        [(left,)] = connection.execute(select(func.count()).select_from(user_sessions))
    assert left == 0
