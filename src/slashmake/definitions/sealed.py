"""Which files slashmake wrote: an entry point carries a marker line sealed with its own content's hash.

A file is slashmake's only when the exact marker line sits where ``slashmake agents install`` puts
it (the second line of a Droid script; the last frontmatter line of a skill) and the hash in it
matches the file's content. A user's file that quotes the marker, or an entry point the user
edited, is the user's: the loader reads it, and install never rewrites or removes it.
"""

from __future__ import annotations

import hashlib
import re

MARKER = "slashmake-entry-point"
SEAL_PLACEHOLDER = "sha256:" + "0" * 16
_SEAL = re.compile(r"sha256:([0-9a-f]{16})")
# The marker line of each kind of file: a comment under the shebang; a skill's last frontmatter key.
_DROID_LINE = re.compile(rf"^# {MARKER} (sha256:[0-9a-f]{{16}}): written by `slashmake agents install`")
_SKILL_LINE = re.compile(rf'^{MARKER}: "(sha256:[0-9a-f]{{16}}) written by `slashmake agents install`')


def seal(text: str) -> str:
    """``text`` with its placeholder seal replaced by the hash of the text around it."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return text.replace(SEAL_PLACEHOLDER, f"sha256:{digest}", 1)


def _matches(text: str, found: str) -> bool:
    unsealed = text.replace(found, SEAL_PLACEHOLDER, 1)
    return seal(unsealed) == text


def is_sealed(text: str) -> bool:
    """Whether ``text`` is an entry point exactly as slashmake wrote it (marker in place, hash matching)."""
    lines = text.split("\n")
    if len(lines) > 2 and lines[0].startswith("#!"):
        m = _DROID_LINE.match(lines[1])
        return m is not None and _matches(text, m.group(1))
    if lines and lines[0] == "---":
        try:
            close = lines.index("---", 1)
        except ValueError:
            return False
        m = _SKILL_LINE.match(lines[close - 1]) if close > 1 else None
        return m is not None and _matches(text, m.group(1))
    return False


def sealed_bytes(head: bytes) -> bool:
    """:func:`is_sealed` for a file's bytes (not UTF-8: not ours)."""
    try:
        return is_sealed(head.decode("utf-8"))
    except UnicodeDecodeError:
        return False
