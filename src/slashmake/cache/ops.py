"""The cache's own operations for the API: its settings, its entries and size, and pruning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slashmake.cache.settings import CacheRequest, CacheSettings, from_config
from slashmake.cache.store import Entry, Store
from slashmake.errors import FlowError


@dataclass(frozen=True)
class CacheInfo:
    """``slashmake cache``: where the shared cache is, its entries (oldest first) and stored bytes."""

    location: str
    entries: tuple[Entry, ...]
    size: int
    objects: int


def cache_settings(root: Path, request: CacheRequest | None = None) -> CacheSettings:
    """The shared cache's settings: config's ``cache:`` section under the command line's request."""
    from slashmake.definitions.config import load_config

    return from_config(root, load_config(root), request)


def open_store(root: Path, request: CacheRequest | None) -> Store:
    """The configured cache; a FlowError when none is configured."""
    settings = cache_settings(root.resolve(), request)
    if settings.location is None:
        raise FlowError("no shared cache: set cache.location in config/config.yaml, SLASHMAKE_CACHE, "
                        "or pass --cache-location")
    return Store(settings.location, settings.remote)


def cache_info(root: Path, request: CacheRequest | None = None) -> CacheInfo:
    """The shared cache's entries and size."""
    store = open_store(root, request)
    objects = store.objects()
    return CacheInfo(store.location, tuple(store.entries()), sum(objects.values()), len(objects))


def cache_prune(root: Path, request: CacheRequest | None, older_than: float | None,
                max_size: int | None) -> tuple[list[Entry], int]:
    """Drop entries older than ``older_than`` seconds, then the oldest past ``max_size`` bytes; (dropped, freed)."""
    return open_store(root, request).prune(older_than, max_size)
