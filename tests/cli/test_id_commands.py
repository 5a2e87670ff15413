"""``audiencehub id``: values alone on stdout, reasons on stderr with exit code 2."""

from __future__ import annotations

import pytest

from audiencehub.identity import VisitorId

KEY, IV = "00" * 16, "11" * 16


def test_visitor_new_prints_one_valid_id(cli):
    """The new ID is alone on its line and valid."""
    result = cli("id", "visitor", "new")
    assert result.code == 0
    VisitorId.parse(result.out.strip())
    assert result.out.count("\n") == 1


def test_visitor_check(cli):
    """A valid ID exits 0; an invalid one exits 2 with the reason and a fix."""
    assert cli("id", "visitor", "check", "0" * 38).code == 0
    bad = cli("id", "visitor", "check", "1" * 37)
    assert bad.code == 2
    assert bad.out == ""
    assert "is not a visitor ID: it has 37 characters, not 38 digits" in bad.err
    assert "Fix: A visitor ID is 38 digits" in bad.err


def test_cookie_write_then_read(cli):
    """The cookie written for an ID gives the ID back."""
    written = cli(
        "id", "visitor", "cookie", "0" * 38, "--org-id", "ABC@AdobeOrg", "--with-name"
    ).out.strip()
    name, _, value = written.partition("=")
    assert name == "AMCV_ABC%40AdobeOrg"
    assert cli("id", "visitor", "from-cookie", value).out.strip() == "0" * 38


def test_hash_prints_the_published_vector(cli):
    """Hashing through the CLI gives the published value."""
    result = cli("id", "hash", "--scheme", "uid2", "--kind", "phone", "+12345678901")
    assert result.out == "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4=\n"


def test_normalize_with_region(cli):
    """--region reads national numbers."""
    result = cli(
        "id", "normalize", "--scheme", "meta", "--kind", "phone", "--region", "FR", "06 12 34 56 78"
    )
    assert result.out == "33612345678\n"


def test_invalid_email_is_exit_2_with_reason(cli):
    """Bad input is never hashed: exit 2 and the reason."""
    result = cli("id", "hash", "--scheme", "uid2", "--kind", "email", "jane@doe@x.org")
    assert (result.code, result.out) == (2, "")
    assert "has 2 '@' signs" in result.err


@pytest.mark.parametrize(
    ("algorithm", "extra"), [("aes-cbc", ["--iv", IV]), ("aes-siv", ["--key-id", "k1"])]
)
def test_encrypt_then_decrypt(cli, algorithm, extra):
    """What encrypt prints, decrypt turns back into the input."""
    key = KEY if algorithm == "aes-cbc" else "22" * 32
    sealed = cli(
        "id", "encrypt", "--algorithm", algorithm, "--key", key, *extra, "jo@x.org"
    ).out.strip()
    assert sealed == sealed.lower()
    args = ["--iv", IV] if algorithm == "aes-cbc" else []
    assert (
        cli("id", "decrypt", "--algorithm", algorithm, "--key", key, *args, sealed).out
        == "jo@x.org\n"
    )


def test_keys_can_come_from_the_environment(cli, monkeypatch):
    """AUDIENCEHUB_ENC_KEY and AUDIENCEHUB_ENC_IV keep keys off the command line."""
    monkeypatch.setenv("AUDIENCEHUB_ENC_KEY", KEY)
    monkeypatch.setenv("AUDIENCEHUB_ENC_IV", IV)
    sealed = cli("id", "encrypt", "--algorithm", "aes-cbc", "jo@x.org").out.strip()
    assert cli("id", "decrypt", "--algorithm", "aes-cbc", "x" + sealed).out == "jo@x.org\n"


def test_decrypt_failures_never_print_garbage_or_keys(cli):
    """A wrong key is exit 2 with the reason; stdout stays empty and the key is not echoed."""
    sealed = cli(
        "id", "encrypt", "--algorithm", "aes-cbc", "--key", KEY, "--iv", IV, "jo@x.org"
    ).out.strip()
    wrong = "ab" * 16
    result = cli("id", "decrypt", "--algorithm", "aes-cbc", "--key", wrong, "--iv", IV, sealed)
    assert (result.code, result.out) == (2, "")
    assert "wrong key" in result.err
    assert wrong not in result.err


def test_cbc_without_iv_says_so(cli):
    """AES-CBC needs an IV; the error says how to pass it."""
    result = cli("id", "encrypt", "--algorithm", "aes-cbc", "--key", KEY, "jo@x.org")
    assert result.code == 2
    assert "AES-CBC needs an IV" in result.err and "--iv HEX" in result.err


def test_dcid_parse_and_format(cli):
    """d_cid fragments parse to JSON and format back."""
    assert cli(
        "id", "dcid", "format", "--dpid", "20915", "--id", "a b", "--auth-state", "1"
    ).out == ("d_cid=20915%01a%20b%011\n")
    parsed = cli("id", "dcid", "parse", "d_cid_ic=crm%01abc%012").out
    assert '"auth_state_name": "logged_out"' in parsed
    assert cli("id", "dcid", "parse", "d_cid=x%01abc").code == 2


def test_usage_errors_exit_2(cli):
    """Unknown choices are usage errors, exit code 2."""
    assert cli("id", "hash", "--scheme", "md5", "--kind", "email", "x@y.z").code == 2


def test_version_is_printed_alone(cli):
    """`audiencehub --version` prints the package version on one line, for scripts."""
    import audiencehub

    result = cli("--version")
    assert (result.code, result.out) == (0, f"{audiencehub.__version__}\n")
