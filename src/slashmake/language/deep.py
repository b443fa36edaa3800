"""The one place where slashmake lets a stage recurse deeply: nested gates, tries and parallel brackets.

The parser accepts nesting up to :data:`slashmake.language.parser.MAX_NESTING` (1,000) levels and reports a
positioned error beyond. The parser (``parallel[``), the resolver and producer identities walk that
tree recursively, a few Python frames per level, which is more than Python's default limit of 1,000
frames. Rather than raise the limit for the whole process (and for Snakemake, which runs in it),
:func:`deep` runs one call in a worker thread with its own larger stack and limit. Measured
(``tests/test_deep.py``'s chains at 1,000 levels): 1,000 nested ``/if`` need between 4,000 and
5,000 frames; 1,000 nested ``/if``, ``/try`` and ``parallel[`` all compile with an 8 MiB stack, so
the 64 MiB below leaves an eightfold margin.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

RECURSION_LIMIT = 20_000
STACK_BYTES = 64 * 1024 * 1024
_lock = threading.Lock()  # the recursion limit is process-wide; one deep call at a time
_local = threading.local()  # set inside the worker: a deep call made there runs in place


def deep(fn: Callable[[], T]) -> T:
    """``fn()`` with room for :data:`RECURSION_LIMIT` frames; its exception, if any, is raised here."""
    if getattr(_local, "inside", False):
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        _local.inside = True
        try:
            result.append(fn())
        except BaseException as exc:  # handed back to the caller's thread unchanged
            error.append(exc)

    with _lock:
        old_stack = threading.stack_size(STACK_BYTES)
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, RECURSION_LIMIT))
        try:
            thread = threading.Thread(target=work, name="slashmake-deep")
            thread.start()
            thread.join()
        finally:
            threading.stack_size(old_stack)
            sys.setrecursionlimit(old_limit)
    if error:
        raise error[0]
    return result[0]

