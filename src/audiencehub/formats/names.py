"""File-name grammars of the three shared file kinds (DOMAIN.md section 6).

- inbound data files (campaign -> people):
  ``ftp_dpm_<DPID>[_<DPID_TARGET>]_<UNIX s, 10 digits>.(sync|overwrite)[.<split>][.gz]``
- outbound files (people -> campaign): ``<SYNC_TYPE>_<DID>_<MASTER_DPID>_<PID_ALIAS>``
  ``_<iter|full>_<UNIX ms, 13 digits>[-<split>].sync[.gz]``
- ID sync files: ``adobe_id_<MASTER_DPID>_<DPID>[_<DPID>]_<UNIX s>.sync[.<split>][.gz]``
  (or ``c2c_id_...``, the prefix of people-based destinations)

Names are parsed strictly: a wrongly named file is reported, never guessed at.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from audiencehub.errors import InvalidInput

__all__ = [
    "ID_SYNC_PREFIXES",
    "IdSyncName",
    "InboundName",
    "OutboundName",
    "SyncMode",
    "is_id_sync_name",
    "parse_id_sync_name",
    "parse_inbound_name",
    "parse_outbound_name",
]

_INBOUND = re.compile(
    r"^ftp_dpm_(?P<dpid>\d+)(?:_(?P<target>\d+))?_(?P<ts>\d{10})"
    r"\.(?P<mode>sync|overwrite)(?:\.(?P<split>\d+))?(?P<gz>\.gz)?$"
)
# [SYNC_TYPE]_DID_MASTER_DPID[_PID_ALIAS][_iter|_full]_TIMESTAMP[SPLITNUM].sync[.gz], where
# SPLITNUM is 3 or more digits right after the 13-digit time ("the first split file will
# end with 001"); the older "-N" split form is read too.
_OUTBOUND = re.compile(
    r"^(?P<sync>[A-Za-z0-9]+)_(?P<did>\d+)_(?P<master>\d+)"
    r"(?:_(?!(?:iter|full)_\d{13})(?P<alias>[A-Za-z0-9]+))?"
    r"(?:_(?P<kind>iter|full))?_(?P<ts>\d{13})(?:(?P<split>\d{3,})|-(?P<dash>\d+))?"
    r"\.sync(?P<gz>\.gz)?$"
)
_ID_SYNC = re.compile(
    r"^(?P<prefix>adobe_id|c2c_id)_(?P<master>\d+)_(?P<dpids>\d+(?:_\d+)*)_(?P<ts>\d{10})"
    r"\.sync(?:\.(?P<split>\d+))?(?P<gz>\.gz)?$"
)


class SyncMode(enum.StrEnum):
    """``sync`` adds traits; ``overwrite`` replaces the user's traits from that source."""

    SYNC = "sync"
    OVERWRITE = "overwrite"


def _refuse(name: str, kind: str, form: str) -> InvalidInput:
    return InvalidInput(f"{name!r} is not an {kind} file name", hint=f"Name it {form}.")


@dataclass(frozen=True, slots=True, order=True)
class InboundName:
    """A parsed inbound data file name."""

    timestamp: int
    dpid: int
    target_dpid: int | None
    mode: SyncMode
    split: int | None = None
    gzip: bool = False

    @property
    def batch(self) -> str:
        """The name without split number and compression: split files share it."""
        target = f"_{self.target_dpid}" if self.target_dpid is not None else ""
        return f"ftp_dpm_{self.dpid}{target}_{self.timestamp:010d}.{self.mode}"

    def __str__(self) -> str:
        split = f".{self.split}" if self.split is not None else ""
        return f"{self.batch}{split}{'.gz' if self.gzip else ''}"


def parse_inbound_name(name: str) -> InboundName:
    """Parse an ``ftp_dpm_...`` name, refusing anything else."""
    match = _INBOUND.match(name)
    if match is None:
        raise _refuse(
            name,
            "inbound data",
            "ftp_dpm_<DPID>[_<DPID_TARGET>]_<10-digit UNIX time>.sync|overwrite[.<split>][.gz]",
        )
    return InboundName(
        timestamp=int(match["ts"]),
        dpid=int(match["dpid"]),
        target_dpid=int(match["target"]) if match["target"] else None,
        mode=SyncMode(match["mode"]),
        split=int(match["split"]) if match["split"] else None,
        gzip=bool(match["gz"]),
    )


