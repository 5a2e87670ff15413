"""The lock files agree with pyproject.toml: every declared dependency is pinned there,
at a version its range admits, with hashes, and the runtime lock is the dev lock's subset.

They drift when a dependency is added or changed without `make lock`; this test says which.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins(name: str) -> dict[str, str]:
    """Package -> pinned version of a lock file; every pin carries hashes."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins = {}
    for match in re.finditer(
        r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\]+) \\\n(\s+--hash=sha256:\w+)", text, re.M
    ):
        pins[canonicalize_name(match[1].split("[")[0])] = match[2]
    pinned_lines = len(re.findall(r"^[A-Za-z0-9_.\-\[\]]+==", text, re.M))
    assert len(pins) == pinned_lines, f"{name}: a pin without hashes"
    return pins


def _declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(text) for text in declared]


def _unmet(lock: dict[str, str], requirements: list[Requirement]) -> list[str]:
    return [
        f"{req} (locked: {lock.get(canonicalize_name(req.name), 'missing')})"
        for req in requirements
        if canonicalize_name(req.name) not in lock
        or not req.specifier.contains(lock[canonicalize_name(req.name)], prereleases=True)
    ]


def test_the_runtime_lock_pins_every_runtime_dependency():
    """requirements.lock satisfies [project.dependencies]; run `make lock` if not."""
    assert _unmet(_pins("requirements.lock"), _declared(None)) == []


def test_the_dev_lock_pins_every_dependency_and_agrees_with_the_runtime_lock():
    """requirements-dev.lock satisfies the runtime and dev dependencies, with the same
    versions as requirements.lock for what both pin."""
    dev, runtime = _pins("requirements-dev.lock"), _pins("requirements.lock")
    assert _unmet(dev, _declared("dev")) == []
    assert {
        name: (runtime[name], dev.get(name)) for name in runtime if dev.get(name) != runtime[name]
    } == {}
