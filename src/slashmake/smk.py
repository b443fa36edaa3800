"""Snakemake text: Python literals, quoted shell templates, and rule blocks.

The compiler builds every rule from these, so the generated files share one layout.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLACEHOLDER = re.compile(r"(?<!\{)\{(input|output|params|wildcards|resources|log|threads)((?:\.[A-Za-z_]\w*)?)(:[^}]*)?\}(?!\})")


def quote_template(template: str) -> str:
    """Quote every placeholder: ``:q`` for files, and parameters are pre-quoted (see :func:`param_value`)."""
    text = " ".join(template.split())  # folded YAML may leave newlines; a shell command is one line
    # Parameters arrive already quoted by q() (Snakemake's :q drops an empty string), so :u.
    return _PLACEHOLDER.sub(lambda m: "{" + m.group(1) + m.group(2) + (":u}" if m.group(1) == "params" else ":q}"),
                            text)


def py(value: Any) -> str:
    """A Python literal for a value (strings with ``repr`` so newlines and quotes survive)."""
    if isinstance(value, bool):
        return '"true"' if value else '"false"'  # what a program's command line expects
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def param_value(value: Any) -> str:
    """A params entry, shell-quoted by ``q()`` when the job runs.

    Text with braces goes behind a lambda, since Snakemake formats params strings.
    """
    text = f"q({py(value)})"
    return f"lambda w: {text}" if ("{" in text or "}" in text) else text


def rule_text(kind: str, name: str, comment: str, sections: list[tuple[str, Any]]) -> str:
    """A rule block: a comment line, then each non-empty section indented as snakefmt lays it out."""
    lines = [f"# {comment}"] if comment else []
    lines.append(f"{kind} {name}:")
    for key, value in sections:
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            lines.append(f"    {key}:")
            lines += [f"        {k}={v}," for k, v in value.items()]
        elif isinstance(value, list):
            lines.append(f"    {key}:")
            lines += [f"        {v}," for v in value]
        elif key == "shell":
            lines.append(f"    {key}:")
            lines.append(f"        {value}")
        else:
            lines.append(f"    {key}: {value}")
    return "\n".join(lines) + "\n"
