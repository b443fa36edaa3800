"""Snakemake text: Python literals, quoted shell templates, and rule blocks.

The compiler builds every rule from these, so the generated files share one layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"(?<!\{)\{(input|output|params|wildcards|resources|log|threads)((?:\.[A-Za-z_]\w*)?)(:[^}]*)?\}(?!\})")


def quote_template(template: str) -> str:
    """Quote every placeholder: ``:q`` for files, and parameters are pre-quoted (see :func:`param_value`)."""
    text = " ".join(template.split())  # folded YAML may leave newlines; a shell command is one line
    # Parameters arrive already quoted by q() (Snakemake's :q drops an empty string), so :u.
    return _PLACEHOLDER.sub(lambda m: "{" + m.group(1) + m.group(2) + (":u}" if m.group(1) == "params" else ":q}"),
                            text)


def py(value: Any) -> str:
    """A Python literal for a value, quoted as black writes it (double quotes unless they need more escapes)."""
    if isinstance(value, bool):
        return '"true"' if value else '"false"'  # what a program's command line expects
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        if value.count('"') > value.count("'"):
            return "'" + text[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        return text
    if isinstance(value, (list, tuple, dict)):
        return flat(literal(value))
    return repr(value)


def param_value(value: Any) -> str:
    """A params entry, shell-quoted by ``q()`` when the job runs.

    Text with braces goes behind a lambda, since Snakemake formats params strings.
    """
    text = f"q({py(value)})"
    return f"lambda w: {text}" if ("{" in text or "}" in text) else text


# Each compiled rule's software environment: the project's environment file (compiled files sit two
# folders below the project root: rules/compiled/ and .slashmake/chains/).
ENV_FILE = "environment.yml"
CONDA_ENV = f"../../{ENV_FILE}"


# -- expressions, laid out as black (and so snakefmt) lays them out --------------------------------
WIDTH = 88  # snakefmt's default line length


@dataclass(frozen=True)
class Bracketed:
    """``head item, item close``: a call (``report(``) or a literal (``{``, ``[``)."""

    head: str
    items: tuple[Expr, ...]
    close: str

    @property
    def literal(self) -> bool:
        # black always puts a split literal's items one per line; a call's may share one line
        return self.head in ("{", "[", "(")


@dataclass(frozen=True)
class Prefixed:
    """``prefix value``: a keyword (``variant=``), a dict key (``"then": ``) or ``lambda w: ``."""

    prefix: str
    value: Expr


@dataclass(frozen=True)
class Commented:
    """An entry with a comment line above it."""

    comment: str
    value: Expr


Expr = str | Bracketed | Prefixed


def call(func: str, *items: Expr) -> Bracketed:
    return Bracketed(f"{func}(", items, ")")


def literal(value: Any) -> Expr:
    """A Python literal of nested dicts, lists and scalars, as an expression to lay out."""
    if isinstance(value, dict):
        return Bracketed("{", tuple(Prefixed(f"{py(k)}: ", literal(v)) for k, v in value.items()), "}")
    if isinstance(value, (list, tuple)):
        return Bracketed("[", tuple(literal(v) for v in value), "]")
    return py(value)


def flat(e: Expr) -> str:
    """The expression on one line."""
    if isinstance(e, str):
        return e
    if isinstance(e, Prefixed):
        return e.prefix + flat(e.value)
    return e.head + ", ".join(flat(i) for i in e.items) + e.close


def layout(e: Expr, indent: int, prefix: str = "", suffix: str = "", width: int = WIDTH) -> list[str]:
    """Lines of ``prefix + e + suffix`` at ``indent``: one line when it fits, else split at the last
    bracket, its items on one line when they fit (a call's), else one per line with a trailing comma."""
    pad = " " * indent
    one = pad + prefix + flat(e) + suffix
    if len(one) <= width or isinstance(e, str):
        return [one]
    if isinstance(e, Prefixed):
        return layout(e.value, indent, prefix + e.prefix, suffix, width)
    if not e.items:
        return [one]
    body = " " * (indent + 4) + ", ".join(flat(i) for i in e.items)
    if len(body) <= width and not (e.literal and len(e.items) > 1):
        return [pad + prefix + e.head, body, pad + e.close + suffix]
    lines = [pad + prefix + e.head]
    for item in e.items:
        lines += layout(item, indent + 4, "", ",", width)
    return lines + [pad + e.close + suffix]


# The order snakefmt puts a rule's directives in; the first two are written on the directive's line.
ORDER = ("input", "output", "log", "group", "localrule", "conda", "threads", "resources", "params", "shell")
INLINE = {"localrule", "threads"}


def directive_lines(value: Expr, prefix: str = "", comma: bool = True) -> list[str]:
    """One entry of a rule's directive, at indent 8, as snakefmt formats it.

    snakefmt hands black ``f(<entry>)`` with the line length cut by the indent (88 - 8 + 3): an entry
    fits on one line up to column 88 without its comma, and once split its lines end by column 87.
    """
    end = "," if comma else ""
    if len(" " * 8 + prefix + flat(value)) <= WIDTH:
        return [" " * 8 + prefix + flat(value) + end]
    lines = layout(value, 8, prefix, "", WIDTH - 1)
    lines[-1] += end
    return lines


def rule_text(kind: str, name: str, comment: str, sections: list[tuple[str, Any]]) -> str:
    """A rule block as snakefmt writes it: two blank lines, a comment line, then each non-empty section."""
    lines = ["", "", f"# {comment}"] if comment else ["", ""]
    lines.append(f"{kind} {name}:")
    for key, value in sorted(sections, key=lambda kv: ORDER.index(kv[0])):
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, (dict, list)):
            lines.append(f"    {key}:")
            entries = value.items() if isinstance(value, dict) else [("", v) for v in value]
            for k, v in entries:
                if isinstance(v, Commented):
                    lines.append(f"        # {v.comment}")
                    v = v.value
                lines += directive_lines(v, f"{k}=" if k else "")
        elif key in INLINE:
            lines.append(f"    {key}: {value}")
        else:
            lines.append(f"    {key}:")
            lines += directive_lines(value, comma=False)
    return "\n".join(lines) + "\n"
