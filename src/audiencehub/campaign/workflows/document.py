"""Workflow documents: activities and their transitions, validated all at once.

A workflow is YAML or JSON::

    name: French gold customers
    activities:
      - {id: fr, type: query, filter: "country = 'FR'"}
      - {id: vip, type: read_audience, audience: VIP}
      - {id: both, type: union, inputs: [fr, vip]}
      - id: split
        type: segmentation
        input: both
        segments:
          - {name: gold, filter: "attributes.tier = 'gold'"}
          - {name: sample, percent: 10}
        remainder: true
      - {id: save, type: save_audience, input: split.gold, mode: create_or_update, audience: Gold}

An activity's output is named by its id; a segmentation's by ``<id>.<segment>``
(and ``<id>.remainder``); a Save audience in share mode with ``complement: true``
writes ``<id>.complement``, the records that have no ID for its data source.
Validation reports every problem at once: unknown activity types, missing or
unknown settings, dangling transitions, cycles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from audiencehub.campaign.workflows.targeting import compile_filter
from audiencehub.errors import InputFileError, InvalidInput

__all__ = [
    "ACTIVITY_TYPES",
    "Activity",
    "Workflow",
    "load_workflow",
    "parse_workflow",
    "problem_lines",
    "read_workflow",
]

# type -> (required settings, optional settings)
ACTIVITY_TYPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "query": (frozenset({"filter"}), frozenset()),
    "read_audience": (frozenset({"audience"}), frozenset()),
    "union": (frozenset({"inputs"}), frozenset()),
    "intersection": (frozenset({"inputs"}), frozenset()),
    "exclusion": (frozenset({"inputs"}), frozenset()),
    "deduplication": (frozenset({"input"}), frozenset({"by"})),
    "segmentation": (frozenset({"input", "segments"}), frozenset({"remainder"})),
    "save_audience": (
        frozenset({"input", "mode"}),
        frozenset({"audience", "shared_audience", "datasource", "complement"}),
    ),
    "scheduler": (frozenset({"cron"}), frozenset()),
    "email_delivery": (frozenset({"input", "subject", "text", "html"}), frozenset({"name"})),
    "sms_delivery": (frozenset({"input", "text"}), frozenset({"name"})),
}
SAVE_MODES = frozenset({"replace", "complete", "create_or_update", "create_unique", "share"})
_NOT_YET: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Activity:
    """One activity: its id, type, settings, and the outputs it reads."""

    id: str
    type: str
    settings: Mapping[str, Any]
    inputs: tuple[str, ...]

    @property
    def outputs(self) -> tuple[str, ...]:
        """The transitions this activity writes."""
        if self.type == "segmentation":
            names = [f"{self.id}.{segment['name']}" for segment in self.settings["segments"]]
            if self.settings.get("remainder"):
                names.append(f"{self.id}.remainder")
            return tuple(names)
        if self.type == "save_audience" and self.settings.get("complement"):
            return (f"{self.id}.complement",)
        if self.type in ("save_audience", "email_delivery", "sms_delivery", "scheduler"):
            return ()
        return (self.id,)


@dataclass(frozen=True)
class Workflow:
    """A validated workflow, activities in an order that respects every transition."""

    name: str
    activities: tuple[Activity, ...]
    problems: tuple[str, ...] = field(default=())
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cron(self) -> str | None:
        """The Scheduler activity's cron expression, when the workflow has one."""
        for activity in self.activities:
            if activity.type == "scheduler":
                return str(activity.settings["cron"])
        return None


def _activity(raw: Any, index: int, problems: list[str]) -> Activity | None:
    where = f"activity {index + 1}"
    if not isinstance(raw, dict):
        problems.append(f"{where} is not a mapping")
        return None
    identifier, kind = raw.get("id"), raw.get("type")
    if not isinstance(identifier, str) or not identifier or "." in identifier:
        problems.append(f"{where} needs an id (text without '.')")
        return None
    where = f"activity {identifier!r}"
    if kind in _NOT_YET:
        problems.append(f"{where}: type {kind!r} is not available in this version yet")
        return None
    if kind not in ACTIVITY_TYPES:
        problems.append(
            f"{where}: unknown activity type {kind!r}; "
            f"types are {', '.join(sorted(ACTIVITY_TYPES))}"
        )
        return None
    required, optional = ACTIVITY_TYPES[kind]
    settings = {k: v for k, v in raw.items() if k not in ("id", "type")}
    for missing in sorted(required - set(settings)):
        problems.append(f"{where}: missing setting {missing!r}")
    for unknown in sorted(set(settings) - required - optional):
        problems.append(f"{where}: unknown setting {unknown!r}")
    if kind == "save_audience" and settings.get("mode") not in SAVE_MODES:
        problems.append(f"{where}: mode must be one of {', '.join(sorted(SAVE_MODES))}")
    if kind == "save_audience" and settings.get("mode") == "share":
        if "shared_audience" not in settings or "datasource" not in settings:
            problems.append(f"{where}: share needs shared_audience and datasource")
    elif kind == "save_audience" and "audience" not in settings:
        problems.append(f"{where}: missing setting 'audience'")
    if kind == "save_audience" and settings.get("complement") and settings.get("mode") != "share":
        problems.append(f"{where}: complement (records without an ID) needs mode share")
    if kind == "scheduler" and not croniter.is_valid(str(settings.get("cron", ""))):
        problems.append(
            f"{where}: {settings.get('cron')!r} is not a cron expression "
            "(five fields: minute hour day month weekday)"
        )
    if kind == "query":
        _check_filter(settings.get("filter"), where, problems)
    if kind == "segmentation":
        for number, segment in enumerate(settings.get("segments") or [], start=1):
            rules = {"filter", "percent", "count"} & set(
                segment if isinstance(segment, dict) else {}
            )
            if not isinstance(segment, dict) or "name" not in segment or len(rules) != 1:
                problems.append(
                    f"{where}: segment {number} needs a name and one of filter, percent, count"
                )
            elif "filter" in segment:
                _check_filter(segment["filter"], f"{where}, segment {number}", problems)
    raw_inputs = settings.get("inputs", [settings["input"]] if "input" in settings else [])
    if kind in ("union", "intersection", "exclusion") and len(raw_inputs or []) < 2:
        problems.append(f"{where}: {kind} needs at least two inputs")
    inputs = tuple(str(i) for i in raw_inputs or [])
    return Activity(identifier, kind, settings, inputs)


