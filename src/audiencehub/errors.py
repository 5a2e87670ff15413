"""The one exception tree of audiencehub.

Every error a user can cause derives from :class:`AudienceHubError` and carries a
message that says what is wrong and a ``hint`` that says how to fix it. The CLI
turns them into a message on stderr and exit code 2 in one place, both apps into
one problem-details answer in one place (:mod:`audiencehub.problems`); anything
else is an internal failure (exit code 1, HTTP 500).

The tree separates what to fix from what to retry: :class:`RemoteError` is a
service that could not be reached or failed (an S3 endpoint, the people service,
an SMTP server, an HTTP 5xx), which a job retries at its next run, while
:class:`ConfigurationError` is a setting that is wrong and stays wrong until a
person changes it. Errors raised for a driver's failure keep it as their cause
(``raise ... from exc``), shown with ``AUDIENCEHUB_DEBUG=1``.

    AudienceHubError
    ├── InvalidInput                 a value given by a user or a file is malformed
    │   ├── InvalidVisitorId         not a 38-digit visitor ID, a half over 2^63-1, ...
    │   ├── InvalidDeclaredId        bad d_cid / d_cid_ic syntax or authentication state
    │   ├── InvalidEmail             an email address that cannot be normalised
    │   ├── InvalidPhone             a phone number that is not a possible number
    │   ├── InvalidKey               a cipher key or IV of the wrong size or not hex
    │   └── DecryptionFailed         wrong key, bad padding, tampered or foreign input
    ├── InputFileError               a file that cannot be read as asked (header, mapping)
    ├── LegalRestriction             data may not move this way (terms not accepted, raw PII)
    ├── ConfigurationError           settings that make no sense
    │   └── WorkspaceNotFound        no workspace where one was expected
    ├── InvalidCredentials           credentials missing, unknown, expired or refused
    ├── TooManyRequests              a rate limit or a login lockout: retry after a while
    ├── Forbidden                    the user's role does not allow this
    ├── NotFound                     a named thing (profile, ...) does not exist
    ├── InUse                        deleting it would orphan what refers to it
    ├── Changed                      it changed since the caller read it (If-Match)
    ├── StorageError                 the database is unreachable or not migrated
    └── RemoteError                  a remote service is unreachable or failed: retry later
        └── SendFailed               a mail server or SMS gateway did not take a message
"""

from __future__ import annotations

__all__ = [
    "AudienceHubError",
    "Changed",
    "ConfigurationError",
    "DecryptionFailed",
    "Forbidden",
    "InUse",
    "InputFileError",
    "InvalidCredentials",
    "InvalidDeclaredId",
    "InvalidEmail",
    "InvalidInput",
    "InvalidKey",
    "InvalidPhone",
    "InvalidVisitorId",
    "LegalRestriction",
    "NotFound",
    "RemoteError",
    "SendFailed",
    "StorageError",
    "TooManyRequests",
    "WorkspaceNotFound",
]


class AudienceHubError(Exception):
    """Base of every error a user can cause; ``hint`` says what to do next."""

    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(AudienceHubError):
    """A value given by a user or read from a file is malformed."""


class InvalidVisitorId(InvalidInput):
    """Not a valid 38-digit visitor ID."""

    default_hint = (
        "A visitor ID is 38 digits: two zero-padded 19-digit halves, each at most "
        "9223372036854775807."
    )


class InvalidDeclaredId(InvalidInput):
    """A declared-ID sync (d_cid / d_cid_ic) that cannot be parsed."""

    default_hint = (
        "Write d_cid=<DPID>%01<ID>[%01<authState>] or "
        "d_cid_ic=<integration code>%01<ID>[%01<authState>], authState 0, 1 or 2."
    )


class InvalidEmail(InvalidInput):
    """An email address that cannot be normalised or validated."""

    default_hint = "An email address has one '@' with a non-empty local part and domain."


class InvalidPhone(InvalidInput):
    """A phone number that is not a possible number."""

    default_hint = (
        "Give the number in E.164 form (+ and country code), or pass the region "
        "(ISO country code such as US or FR) to read a national number."
    )


class InvalidKey(InvalidInput):
    """A cipher key or IV that is not hex or has the wrong size."""


class DecryptionFailed(InvalidInput):
    """Ciphertext that does not decrypt with the given key."""

    default_hint = (
        "Check that the value was encrypted with this data source's key (and IV), "
        "and that it reached you unaltered."
    )


class InputFileError(AudienceHubError):
    """A file that cannot be read the way it was asked to be read."""


class LegalRestriction(AudienceHubError):
    """Moving this data this way is not allowed (terms not accepted, personal data in clear)."""


class ConfigurationError(AudienceHubError):
    """Settings that are missing, inconsistent or unsafe."""


class WorkspaceNotFound(ConfigurationError):
    """No workspace at the place the command looked."""

    default_hint = (
        "Create one with `audiencehub init DIR`, then pass --workspace DIR or set "
        "AUDIENCEHUB_WORKSPACE."
    )


class NotFound(AudienceHubError):
    """A named object does not exist."""


class InUse(AudienceHubError):
    """Deleting this would orphan what refers to it (an audience's data source, ...)."""


class Changed(AudienceHubError):
    """The thing changed since the caller read it: its ETag no longer matches If-Match."""


class StorageError(AudienceHubError):
    """The database cannot be reached or is not at the expected schema version."""

    default_hint = "Check the database URL, then run `audiencehub db upgrade`."


class InvalidCredentials(AudienceHubError):
    """Credentials that are missing, unknown, expired or do not match (a token, a secret)."""


class Forbidden(AudienceHubError):
    """Known credentials whose role does not allow what was asked."""


class RemoteError(AudienceHubError):
    """A remote service could not be reached or failed (S3, the people service, SMTP, HTTP 5xx).

    Unlike a :class:`ConfigurationError`, the same request may succeed later:
    scheduled jobs record it and retry at their next run.
    """

    default_hint = "The service may be down or overloaded; the next run retries."


class SendFailed(RemoteError):
    """A mail server or SMS gateway did not take a message; the message says its answer."""


class TooManyRequests(AudienceHubError):
    """Too many requests for one token, or too many failed logins: wait ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"Retry in {retry_after} s.")
        self.retry_after = retry_after
