"""Snakemake executor plugin ``runpod``: run jobs on a GPU pod over SSH, moving files with rsync.

Snakemake imports every installed executor plugin at start-up, so this module imports only
the standard library, the plugin interface and this package's own light modules; ``sh`` is
imported on first use.
"""

from snakemake_interface_executor_plugins.settings import CommonSettings

from .executor import Executor
from .settings import ExecutorSettings

common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=True,
    job_deploy_sources=False,
    can_transfer_local_files=True,
    pass_envvar_declarations_to_cmd=False,
    auto_deploy_default_storage_provider=False,
    init_seconds_before_status_checks=0,
)

__all__ = ["Executor", "ExecutorSettings", "common_settings"]
