"""Demo data: a reproducible file of profiles, and the demo job the README runs.

The generator is shared with the benchmarks, so the demo and the measured
numbers come from the same kind of data: mixed-case emails, national and
international phone numbers, custom attributes and a small share of bad rows.
"""

from __future__ import annotations

import csv
import gzip
import random
from dataclasses import dataclass
from pathlib import Path

from audiencehub.campaign.profiles.file_import import ImportReport, Progress, import_profiles
from audiencehub.runtime.demo_logins import DemoLogins, demo_logins
from audiencehub.runtime.demo_sharing import SharingDemo, seed_sharing
from audiencehub.workspace import Workspace, init_workspace

__all__ = ["DEMO_COLUMNS", "DemoResult", "run_demo", "write_demo_profiles"]

DEMO_COLUMNS = (
    "crm_id",
    "email",
    "mobile_phone",
    "first_name",
    "last_name",
    "country",
    "birth_date",
    "email_opt_out",
    "sms_opt_out",
    "loyalty_tier",
)
_FIRST = ("Ada", "Jo", "Marie", "Liam", "Noor", "Kenji", "Olga", "Pedro", "Zoe", "Ines", "Tariq")
_LAST = ("Martin", "Smith", "Dubois", "Okafor", "Tanaka", "Novak", "Garcia", "Kim", "Rossi")
_DOMAINS = ("example.com", "example.org", "gmail.com", "mail.example.net", "shop.example.fr")
_TIERS = ("", "bronze", "silver", "gold")


def _phone(rng: random.Random, country: str) -> str:
    if country == "US":
        number = f"415555{rng.randrange(10_000):04d}"
        return f"+1{number}" if rng.random() < 0.5 else f"({number[:3]}) {number[3:6]}-{number[6:]}"
    if country == "FR":
        digits = f"6{rng.randrange(100_000_000):08d}"
        return f"+33{digits}" if rng.random() < 0.5 else f"0{digits}"
    return f"+447700{rng.randrange(1_000_000):06d}"


def _row(rng: random.Random, index: int, bad_share: float) -> list[str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    country = rng.choice(("US", "FR", "GB"))
    email = f"{first}.{last}{index}@{rng.choice(_DOMAINS)}"
    if rng.random() < 0.3:
        email = email.upper() if rng.random() < 0.5 else f" {email} "
    phone = _phone(rng, country) if rng.random() < 0.7 else ""
    birth = f"{rng.randrange(1940, 2008)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if rng.random() < bad_share:
        kind = rng.randrange(3)
        if kind == 0:
            email = email.replace("@", "")
        elif kind == 1:
            phone = "12"
        else:
            birth = "31/12/1999"
    return [
        f"CRM{index:08d}",
        email,
        phone,
        first,
        last,
        country,
        birth,
        "1" if rng.random() < 0.05 else "0",
        "1" if rng.random() < 0.03 else "",
        rng.choice(_TIERS),
    ]


def write_demo_profiles(
    path: Path, count: int, *, seed: int = 7, bad_share: float = 0.005, delimiter: str = ","
) -> Path:
    """Write ``count`` demo profiles to ``path`` (gzip when it ends in ``.gz``)."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible demo data, not a secret
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(DEMO_COLUMNS)
        for index in range(count):
            writer.writerow(_row(rng, index, bad_share))
    return path


@dataclass(frozen=True)
class DemoResult:
    """The workspace the demo built and what its import did."""

    workspace: Workspace
    data_file: Path
    report: ImportReport
    sharing: SharingDemo | None  # None: the workspace had it already
    logins: DemoLogins


def run_demo(
    folder: Path,
    *,
    count: int = 100_000,
    progress: Progress | None = None,
    people_url: str = "http://127.0.0.1:8081",
) -> DemoResult:
    """Create a workspace in ``folder``, import ``count`` generated demo profiles, and
    share a people-service segment into campaign (see :mod:`audiencehub.runtime.demo_sharing`).

    Running it again re-imports the same file, which changes nothing. ``people_url``
    is where campaign's connection finds the people service once served.
    """
    workspace = init_workspace(folder, demo=True)
    data_file = workspace.path / "demo" / f"profiles-{count}.csv.gz"
    if not data_file.exists():
        write_demo_profiles(data_file, count)
    report = import_profiles(
        workspace.campaign,
        data_file,
        rejects_path=workspace.path / "rejects" / f"{data_file.name}.rejects.csv",
        progress=progress,
    )
    sharing = seed_sharing(workspace)
    return DemoResult(workspace, data_file, report, sharing, demo_logins(workspace, people_url))
