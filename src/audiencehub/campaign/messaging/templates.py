"""Message templates: Jinja2 in a sandbox, and the links a template itself writes.

A template sees the profile's fields and attributes (and a trigger's payload).
Before a template is compiled, every link written in it (an ``href`` of the
HTML part whose scheme and host are literal, or a URL of the text part) is
wrapped in two private-use characters; values that expressions insert have
those characters removed. After rendering, only the wrapped spans are links the
template wrote: :func:`render_linked` hands those to the caller (who tracks
them) and leaves every inserted URL as the plain text it is. A profile whose
first name is ``https://evil.example/`` therefore never gets a signed redirect.
"""

from __future__ import annotations

import functools
import html as html_text
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from audiencehub.campaign.profiles.fields import BOOLEAN_FIELDS, ProfileField
from audiencehub.errors import InvalidInput

__all__ = ["PROFILE_FIELDS", "EmailTemplate", "render", "render_linked"]

# What ``profile`` holds in a template (its id and descriptive fields, not the opt-out
# and blocklist flags); custom attributes are under ``attributes``.
PROFILE_FIELDS = ("id", *(f.value for f in ProfileField if f not in BOOLEAN_FIELDS))

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in a message's own text
_UNMARK = str.maketrans("", "", _OPEN + _CLOSE)
# A link the template writes: a literal http(s) scheme and host, then a path that may hold
# template expressions. The host being literal, no inserted value can change where it goes.
_HOST = r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?"
_EXPRESSION = r"\{\{.*?\}\}|\{%.*?%\}"
_HREF = re.compile(
    rf"""(href\s*=\s*)(["'])({_HOST}(?:[/?#](?:{_EXPRESSION}|(?!\2)[^{{])*)?)\2""",
    re.IGNORECASE,
)
_TEXT_URL = re.compile(rf"""{_HOST}(?:[/?#](?:{_EXPRESSION}|[^\s<>"'){{])*)?""")
_MARKED = re.compile(f"{_OPEN}(.*?){_CLOSE}", re.DOTALL)


def _finalize(value: Any) -> Any:
    """What an expression inserts, without the characters that mark the template's links."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Markup):
        # already trusted by the template (``|safe``); only the marking characters go
        return Markup(str(value).translate(_UNMARK))  # noqa: S704
    return str(value).translate(_UNMARK)


# Missing attributes render empty (not every profile has every attribute); unknown
# top-level names are refused by EmailTemplate.check before sending.
_ENVIRONMENTS = {
    False: SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined, finalize=_finalize),
    True: SandboxedEnvironment(autoescape=True, undefined=ChainableUndefined, finalize=_finalize),
}


@dataclass(frozen=True)
class EmailTemplate:
    """Subject, text and HTML templates (Jinja2, sandboxed)."""

    subject: str
    text: str
    html: str

    def check(self, names: frozenset[str] = frozenset({"profile", "attributes"})) -> None:
        """Refuse templates that do not compile, use unknown names or unknown profile fields,
        before anything is sent (a typo would otherwise render empty in every message)."""
        for part, source in (("subject", self.subject), ("text", self.text), ("html", self.html)):
            environment = _ENVIRONMENTS[part == "html"]
            try:
                tree = environment.parse(source)
            except TemplateError as exc:
                raise InvalidInput(f"the {part} template is invalid: {exc}") from None
            unknown = meta.find_undeclared_variables(tree) - names
            if unknown:
                raise InvalidInput(
                    f"the {part} template uses unknown names: {', '.join(sorted(unknown))}",
                    hint=f"Templates see {', '.join(sorted(names))}.",
                )
            fields = sorted(_profile_fields_used(tree) - set(PROFILE_FIELDS))
            if fields:
                raise InvalidInput(
                    f"the {part} template uses unknown profile fields: {', '.join(fields)}",
                    hint=f"profile has {', '.join(PROFILE_FIELDS)}; custom attributes are "
                    "attributes.NAME.",
                )


def _profile_fields_used(tree: nodes.Template) -> set[str]:
    """The names read as ``profile.NAME`` or ``profile['NAME']`` in a parsed template."""
    used: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        if not (isinstance(node.node, nodes.Name) and node.node.name == "profile"):
            continue
        if isinstance(node, nodes.Getattr):
            used.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            used.add(node.arg.value)
    return used


def _marked(source: str, html: bool) -> str:
    """The source with each link it writes wrapped in the marking characters."""
    clean = source.translate(_UNMARK)
    if html:
        return _HREF.sub(lambda m: f"{m[1]}{m[2]}{_OPEN}{m[3]}{_CLOSE}{m[2]}", clean)
    return _TEXT_URL.sub(lambda m: f"{_OPEN}{m[0]}{_CLOSE}", clean)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool, linked: bool) -> Template:
    # compiling costs a millisecond; a delivery renders the same three sources per message
    return _ENVIRONMENTS[html].from_string(_marked(source, html) if linked else source)


def _render(source: str, context: dict[str, Any], html: bool, linked: bool) -> str:
    try:
        return str(_compiled(source, html, linked).render(**context))
    except TemplateError as exc:
        raise InvalidInput(f"the template cannot be rendered: {exc}") from None


def render(source: str, context: dict[str, Any], *, html: bool) -> str:
    """Render a template source in the sandbox (compiled once, then cached)."""
    return _render(source, context, html, linked=False)


def render_linked(
    source: str, context: dict[str, Any], *, html: bool, link: Callable[[str], str]
) -> str:
    """Render, replacing each link the template wrote by ``link(url)`` (a tracked URL).

    In HTML the URL given to ``link`` is unescaped (``&amp;`` is ``&``), and what
    ``link`` returns is escaped back into the attribute.
    """
    rendered = _render(source, context, html, linked=True)
    if html:
        return _MARKED.sub(
            lambda m: html_text.escape(link(html_text.unescape(m[1])), quote=True), rendered
        )
    return _MARKED.sub(lambda m: link(m[1]), rendered)
