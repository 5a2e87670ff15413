"""The boundaries of ARCHITECTURE.md, read from the code's own imports.

Every ``import`` and ``from ... import`` of every module under ``src/`` is read
with :mod:`ast` (imports inside functions included), so a boundary crossed
anywhere fails here, not in a review.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# campaign's sub-domains, lowest first; a module may import its own rank or lower.
CAMPAIGN_RANKS = {
    "profiles": 1,
    "sharing": 2,
    "messaging": 3,
    "workflows": 4,
    "services": 5,
    "web": 6,
}
# Modules at campaign/'s root that every sub-domain may use (rank 0): they import none.
CAMPAIGN_BASE = {"schema", "audiences", "key_vault", "users", "sessions", "migrations"}
PEOPLE_RANKS = {"web": 2}  # everything else in people/ is the core, rank 1
FOUNDATION = {
    "db",
    "identity",
    "formats",
    "drops",
    "engines",
    "restapi",
    "webui",
    "config",
    "errors",
    "workspace",
}
COMPOSITION = {"runtime", "cli"}
SYSTEMS = {"campaign", "people"}


def module_name(path: Path) -> str:
    """The dotted name of a source file."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every audiencehub module a file imports, by dotted name."""
    found: set[str] = set()
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("audiencehub")}


def import_map() -> dict[str, set[str]]:
    """Module -> the audiencehub modules it imports, for the whole package."""
    return {module_name(path): imports_of(path) for path in SRC.rglob("*.py")}


def _parts(module: str) -> list[str]:
    return module.split(".")[1:]  # without "audiencehub"


def campaign_rank(module: str) -> int | None:
    """The layer of a campaign module (None outside campaign or for its face)."""
    parts = _parts(module)
    if len(parts) < 2 or parts[0] != "campaign":
        return None
    if parts[1] in CAMPAIGN_BASE:
        return 0
    return CAMPAIGN_RANKS.get(parts[1])


def people_rank(module: str) -> int | None:
    """The layer of a people module: its core, or its web face above it."""
    parts = _parts(module)
    if len(parts) < 2 or parts[0] != "people":
        return None
    return PEOPLE_RANKS.get(parts[1], 1)


def violations(imports: dict[str, set[str]]) -> list[str]:
    """Every import that crosses a boundary, as 'importer -> imported: why'."""
    found = []
    for importer, targets in sorted(imports.items()):
        top = (_parts(importer) or [""])[0]
        systems = {(_parts(t) or [""])[0] for t in targets} & SYSTEMS
        for target in sorted(targets):
            target_top = (_parts(target) or [""])[0]
            why = None
            if top in FOUNDATION and target_top in SYSTEMS:
                why = "foundation modules import no system"
            elif top in SYSTEMS and target_top in SYSTEMS - {top}:
                why = "campaign and people never import each other"
            elif top in SYSTEMS and target_top in COMPOSITION:
                why = "a system never imports its composition root"
            elif top == "campaign":
                mine, theirs = campaign_rank(importer), campaign_rank(target)
                if mine is not None and theirs is not None and theirs > mine:
                    why = "a lower campaign sub-domain imports a higher one"
            elif top == "people":
                mine, theirs = people_rank(importer), people_rank(target)
                if mine is not None and theirs is not None and theirs > mine:
                    why = "the people core imports its web face"
            if why:
                found.append(f"{importer} -> {target}: {why}")
        if systems == SYSTEMS and top not in COMPOSITION:
            found.append(f"{importer}: only runtime/ and cli/ import both systems")
    return found


def test_the_package_keeps_its_boundaries():
    """No module of the package crosses a boundary of ARCHITECTURE.md."""
    assert violations(import_map()) == []


def test_campaign_sub_domains_are_where_the_layers_say():
    """Every campaign module belongs to a known layer, so none escapes the rule."""
    unranked = [
        module
        for module in import_map()
        if module.startswith("audiencehub.campaign.") and campaign_rank(module) is None
    ]
    assert unranked == []


@pytest.mark.parametrize(
    ("importer", "target", "why"),
    [
        (
            "audiencehub.campaign.sharing.jobs",
            "audiencehub.campaign.workflows.runner",
            "a lower campaign sub-domain imports a higher one",
        ),
        (
            "audiencehub.campaign.profiles.store",
            "audiencehub.campaign.sharing.data_sources",
            "a lower campaign sub-domain imports a higher one",
        ),
        (
            "audiencehub.campaign.audiences",
            "audiencehub.campaign.sharing.audit",
            "a lower campaign sub-domain imports a higher one",
        ),
        (
            "audiencehub.campaign.sharing.jobs",
            "audiencehub.people.ingest",
            "campaign and people never import each other",
        ),
        (
            "audiencehub.people.segments",
            "audiencehub.people.web.app",
            "the people core imports its web face",
        ),
        (
            "audiencehub.db.bulk",
            "audiencehub.campaign.schema",
            "foundation modules import no system",
        ),
        (
            "audiencehub.people.jobs",
            "audiencehub.runtime.scheduler",
            "a system never imports its composition root",
        ),
    ],
)
def test_a_crossing_is_reported(importer, target, why):
    """Each kind of crossing, planted in an import map, is reported with its reason."""
    assert violations({importer: {target}}) == [f"{importer} -> {target}: {why}"]


def test_only_the_composition_root_imports_both_systems():
    """A module outside runtime/ and cli/ that imports both systems is reported."""
    planted = {"audiencehub.workspace_tools": {"audiencehub.campaign", "audiencehub.people"}}
    assert violations(planted) == [
        "audiencehub.workspace_tools: only runtime/ and cli/ import both systems"
    ]
    allowed = {"audiencehub.runtime.servers": {"audiencehub.campaign", "audiencehub.people"}}
    assert violations(allowed) == []


def test_only_entry_points_set_process_wide_policy():
    """No library module switches the garbage collector, signals or logging configuration:
    runtime/ and cli/ (the entry points) decide."""
    policy = re.compile(
        r"\bgc\.(disable|enable|freeze|set_threshold)\(|\bsignal\.signal\(|\blogging\.basicConfig\("
    )
    setters = [
        module_name(path)
        for path in SRC.rglob("*.py")
        if policy.search(path.read_text(encoding="utf-8"))
        and _parts(module_name(path))[0] not in COMPOSITION
    ]
    assert setters == []


def test_migrations_do_not_read_the_live_schema():
    """A migration writes its tables out: one that imported the schema module would change
    whenever the schema does, and no longer say what the database was at its revision."""
    readers = [
        module
        for module, targets in import_map().items()
        if ".migrations.versions." in module
        and any((_parts(t) or [""])[0] in SYSTEMS for t in targets)
    ]
    assert readers == []
