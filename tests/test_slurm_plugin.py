"""The SLURM plugin's start-up costs stay off runs that do not use it (real Snakemake, real plugin).

Each check runs in a fresh interpreter (the stand-ins must be in place before Snakemake is
imported), with fake SLURM client tools first on PATH: ``scontrol`` notes each call in a file,
so a call made while Snakemake starts is seen.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None and os.environ.get("CI") != "true",
    reason="snakemake-executor-plugin-slurm is not installed (CI installs the slurm extra)",
)


@pytest.fixture
def slurm_tools(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH starts with fake sinfo, squeue and scontrol; scontrol's call log."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol.calls"
    bin_dir.mkdir()
    for tool in ("sinfo", "squeue", "sacct"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\necho "MinJobAge               = 300 sec"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return env, calls


def _python(code: str, env: dict[str, str]) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                          timeout=120).stdout.split()


def test_the_plugin_asks_scontrol_on_import_without_the_stand_in(slurm_tools: tuple[dict[str, str], Path]) -> None:
    """The cost the stand-in removes is real: importing the plugin runs ``scontrol show config``."""
    env, calls = slurm_tools
    _python("import snakemake.cli, snakemake_executor_plugin_slurm", env)
    assert calls.read_text().split() == ["show", "config"]


def test_snakemake_starts_without_asking_the_controller(slurm_tools: tuple[dict[str, str], Path]) -> None:
    """With no controller answering, ``scontrol`` retries for ~10 s: a slashmake run must not wait on it.
    The plugin's run-time query is the real one."""
    env, calls = slurm_tools
    out = _python(
        "import sys; from slashmake.execution import slurm_plugin as sp\n"
        "sp.lighten(); import snakemake.cli, snakemake_executor_plugin_slurm as plugin\n"
        f"import os; print('scontrol-called' if os.path.exists({str(calls)!r}) else 'no-call')\n"
        "q = sys.modules[sp.SLURM_STATUS_QUERY]\n"
        "print(q.__file__ == os.path.join(os.path.dirname(plugin.__file__), 'job_status_query.py'))\n"
        "print(plugin.get_min_job_age() if plugin.get_min_job_age is q.get_min_job_age else 'other')\n",
        env,
    )
    assert out == ["no-call", "True", "300"], out
    assert calls.read_text().split() == ["show", "config"], "get_min_job_age asked scontrol once, at run time"


def test_the_report_and_pandas_load_only_when_a_report_is_made() -> None:
    """Snakemake imports every executor plugin on start; the SLURM plugin's report brings pandas."""
    code = (
        "import sys; from slashmake.execution.slurm_plugin import SLURM_REPORT, lighten\n"
        "lighten(); import snakemake.cli, snakemake_executor_plugin_slurm as plugin\n"
        "print('pandas' in sys.modules, SLURM_REPORT in sys.modules)\n"
        "try:\n    plugin.create_efficiency_report()  # the real function: it wants its arguments\n"
        "except TypeError as e:\n    print(type(e).__name__, 'create_efficiency_report' in str(e))\n"
        "real = sys.modules[SLURM_REPORT]\n"
        "print('pandas' in sys.modules, real.__file__.endswith('efficiency_report.py'), hasattr(real, 'parse_maxrss'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "TypeError", "True", "True", "True", "True"], out
