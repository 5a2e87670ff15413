"""SMTP over STARTTLS and implicit TLS, with authentication, against aiosmtpd."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from audiencehub.campaign.messaging.delivery import SmtpMailer
from audiencehub.errors import ConfigurationError
from tests.helpers import free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (and the CA file that trusts it)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


class _Inbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(envelope.content)
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"app",
        b"s3cret",
    )
    return AuthResult(success=ok)


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.org", "b@x.org", "TLS"
    message.set_content("over TLS")
    return message


# aiosmtpd warns of AUTH without STARTTLS even when the whole session is TLS (above)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_encrypted_and_authenticated_sessions(sqlite_workspace, certificate, security):
    """Messages go through STARTTLS or implicit TLS after login; untrusted servers are refused.

    (A wrong password is not tried: smtplib then falls back to AUTH LOGIN, which
    aiosmtpd answers only after the 30-second client timeout.)
    """
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    port = free_port()
    # with implicit TLS the whole session is encrypted, and aiosmtpd's "AUTH only
    # over TLS" check knows only STARTTLS, so it is asked for in that case only
    options = (
        {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        if security == "starttls"
        else {"ssl_context": context, "auth_require_tls": False}
    )
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_required=True,
        **options,
    )
    controller.start()
    try:
        settings = sqlite_workspace.settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": security,
                "smtp_user": "app",
                "smtp_password": "s3cret",
                "smtp_ca_file": str(cert),
            }
        )
        mailer = SmtpMailer(settings)
        mailer.send(_message())
        mailer.close()
        assert len(inbox.received) == 1 and b"over TLS" in inbox.received[0]
        with pytest.raises(ConfigurationError):  # the server's certificate is not trusted
            SmtpMailer(settings.model_copy(update={"smtp_ca_file": None}))
    finally:
        controller.stop()
