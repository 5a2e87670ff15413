"""The wire formats shared by both systems: file names, rows and control files.

Streams in, values out: nothing here opens files or talks to the network.
"""

from audiencehub.formats.control import ControlFile, FileEntry, LineWriter
from audiencehub.formats.idsync import IdSyncRow, format_id_sync_row, parse_id_sync_row
from audiencehub.formats.inbound import InboundRow, TraitRef, format_inbound_row, parse_inbound_row
from audiencehub.formats.names import (
    IdSyncName,
    InboundName,
    OutboundName,
    SyncMode,
    parse_id_sync_name,
    parse_inbound_name,
    parse_outbound_name,
)
from audiencehub.formats.outbound import OutboundRow, format_outbound_row, parse_outbound_row

__all__ = [
    "ControlFile",
    "FileEntry",
    "IdSyncName",
    "IdSyncRow",
    "InboundName",
    "InboundRow",
    "LineWriter",
    "OutboundName",
    "OutboundRow",
    "SyncMode",
    "TraitRef",
    "format_id_sync_row",
    "format_inbound_row",
    "format_outbound_row",
    "parse_id_sync_name",
    "parse_id_sync_row",
    "parse_inbound_name",
    "parse_inbound_row",
    "parse_outbound_name",
    "parse_outbound_row",
]
