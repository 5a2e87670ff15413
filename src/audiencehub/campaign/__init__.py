"""The campaign system: profiles now; audiences, sharing, workflows and tracking to come."""

from audiencehub.campaign.profiles.fields import ProfileField, UpsertKey
from audiencehub.campaign.profiles.file_import import ImportReport, import_profiles
from audiencehub.campaign.profiles.store import (
    add_key_schemes,
    count_profiles,
    get_profile,
    schemes_in_use,
)

__all__ = [
    "ImportReport",
    "ProfileField",
    "UpsertKey",
    "add_key_schemes",
    "count_profiles",
    "get_profile",
    "import_profiles",
    "schemes_in_use",
]
