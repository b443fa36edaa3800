"""Keep snakemake-executor-plugin-slurm's start-up costs off the runs that do not use SLURM.

Snakemake imports every installed executor plugin when it starts, whatever the executor, and the
SLURM plugin does two costly things at import time:

- its efficiency report imports pandas and numpy (half a second of CPU), for the opt-in
  ``--slurm-efficiency-report``;
- to word one line of its ``--help``, it asks the controller for ``MinJobAge``
  (``scontrol show config``). Where SLURM's tools are installed and no controller answers (a
  workstation with the client package, a login node cut off from its cluster), ``scontrol``
  retries for about 10 seconds: every run then starts 10 s late.

:func:`lighten` puts stand-ins for both in place before Snakemake starts in a process of
slashmake's. A run on SLURM gets the plugin's real behaviour: the report module is imported on
the first report, and the plugin picks its job-status command at run time with the real
``get_min_job_age`` (the stand-in only answers the help text's question).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

PLUGIN = "snakemake_executor_plugin_slurm"
# The module that imports pandas (and numpy) at import time.
SLURM_REPORT = f"{PLUGIN}.efficiency_report"
# The module whose should_recommend_squeue_status_command asks the controller, for --help.
SLURM_STATUS_QUERY = f"{PLUGIN}.job_status_query"


def _plugin_dir() -> Path | None:
    """The installed plugin's package folder, found without importing it (None when absent)."""
    spec = importlib.util.find_spec(PLUGIN)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def defer_slurm_report() -> None:
    """Import the SLURM plugin's efficiency report (and with it pandas) only when a report is made.

    The plugin's package takes ``create_efficiency_report`` from that module by name, so a stand-in
    module whose function imports the real one on its first call gives the same report, later.
    """
    if SLURM_REPORT in sys.modules or _plugin_dir() is None:
        return
    stand_in = types.ModuleType(SLURM_REPORT, "Stands in for the SLURM plugin's report until one is made.")

    def create_efficiency_report(*args: object, **kwargs: object) -> object:
        if sys.modules.get(SLURM_REPORT) is stand_in:
            del sys.modules[SLURM_REPORT]
        return importlib.import_module(SLURM_REPORT).create_efficiency_report(*args, **kwargs)

    stand_in.create_efficiency_report = create_efficiency_report  # type: ignore[attr-defined]
    sys.modules[SLURM_REPORT] = stand_in


def skip_help_probe() -> None:
    """Load the plugin's job-status module ahead of the plugin, its help-text probe answered locally.

    The module is the plugin's own file, loaded as the plugin would load it (it imports only the
    standard library), so every other function in it is the real one. Only
    ``should_recommend_squeue_status_command`` (called once, at import, for the help text of
    ``--slurm-status-command``) answers "no recommendation" without running ``scontrol``.
    """
    folder = _plugin_dir()
    if SLURM_STATUS_QUERY in sys.modules or PLUGIN in sys.modules or folder is None:
        return
    path = folder / "job_status_query.py"
    spec = importlib.util.spec_from_file_location(SLURM_STATUS_QUERY, path)
    if spec is None or spec.loader is None or not path.is_file():
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "should_recommend_squeue_status_command"):
        return  # another plugin version: leave its import to itself

    def should_recommend_squeue_status_command(min_threshold_seconds: int = 120) -> bool:
        """The help text's recommendation, given without asking the controller."""
        return False

    module.should_recommend_squeue_status_command = should_recommend_squeue_status_command  # type: ignore[attr-defined]
    sys.modules[SLURM_STATUS_QUERY] = module


def lighten() -> None:
    """Both stand-ins; call before Snakemake is imported in this process."""
    defer_slurm_report()
    skip_help_probe()
