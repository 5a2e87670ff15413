"""Creating shared audiences: an audience fed by a people segment through a data source.

The import job fills it; here it is declared, with the legal check that the
source's terms are accepted and the choice between a profile audience and a
*file* audience of decrypted addresses.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError

from audiencehub.campaign.audiences import Audience, get_audience
from audiencehub.campaign.schema import audiences
from audiencehub.campaign.sharing.data_sources import Channel, get_shared_data_source, require_terms
from audiencehub.errors import InvalidInput

__all__ = ["create_shared_audience"]


def create_shared_audience(
    connection: Connection,
    *,
    name: str,
    segment_id: int,
    data_source_id: str,
    force_profile: bool = True,
) -> Audience:
    """A shared audience fed by a segment through a data source (filled by the import job).

    With an encrypted email or SMS source and ``force_profile`` off, the audience
    is a *file* audience of decrypted addresses, people without a profile included.
    """
    source = get_shared_data_source(connection, data_source_id)
    require_terms(source)
    file_audience = (
        not force_profile
        and source["encryption"] is not None
        and source["channel"] in (Channel.EMAIL.value, Channel.SMS.value)
    )
    if not force_profile and not file_audience:
        raise InvalidInput(
            "--no-force-profile needs an encrypted data source whose channel is email or sms"
        )
    now = datetime.now(UTC)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(audiences),
                {
                    "name": name,
                    "type": "file" if file_audience else "shared",
                    "segment_id": segment_id,
                    "data_source_id": data_source_id,
                    "force_profile": force_profile,
                    "created_at": now,
                    "updated_at": now,
                },
            )
    except IntegrityError:
        raise InvalidInput(f"an audience named {name!r} already exists") from None
    return get_audience(connection, name)
