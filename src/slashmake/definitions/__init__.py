"""Command and droid definitions: Markdown files with YAML frontmatter, read and checked.

The files are the ones Claude Code and Factory Droid read (commands, subagents/droids, skills,
plugins), read the way they read them; everything slashmake needs sits under one ``slashmake:``
key, which the agents ignore. docs/definitions.md describes the formats. This package turns files
into definitions; the work is split by stage:

* :mod:`slashmake.definitions.files` reads one file (encoding, frontmatter, lenient agent keys, positions);
* :mod:`slashmake.definitions.checks` checks it completely and builds its :class:`Command` or :class:`Droid`;
* :mod:`slashmake.definitions.discovery` finds the files (folders, skills, plugins) and loads each on its own;
* :mod:`slashmake.definitions.model` holds what they become;
* :mod:`slashmake.definitions.config` reads ``config/config.yaml``, :mod:`slashmake.definitions.tools` the tool names.

May import: ``slashmake.errors`` only.
"""

from __future__ import annotations

from slashmake.definitions.checks import (
    COMMAND_KEYS,
    COMMAND_TOP_KEYS,
    DROID_KEYS,
    DROID_TOP_KEYS,
    load_command,
    load_droid,
)
from slashmake.definitions.discovery import COMMAND_DIRS, DROID_DIRS, SKILL_DIRS, load
from slashmake.definitions.model import Command, Definitions, Droid, Metrics, name_slug, slug

__all__ = [
    "COMMAND_DIRS", "COMMAND_KEYS", "COMMAND_TOP_KEYS", "DROID_DIRS", "DROID_KEYS", "DROID_TOP_KEYS", "SKILL_DIRS",
    "Command", "Definitions", "Droid", "Metrics", "load", "load_command", "load_droid", "name_slug", "slug",
]
