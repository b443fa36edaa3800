"""Checks on resolved steps that would otherwise fail only inside a job, or inside Snakemake.

- ``{wildcards.variant}`` in the shell of a step that is not a sweep (an AttributeError in the job);
- arguments and parameter values too long for one program argument: a job passes them to its
  program as argv words, and the kernel refuses a word over 128 KiB ("Argument list too long").

Each is a :class:`~slashmake.errors.ResolveError` at the step's chain position, so ``lint`` (for
macros), ``explain`` and ``run`` report it before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from slashmake.compiler.steps import CommandStep, Step
from slashmake.errors import ResolveError

# Linux's MAX_ARG_STRLEN is 128 KiB per argv word; leave room for the option text around a value.
MAX_ARGUMENT_BYTES = 128 * 1024 - 4096


def check_steps(steps: Iterable[Step]) -> None:
    """Raise on the first step that cannot run as compiled."""
    for step in steps:
        if not isinstance(step, CommandStep) or step.command is None:
            continue
        cmd = step.command
        if step.variants is None and cmd.shell and "{wildcards." in cmd.shell:
            raise ResolveError(f"{cmd.display} uses {{wildcards.variant}} in its shell, but this step is "
                               "not a sweep: sweep it (parallel[...]) or drop the placeholder", step.span)
        size = len(json.dumps(list(step.args), ensure_ascii=False).encode())
        if size > MAX_ARGUMENT_BYTES:
            raise ResolveError(f"the arguments of {cmd.display} are {size // 1024} KiB; a program argument may be at "
                               f"most {MAX_ARGUMENT_BYTES // 1024} KiB: put long text in a file and pass its path",
                               step.span)
        for key, value in step.params.items():
            size = len(str(value).encode())
            if size > MAX_ARGUMENT_BYTES:
                raise ResolveError(f"parameter {key} of {cmd.display} is {size // 1024} KiB; a program argument may "
                                   f"be at most {MAX_ARGUMENT_BYTES // 1024} KiB", step.span)