@dataclass(frozen=True, slots=True)
class OutboundName:
    """A parsed outbound file name; ordering sorts batches by time, then split."""

    timestamp_ms: int
    split: int | None  # None: the first (or only) file of the batch
    destination_id: int
    master_dpid: int
    alias: str | None  # the PID_ALIAS, optional
    full: bool | None  # the sync mode; None when the name has none (read as iter)
    sync_type: str = "S3"
    gzip: bool = True

    @property
    def batch(self) -> str:
        """The batch root shared by split files and their ``.info`` control file."""
        parts = [self.sync_type, str(self.destination_id), str(self.master_dpid)]
        if self.alias:
            parts.append(self.alias)
        if self.full is not None:
            parts.append("full" if self.full else "iter")
        return "_".join([*parts, f"{self.timestamp_ms:013d}"])

    def __lt__(self, other: OutboundName) -> bool:
        return self.order_key < other.order_key

    @property
    def order_key(self) -> tuple[int, int, str]:
        """Time, then split (the unnumbered first file before 001), then the batch root."""
        return (self.timestamp_ms, -1 if self.split is None else self.split, self.batch)

    @property
    def is_full(self) -> bool:
        """Whether the batch replaces (full); a name without a sync mode adds and removes."""
        return self.full is True

    @property
    def info_name(self) -> str:
        """The name of the batch's transfer-control file."""
        return f"{self.batch}.info"

    def __str__(self) -> str:
        split = f"{self.split:03d}" if self.split is not None else ""
        return f"{self.batch}{split}.sync{'.gz' if self.gzip else ''}"


def parse_outbound_name(name: str) -> OutboundName:
    """Parse a name such as ``S3_1234_20914_XYZCustomer_iter_1486140844000.sync.gz``."""
    match = _OUTBOUND.match(name)
    if match is None:
        raise _refuse(
            name,
            "outbound",
            "<SYNC_TYPE>_<DID>_<MASTER_DPID>[_<PID_ALIAS>][_iter|_full]_<13-digit ms>"
            "[<3-digit split>].sync[.gz]",
        )
    split = match["split"] or match["dash"]
    return OutboundName(
        timestamp_ms=int(match["ts"]),
        split=int(split) if split else None,
        destination_id=int(match["did"]),
        master_dpid=int(match["master"]),
        alias=match["alias"],
        full=None if match["kind"] is None else match["kind"] == "full",
        sync_type=match["sync"],
        gzip=bool(match["gz"]),
    )


@dataclass(frozen=True, slots=True, order=True)
class IdSyncName:
    """A parsed ID sync file name: one column per DPID, the master's first."""

    timestamp: int
    master_dpid: int
    dpids: tuple[int, ...]
    split: int | None = None
    gzip: bool = False
    prefix: str = "adobe_id"  # or c2c_id: customer IDs to hashed emails (people-based)

    @property
    def batch(self) -> str:
        """The name without split number and compression."""
        dpids = "_".join(str(d) for d in self.dpids)
        return f"{self.prefix}_{self.master_dpid}_{dpids}_{self.timestamp:010d}.sync"

    def __str__(self) -> str:
        split = f".{self.split}" if self.split is not None else ""
        return f"{self.batch}{split}{'.gz' if self.gzip else ''}"


ID_SYNC_PREFIXES = ("adobe_id_", "c2c_id_")


def is_id_sync_name(name: str) -> bool:
    """Whether a file name claims to be an ID sync file (either documented prefix)."""
    return name.startswith(ID_SYNC_PREFIXES)


def parse_id_sync_name(name: str) -> IdSyncName:
    """Parse an ``adobe_id_...`` or ``c2c_id_...`` name."""
    match = _ID_SYNC.match(name)
    if match is None:
        raise _refuse(
            name,
            "ID sync",
            "adobe_id_|c2c_id_<MASTER_DPID>_<DPID>[_<DPID>]_<10-digit UNIX time>"
            ".sync[.<split>][.gz]",
        )
    return IdSyncName(
        timestamp=int(match["ts"]),
        master_dpid=int(match["master"]),
        dpids=tuple(int(d) for d in match["dpids"].split("_")),
        split=int(match["split"]) if match["split"] else None,
        gzip=bool(match["gz"]),
        prefix=match["prefix"],
    )