def _check_filter(text: object, where: str, problems: list[str]) -> None:
    """Compile a filter now, so a typo is a problem of the document, not of a run.

    Audience names are checked when the workflow runs (they may be created by then).
    """
    if not isinstance(text, str):
        problems.append(f"{where}: the filter must be text")
        return
    try:
        compile_filter(text, lambda _name: 0)
    except InvalidInput as exc:
        problems.append(f"{where}: {exc.message}")


def parse_workflow(document: Mapping[str, Any]) -> Workflow:
    """Validate a workflow document; problems are collected, not raised."""
    problems: list[str] = []
    name = str(document.get("name") or "workflow")
    raw = document.get("activities")
    if not isinstance(raw, list) or not raw:
        return Workflow(name, (), ("the workflow has no activities list",))
    activities = [a for i, r in enumerate(raw) if (a := _activity(r, i, problems)) is not None]
    seen: dict[str, int] = {}
    for activity in activities:
        seen[activity.id] = seen.get(activity.id, 0) + 1
    problems += [f"activity id {i!r} is used {n} times" for i, n in seen.items() if n > 1]
    producer = {
        output: activity.id
        for activity in activities
        if not _bad(activity)
        for output in activity.outputs
    }
    for activity in activities:
        for source in activity.inputs:
            if source not in producer:
                problems.append(
                    f"activity {activity.id!r}: input {source!r} is no activity's output "
                    "(dangling transition)"
                )
    ordered, cyclic = _order(activities, producer)
    if cyclic:
        problems.append(f"the transitions form a cycle through {', '.join(sorted(cyclic))}")
    if sum(1 for a in activities if a.type == "scheduler") > 1:
        problems.append("a workflow has at most one scheduler activity")
    return Workflow(name, tuple(ordered), tuple(problems), dict(document))


def _bad(activity: Activity) -> bool:
    return activity.type == "segmentation" and not all(
        isinstance(s, dict) and "name" in s for s in activity.settings.get("segments") or []
    )


def _order(activities: list[Activity], producer: dict[str, str]) -> tuple[list[Activity], set[str]]:
    """Kahn's algorithm; what cannot be ordered is on a cycle."""
    by_id = {a.id: a for a in activities}
    needs = {a.id: {producer[i] for i in a.inputs if i in producer} for a in activities}
    ordered: list[Activity] = []
    ready = [i for i, n in needs.items() if not n]
    while ready:
        current = ready.pop(0)
        ordered.append(by_id[current])
        for other, wanted in needs.items():
            if current in wanted:
                wanted.discard(current)
                if not wanted and by_id[other] not in ordered and other not in ready:
                    ready.append(other)
    return ordered, {i for i in needs if by_id[i] not in ordered}


def load_workflow(path: Path) -> Workflow:
    """Read a YAML or JSON workflow file and validate it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    return read_workflow(text, str(path), json_only=path.suffix == ".json")


def read_workflow(text: str, what: str = "the workflow", *, json_only: bool = False) -> Workflow:
    """Parse a workflow's YAML (or JSON, which YAML reads too) text and validate it."""
    try:
        document = json.loads(text) if json_only else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputFileError(
            f"{what} is not valid {'JSON' if json_only else 'YAML'}: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise InputFileError(f"{what} does not hold a workflow (a mapping with activities)")
    return parse_workflow(document)


def problem_lines(text: str, problems: Sequence[str]) -> list[tuple[int | None, str]]:
    """Each problem with the line of the workflow's text it is about (the line that names
    its activity's id), for an editor that shows problems where they are."""
    lines = text.splitlines()
    located: list[tuple[int | None, str]] = []
    for problem in problems:
        found = re.match(r"activity '([^']+)'", problem)
        line = None
        if found:
            name = re.escape(found.group(1))
            pattern = re.compile(rf"(^|[{{,\s-])id:\s*['\"]?{name}['\"]?\s*($|[,}}])")
            line = next((n for n, row in enumerate(lines, 1) if pattern.search(row)), None)
        located.append((line, problem))
    return located
