"""docs/api.md lists every operation of both apps' OpenAPI documents, and every operation
carries an example (of its parameters, its body or its answer)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.people.web.app import create_people_app
from tests.helpers import services_of

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_every_route_is_in_the_route_table(sqlite_workspace):
    table = REFERENCE.read_text(encoding="utf-8")
    apps = (
        create_campaign_app(services_of(sqlite_workspace)),
        create_people_app(sqlite_workspace.people),
    )
    for app in apps:
        for path, operations in app.openapi()["paths"].items():
            for method in operations:
                assert f"`{method.upper()} {path}`" in table, f"{method} {path}"


def _has_example(node, schemas, depth=0):
    if depth > 16:
        return False
    if isinstance(node, dict):
        if "example" in node or "examples" in node:
            return True
        if "$ref" in node:
            return _has_example(schemas[node["$ref"].split("/")[-1]], schemas, depth + 1)
        return any(_has_example(value, schemas, depth + 1) for value in node.values())
    if isinstance(node, list):
        return any(_has_example(value, schemas, depth + 1) for value in node)
    return False


def test_every_operation_has_an_example(sqlite_workspace):
    apps = (
        create_campaign_app(services_of(sqlite_workspace)),
        create_people_app(sqlite_workspace.people),
    )
    for app in apps:
        document = app.openapi()
        schemas = document["components"]["schemas"]
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                own = {
                    "parameters": operation.get("parameters", []),
                    "requestBody": operation.get("requestBody", {}),
                    "responses": {
                        status: answer
                        for status, answer in operation["responses"].items()
                        if str(status).startswith(("2", "3"))
                    },
                }
                assert _has_example(own, schemas), f"{method.upper()} {path} has no example"


def test_no_two_paths_differ_only_in_a_parameter_name(sqlite_workspace):
    """OpenAPI: "templated paths with the same hierarchy but different templated names
    MUST NOT exist as they are identical"; clients generated from the document break."""
    apps = (
        create_campaign_app(services_of(sqlite_workspace)),
        create_people_app(sqlite_workspace.people),
    )
    for app in apps:
        shapes: defaultdict[str, list[str]] = defaultdict(list)
        for path in app.openapi()["paths"]:
            shapes[re.sub(r"\{[^}]*\}", "{}", path)].append(path)
        assert [paths for paths in shapes.values() if len(paths) > 1] == []
