"""The ``cache:`` section of ``config/config.yaml``, with the command line's overrides applied.

    cache:
      location: /shared/slashmake-cache     # a folder, or a DVC remote URL (ssh://host/path, s3://bucket/path)
      steps: auto                           # or a list of commands: [ml-train, pretrain-bilstm]
      exclude: [ml-deploy]                  # commands never cached
      mode: full                            # or omit-software: the software environment is not in the key
      remote: {keyfile: ~/.ssh/id_ed25519}  # options of the DVC remote (port, user, keyfile, endpointurl...)

No ``location`` (and no ``--cache-location``): no cache. ``steps: auto`` caches every step
:func:`slashmake.compiler.steps.cacheable` allows: a program step that declares its outputs and is
not a ``/try``, and any command whose frontmatter says ``cache: true``. A command saying
``cache: false`` (a deploy, a notification) is never cached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from slashmake.errors import FlowError

MODES = ("full", "omit-software")


@dataclass(frozen=True)
class CacheSettings:
    """Where the shared cache lives and what goes in it; ``location`` None: no cache."""

    location: str | None = None
    steps: tuple[str, ...] | None = None  # None: every eligible step ("auto")
    exclude: tuple[str, ...] = ()
    mode: str = "full"
    remote: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether there is a cache (a location)."""
        return self.location is not None

    @property
    def is_url(self) -> bool:
        """Whether the location is a remote URL (anything but a plain folder)."""
        return self.location is not None and is_url(self.location)

    def selects(self, command: str) -> bool:
        """Whether steps of ``command`` (its name, e.g. ``ml-train``) are cached."""
        name = command.lstrip("/")
        if name in self.exclude:
            return False
        return self.steps is None or name in self.steps


@dataclass(frozen=True)
class CacheRequest:
    """What the command line asks of the cache: ``--cache-location``, ``--cache-mode``, ``--no-cache``."""

    location: str | None = None
    mode: str | None = None
    disabled: bool = False


def is_url(location: str) -> bool:
    """``scheme://...`` with a scheme longer than a drive letter."""
    scheme = urlparse(location).scheme
    return len(scheme) > 1 and "://" in location


def from_config(root: Path, config: dict[str, Any], request: CacheRequest | None = None) -> CacheSettings:
    """The cache settings from a project's config, then ``--cache-location``/``--cache-mode``/``--no-cache``.

    ``SLASHMAKE_CACHE`` in the environment is a location too (below the command line, above the
    config), so a CI runner or a SLURM allocation can point every clone at one folder.
    """
    request = request or CacheRequest()
    location, mode = request.location, request.mode
    section = config.get("cache") or {}
    if not isinstance(section, dict):
        raise FlowError("config 'cache': write a mapping (location, steps, exclude, mode, remote)")
    unknown = sorted(set(section) - {"location", "steps", "exclude", "mode", "remote"})
    if unknown:
        raise FlowError(f"config 'cache': unknown key {unknown[0]!r} (keys: location, steps, exclude, mode, remote)")
    if request.disabled:
        return CacheSettings()
    where = location or os.environ.get("SLASHMAKE_CACHE") or section.get("location")
    if where is not None and (not isinstance(where, str) or not where.strip()):
        raise FlowError(f"cache location {where!r}: write a folder or a URL such as ssh://host/path")
    steps = section.get("steps", "auto")
    if steps != "auto" and not (isinstance(steps, list) and all(isinstance(s, str) for s in steps)):
        raise FlowError(f"config 'cache.steps': write auto or a list of command names, not {steps!r}")
    exclude = section.get("exclude") or []
    if not (isinstance(exclude, list) and all(isinstance(s, str) for s in exclude)):
        raise FlowError(f"config 'cache.exclude': write a list of command names, not {exclude!r}")
    chosen = mode or section.get("mode") or "full"
    if chosen not in MODES:
        raise FlowError(f"cache mode {chosen!r}: write one of {', '.join(MODES)}")
    remote = section.get("remote") or {}
    if not isinstance(remote, dict):
        raise FlowError("config 'cache.remote': write a mapping of the DVC remote's options")
    settings = CacheSettings(None, None if steps == "auto" else tuple(s.lstrip("/") for s in steps),
                             tuple(s.lstrip("/") for s in exclude), chosen, dict(remote))
    if where is None:
        return settings
    where = where.strip()
    if not is_url(where):
        # a relative folder is the project's; ~ is the user's
        path = Path(os.path.expanduser(where))
        where = str(path if path.is_absolute() else (root / path).resolve())
    return replace(settings, location=where)
