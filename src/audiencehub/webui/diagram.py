"""A directed graph drawn as SVG: boxes in layers, arrows between them.

Workflows are small (a few to a few dozen activities), so a layered layout
(each node one layer right of its deepest input) reads well and needs no
layout engine in the browser. Labels are escaped; the SVG carries a title for
screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["graph_svg"]

_W, _H, _GAP_X, _GAP_Y = 150, 44, 50, 18


def graph_svg(
    nodes: Sequence[tuple[str, str]], edges: Sequence[tuple[str, str]], title: str
) -> str:
    """SVG of ``nodes`` (id, label) and ``edges`` (from id, to id), in the nodes' order
    (which must respect the edges, as a validated workflow's does)."""
    layer: dict[str, int] = {}
    for node, _ in nodes:
        inputs = [layer[a] for a, b in edges if b == node and a in layer]
        layer[node] = 1 + max(inputs) if inputs else 0
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for node, _ in nodes:
        column = layer[node]
        row = rows.get(column, 0)
        rows[column] = row + 1
        where[node] = (10 + column * (_W + _GAP_X), 10 + row * (_H + _GAP_Y))
    width = 20 + (max(layer.values(), default=0) + 1) * (_W + _GAP_X) - _GAP_X
    height = 20 + max(rows.values(), default=1) * (_H + _GAP_Y) - _GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="graph" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for source, target in edges:
        if source in where and target in where:
            (x1, y1), (x2, y2) = where[source], where[target]
            parts.append(
                f'<line x1="{x1 + _W}" y1="{y1 + _H // 2}" x2="{x2}" y2="{y2 + _H // 2}" '
                'marker-end="url(#arrow)"/>'
            )
    for node, label in nodes:
        x, y = where[node]
        parts.append(
            f'<g><rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6"/>'
            f'<text x="{x + _W // 2}" y="{y + 18}">{escape(node)}</text>'
            f'<text class="kind" x="{x + _W // 2}" y="{y + 35}">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
