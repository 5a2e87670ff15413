"""The campaign system: profiles, audiences, sharing with the people service, messages and
workflows.

Its sub-packages form a one-way chain, workflows -> messaging -> sharing ->
profiles, over the modules at this level (``schema``, ``audiences``,
``key_vault``); ``services`` builds what entry points need from a workspace and
``web`` serves it over HTTP. What users import from here is the profile store.
"""

from audiencehub.campaign.profiles.fields import ProfileField, UpsertKey
from audiencehub.campaign.profiles.file_import import ImportReport, import_profiles
from audiencehub.campaign.profiles.lookup import count_profiles, get_profile
from audiencehub.campaign.profiles.store import add_key_schemes, schemes_in_use

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
