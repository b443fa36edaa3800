"""Reading one definition file: its text, its frontmatter, and where each key sits.

Two readers share one file, the way the agents and slashmake share it:

* the keys the agents read (``description``, ``argument-hint``, ``tools``...) are read leniently,
  as Claude Code and Droid read them: a value a strict YAML parser rejects (``description: Use
  when: x``, ``argument-hint: [pr-number]``, ``{{NAME}}``, ``<example>`` blocks) is kept as text;
* the ``slashmake:`` key is strict YAML, and every error in it has a ``file:line:col`` and a caret.

A file without frontmatter is all body (a prompt); its first non-empty line is its description.
Text is UTF-8, with or without a byte-order mark, with LF or CRLF line ends; anything else is a
:class:`~slashmake.errors.DefinitionError` naming the file and the first bad byte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from slashmake.errors import DefinitionError, Source, Span

_BOM = b"\xef\xbb\xbf"
# libyaml when it is there: a project's files are read on every start (~10x faster than pure Python).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml when available."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
# A top-level key at column 0 (``argument-hint:``, ``"description":``); anything else continues it.
_KEY_LINE = re.compile(r"""(["']?)([A-Za-z0-9_$][\w.$-]*)\1[ \t]*:(?=[ \t]|$)""")


# A definition file is a page of frontmatter and prose. One far larger is refused before it is read,
# so that a huge or endless file (a device, a runaway generator) never blocks loading the others.
MAX_BYTES = 1 << 20


def read_capped(path: Path, name: str) -> str:
    """The decoded text of a definition or config file; one over ``MAX_BYTES`` is a DefinitionError."""
    with path.open("rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise DefinitionError(f"{name} is larger than {MAX_BYTES // 1024} KiB, the most a definition file may be: "
                              "refused unread", hint="keep long reference text in a file the body names with @path")
    return decode(raw, name)


def decode(raw: bytes, name: str) -> str:
    """The text of a definition file: UTF-8 (a BOM dropped), line ends made ``\\n``."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start].decode("utf-8", errors="replace").replace("\r\n", "\n")
        shown = before + raw[e.start :].decode("utf-8", errors="replace").replace("\r\n", "\n")
        span = Span(Source(name, shown), len(before), len(before) + 1)
        raise DefinitionError(f"{name} is not UTF-8 text (byte 0x{raw[e.start]:02x} cannot be read)", span,
                              hint="save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class Segment:
    """One top-level key of the frontmatter: where its line starts, its value starts, and it ends."""

    key: str
    start: int  # offsets into the YAML text
    value_start: int
    end: int


def segments(yaml_text: str) -> list[Segment]:
    """The top-level keys of a frontmatter block, each with the lines that continue it."""
    found: list[tuple[str, int, int]] = []
    pos = 0
    for line in yaml_text.split("\n"):
        m = _KEY_LINE.match(line)
        if m:
            found.append((m.group(2), pos, pos + m.end()))
        pos += len(line) + 1
    return [Segment(key, start, vstart, found[i + 1][1] if i + 1 < len(found) else len(yaml_text))
            for i, (key, start, vstart) in enumerate(found)]


def yaml_error(e: yaml.YAMLError, source: Source, base: int) -> DefinitionError:
    """A YAML parser error at its place in the file (``base``: where the parsed text starts)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    pos = min(base + (mark.index if mark else 0), max(0, len(source.text) - 1))
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return DefinitionError(f"invalid YAML: {problem}", Span(source, pos, pos + 1))


def find_node(root: yaml.Node, keys: Sequence[str | int], value: bool) -> yaml.Node | None:
    """The node at a path of ``keys`` (key names, list indexes) under ``root``: the key's node, or its
    value if asked; where the path leaves the tree, the nearest part that is there; None if no part is."""
    node: yaml.Node = root
    found: yaml.Node | None = None
    for key in keys:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    nxt, found = v, (v if value else k)
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = found = node.value[key]
        if nxt is None:
            break
        node = nxt
    return found


def node_span(source: Source, node: yaml.Node, base: int = 0) -> Span:
    """The span of a YAML node composed from text that starts at offset ``base`` of ``source``."""
    start = base + node.start_mark.index
    return Span(source, start, max(base + node.end_mark.index, start + 1))


class DefFile:
    """A definition file read: ``data`` (every key, agent keys lenient), ``body``, and spans."""

    def __init__(self, path: Path, name: str, text: str | None = None) -> None:
        self.path = path
        self.name = name
        self.text = text if text is not None else read_capped(path, name)
        self.source = Source(name, self.text)
        self.has_frontmatter = False
        self.offset = 0  # where the YAML text starts in the file
        self.yaml_text = ""
        self.data: dict[str, Any] = {}
        self.raw: dict[str, str] = {}  # each agent key's value as written (for lenient reading)
        self.segs: dict[str, Segment] = {}
        self.node: yaml.Node | None = None  # the slashmake key's value node (positions from ``sm_base``)
        self.sm_base = 0
        lines = self.text.split("\n")
        if lines[0].strip() != "---":
            self.body = self.text.strip("\n")
            return
        self.has_frontmatter = True
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is None:
            raise DefinitionError("frontmatter is not closed by a '---' line", Span(self.source, 0, 3))
        self.yaml_text = "\n".join(lines[1:end])
        self.offset = len(lines[0]) + 1
        self.body = "\n".join(lines[end + 1 :]).strip("\n")
        self._read_keys()

    # -- reading ---------------------------------------------------------------------------------
    def _read_keys(self) -> None:
        try:
            strict = safe_load(self.yaml_text)
        except yaml.YAMLError:
            strict = None  # an agent key the agents accept but YAML does not: read key by key
        if strict is not None and not isinstance(strict, dict):
            raise DefinitionError("frontmatter must be a mapping of keys",
                                  Span(self.source, self.offset, self.offset + 1))
        segs = segments(self.yaml_text)
        seen: dict[str, Segment] = {}
        for seg in segs:
            if seg.key in seen and seg.key == "slashmake":
                raise DefinitionError("'slashmake' is given twice (the second one would replace the first)",
                                      self._seg_span(seg))
            seen[seg.key] = seg
        for key, seg in seen.items():
            text = self.yaml_text[seg.value_start : seg.end]
            self.raw[key] = _plain(text)
            if key == "slashmake":
                self.data[key] = self._strict_slashmake(seg.start, seg.end)
            elif isinstance(strict, dict) and key in strict:
                self.data[key] = strict[key]
            else:
                self.data[key] = _lenient(self.yaml_text[seg.start : seg.end], key, self.raw[key])
        self.segs = seen
        if isinstance(strict, dict):  # keys the line reader cannot see (a flow mapping, odd keys)
            for key, value in strict.items():
                if str(key) == "slashmake" and "slashmake" not in seen:
                    self.data["slashmake"] = self._strict_slashmake(0, len(self.yaml_text))
                else:
                    self.data.setdefault(str(key), value)

    def _strict_slashmake(self, start: int, end: int) -> Any:
        chunk = self.yaml_text[start:end]
        base = self.offset + start
        try:
            root = yaml.compose(chunk, Loader=_LOADER)
            data = safe_load(chunk)
        except yaml.YAMLError as e:
            raise yaml_error(e, self.source, base) from None
        self.sm_base = base
        if isinstance(root, yaml.MappingNode):
            self.node = next((v for k, v in root.value if getattr(k, "value", None) == "slashmake"), None)
        return data.get("slashmake") if isinstance(data, dict) else None

    # -- positions -------------------------------------------------------------------------------
    def _seg_span(self, seg: Segment, value: bool = False) -> Span:
        start = self.offset + (seg.value_start if value else seg.start)
        if value:
            text = self.text[start : self.offset + seg.end]
            start += len(text) - len(text.lstrip())
            stop = start + max(1, len(text.strip().split("\n")[0]))
        else:
            stop = start + len(seg.key)
        return Span(self.source, start, stop)

    def span(self, *keys: str | int, value: bool = False) -> Span:
        """Where ``keys`` (a path into the mapping: key names, list indexes) sits; its value if asked.

        A top-level agent key gets its line; a path under ``slashmake`` its exact node. A path
        that is not in the file falls back to the nearest part that is.
        """
        if not keys:
            return Span(self.source, self.offset, self.offset + 3)
        first = keys[0]
        if first != "slashmake" or self.node is None:
            seg = self.segs.get(str(first))
            if seg is None:
                return Span(self.source, self.offset, self.offset + 3)
            return self._seg_span(seg, value=value)
        found = find_node(self.node, keys[1:], value)
        if found is None:
            seg = self.segs.get("slashmake")
            if seg is not None:
                return self._seg_span(seg, value=len(keys) == 1 and value)
            found = self.node
        return node_span(self.source, found, self.sm_base)

    def error(self, message: str, *keys: str | int, value: bool = True, hint: str | None = None) -> DefinitionError:
        """An error at ``keys`` (the value, by default: the caret goes under what is wrong)."""
        return DefinitionError(message, self.span(*keys, value=value), hint)

    def warn_at(self, message: str, *keys: str | int) -> str:
        """``file:line:col: message`` for a warning at a key."""
        line, col = self.span(*keys).position()
        return f"{self.name}:{line}:{col}: {message}"

    def description(self) -> str:
        """The description an agent shows: the key, or the body's first non-empty line."""
        value = self.data.get("description")
        if value is not None and not isinstance(value, (dict, list)):
            return str(value).strip()
        if value is not None:
            return self.raw.get("description", "")
        for line in self.body.split("\n"):
            if line.strip():
                return line.strip().lstrip("#").strip()
        return ""


def _plain(text: str) -> str:
    """A value as written, on one line: quotes and block markers kept out, lines joined."""
    lines = [line.strip() for line in text.split("\n")]
    first = lines[0]
    if first in ("|", ">", "|-", ">-", "|+", ">+"):
        lines = lines[1:]
    return " ".join(line for line in lines if line and not line.startswith("#")).strip()


def _lenient(chunk: str, key: str, raw: str) -> Any:
    """One agent key's value: YAML's when YAML reads it, else the text as written."""
    try:
        data = safe_load(chunk)
    except yaml.YAMLError:
        return _unquote(raw)
    if isinstance(data, dict) and key in data:
        return data[key]
    return _unquote(raw)


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw
