"""audiencehub: share audiences between a campaign tool and a people service.

The names below are the public surface; everything else may change between
releases. Identity functions live in :mod:`audiencehub.identity`.
"""

from audiencehub.campaign import ImportReport, ProfileField, UpsertKey, import_profiles
from audiencehub.config import Settings, load_settings
from audiencehub.errors import (
    AudienceHubError,
    Changed,
    ConfigurationError,
    DecryptionFailed,
    Forbidden,
    InputFileError,
    InUse,
    InvalidCredentials,
    InvalidDeclaredId,
    InvalidEmail,
    InvalidInput,
    InvalidKey,
    InvalidPhone,
    InvalidVisitorId,
    LegalRestriction,
    NotFound,
    RemoteError,
    SendFailed,
    StorageError,
    TooManyRequests,
    WorkspaceNotFound,
)
from audiencehub.identity import (
    AesCbcCipher,
    AesSivCipher,
    AuthState,
    DeclaredIdSync,
    HashScheme,
    IdKind,
    VisitorId,
    hash_id,
    normalize,
)
from audiencehub.workspace import Workspace, init_workspace, open_workspace

__version__ = "0.1.0"

__all__ = [
    "AesCbcCipher",
    "AesSivCipher",
    "AudienceHubError",
    "AuthState",
    "Changed",
    "ConfigurationError",
    "DeclaredIdSync",
    "DecryptionFailed",
    "Forbidden",
    "HashScheme",
    "IdKind",
    "ImportReport",
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
    "ProfileField",
    "RemoteError",
    "SendFailed",
    "Settings",
    "StorageError",
    "TooManyRequests",
    "UpsertKey",
    "VisitorId",
    "Workspace",
    "WorkspaceNotFound",
    "__version__",
    "hash_id",
    "import_profiles",
    "init_workspace",
    "load_settings",
    "normalize",
    "open_workspace",
]
