"""Pure builders for every command line the runpod executor runs.

Nothing here touches the network or the file system: each function takes plain values and
returns an argv list (or, for the text a remote shell runs, one string in which every
interpolated value is quoted with :func:`shlex.quote`). They are unit-tested without a host.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MANIFEST_MARK = "@@RUNPOD-MANIFEST@@"
SETUP_MARK = "@@RUNPOD-SETUP-RAN@@"
MARKER_NAME = ".slashmake-runpod.json"
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".snakemake/",
    ".git/",
    ".venv/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
)
DEFAULT_SETUP_CMD = (
    "{python} -m venv {venv} && {venv}/bin/python -m pip install --quiet --upgrade pip "
    "&& {venv}/bin/python -m pip install --quiet {packages}"
)

# Runs remotely with the job's interpreter: sizes, sha256 and mtimes of the given paths
# (directories are walked); missing paths are left out. Printed as one marked JSON line.
MANIFEST_SCRIPT = (
    "import hashlib,json,os,sys\n"
    "def h(p):\n"
    "    d=hashlib.sha256()\n"
    "    with open(p,'rb') as f:\n"
    "        for b in iter(lambda:f.read(1<<20),b''): d.update(b)\n"
    "    return d.hexdigest()\n"
    "def one(p,out):\n"
    "    s=os.stat(p); out[p]=[s.st_size,h(p),s.st_mtime]\n"
    "out={}\n"
    "for a in sys.argv[1:]:\n"
    "    if os.path.isdir(a):\n"
    "        for r,_,fs in os.walk(a):\n"
    "            for n in fs: one(os.path.join(r,n),out)\n"
    "    elif os.path.isfile(a): one(a,out)\n"
    f"print({MANIFEST_MARK!r}+json.dumps(out))\n"
)


@dataclass(frozen=True)
class Target:
    """Where and how to reach the pod over SSH."""

    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    control_path: str | None = None
    persist: int = 60
    connect_timeout: int = 10
    known_hosts: str | None = None

    @property
    def dest(self) -> str:
        """The ``user@host`` form ssh and rsync take."""
        return f"{self.user}@{self.host}"

    @property
    def where(self) -> str:
        """``user@host:port``, for messages."""
        return f"{self.user}@{self.host}:{self.port}"


def ssh_options(target: Target, master: str = "auto") -> list[str]:
    """The options every ssh call shares: port, key, batch mode and connection reuse."""
    opts = ["-p", str(target.port), "-o", "BatchMode=yes"]
    opts += ["-o", f"ConnectTimeout={target.connect_timeout}"]
    opts += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
    opts += ["-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"]
    if target.known_hosts:
        opts += ["-o", f"UserKnownHostsFile={target.known_hosts}"]
    if target.key:
        opts += ["-i", target.key, "-o", "IdentitiesOnly=yes"]
    if target.control_path:
        opts += ["-o", f"ControlMaster={master}", "-o", f"ControlPath={target.control_path}"]
        opts += ["-o", f"ControlPersist={target.persist}"]
    return opts


def ssh_argv(target: Target, remote_command: str) -> list[str]:
    """ssh running one remote shell command (over the shared master connection)."""
    return ["ssh", *ssh_options(target), target.dest, remote_command]


def master_start_argv(target: Target) -> list[str]:
    """Open the shared master connection in the background: the run's single login."""
    return ["ssh", *ssh_options(target, master="yes"), "-f", "-N", target.dest]


def master_control_argv(target: Target, op: str) -> list[str]:
    """``ssh -O check|exit`` on the master connection."""
    return ["ssh", *ssh_options(target), "-O", op, target.dest]


def rsync_rsh(target: Target) -> str:
    """The ``-e`` value for rsync: ssh with the shared options, quoted for rsync's splitter."""
    return shlex.join(["ssh", *ssh_options(target)])


def _rsync_base(target: Target, remote_rsync: str) -> list[str]:
    # -rlpt, not -a: never map remote owners/groups onto local files.
    return ["rsync", "-rlpt", "-e", rsync_rsh(target), "--rsync-path", remote_rsync]


def rsync_code_argv(
    target: Target,
    local_dir: str,
    remote_dir: str,
    exclude_from: str | None = None,
    remote_rsync: str = "rsync",
    excludes: Sequence[str] = DEFAULT_EXCLUDES,
    gitignore: bool = False,
) -> list[str]:
    """rsync of the workflow tree (code, config, small data) to the pod's work folder.

    With ``gitignore``, what .gitignore files exclude stays behind too (:data:`GITIGNORE_FILTERS`).
    """
    argv = _rsync_base(target, remote_rsync)
    if gitignore:
        argv += list(GITIGNORE_FILTERS)
    for pattern in excludes:
        argv += ["--exclude", pattern]
    if exclude_from:
        argv += ["--exclude-from", exclude_from]
    return [*argv, local_dir.rstrip("/") + "/", f"{target.dest}:{remote_dir.rstrip('/')}/"]


#: The code sync honours every .gitignore in the tree (rsync's own per-folder merge rule), but
#: compiled ad-hoc chains under .slashmake/chains/ must reach the pod even where .slashmake/ is
#: ignored, and nothing else of .slashmake/ (the pod ledger, locks) ever goes.
GITIGNORE_FILTERS: tuple[str, ...] = (
    "--include", "/.slashmake/", "--include", "/.slashmake/chains/***", "--exclude", "/.slashmake/*",
    "--filter", ":- .gitignore",
)


def rsync_push_argv(target: Target, remote_dir: str, remote_rsync: str = "rsync") -> list[str]:
    """rsync of the NUL-separated relative paths on stdin (a job's inputs) to the pod."""
    argv = _rsync_base(target, remote_rsync) + ["--files-from=-", "--from0"]
    return [*argv, "./", f"{target.dest}:{remote_dir.rstrip('/')}/"]


def rsync_pull_argv(
    target: Target, remote_dir: str, staging: str, remote_rsync: str = "rsync"
) -> list[str]:
    """rsync of the NUL-separated relative paths on stdin from the pod into a staging folder."""
    argv = _rsync_base(target, remote_rsync) + ["--files-from=-", "--from0"]
    return [*argv, f"{target.dest}:{remote_dir.rstrip('/')}/", staging.rstrip("/") + "/"]


def files_from(paths: Iterable[str]) -> str:
    """The stdin text for ``--files-from=- --from0``."""
    return "".join(f"{p}\0" for p in paths)


def env_script(envvars: Mapping[str, str]) -> str:
    """Shell text that exports the job's environment; sent on stdin, never on a command line."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(envvars.items()))


def job_prefix(workdir: str, venv: str | None) -> str:
    """Remote preamble: read exported variables from stdin, enter the work folder, use the venv."""
    parts = ['eval "$(cat)"', f"cd {shlex.quote(workdir)}"]
    if venv:
        parts.append(f'export PATH={shlex.quote(venv + "/bin")}:"$PATH"')
    return " && ".join(parts)


def remote_python(venv: str | None, python: str) -> str:
    """The interpreter jobs run with on the pod, shell-quoted."""
    return shlex.quote(f"{venv}/bin/python" if venv else python)


def job_command(exec_job: str, python_q: str, manifest_paths: Sequence[str]) -> str:
    """The remote shell text for one job: run it; on success print the outputs' manifest."""
    manifest = " ".join(
        [python_q, "-c", shlex.quote(MANIFEST_SCRIPT), *(shlex.quote(p) for p in manifest_paths)]
    )
    return f"{exec_job}; rc=$?; if [ $rc -eq 0 ]; then {manifest}; rc=$?; fi; exit $rc"


#: Seconds the pod's warm Snakemake (forkserver.py) waits for a job before it exits.
FORKSERVER_IDLE_S = 600
FORKSERVER_NAME = "forkserver.py"


def forkserver_key(python: str, versions: Mapping[str, str], script: str) -> str:
    """The name of a pod's warm Snakemake: another interpreter, venv versions or script, another server."""
    text = "\0".join([python, marker_text(versions), script])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def forkserver_install(state_dir: str) -> str:
    """Remote shell text: the server script, sent on stdin, into a private folder (whole or not at all)."""
    d = shlex.quote(state_dir)
    return (f"mkdir -p {d} && chmod 700 {d} && cat > {d}/.{FORKSERVER_NAME}.$$ && "
            f"mv -f {d}/.{FORKSERVER_NAME}.$$ {d}/{FORKSERVER_NAME}")


def forkserver_start(state_dir: str, python: str, key: str, idle_s: int = FORKSERVER_IDLE_S) -> str:
    """Remote shell text: start the warm Snakemake unless its process (named by key) already runs.

    The process is found by key in its command line, so that a pid file left by a pod restart
    and a recycled pid never pass for it. It is detached like the watchdog, and the ssh command
    returns at once: the server imports Snakemake while the code syncs.
    """
    d = state_dir.rstrip("/")
    q = {k: shlex.quote(f"{d}/{key}.{k}") for k in ("sock", "pid", "log")}
    script = shlex.quote(f"{d}/{FORKSERVER_NAME}")
    return (
        f'if ! grep -qs {key} "/proc/$(cat {q["pid"]} 2>/dev/null || echo x)/cmdline"; then '
        f"setsid {shlex.quote(python)} {script} serve {q['sock']} {int(idle_s)} </dev/null >>{q['log']} 2>&1 & "
        f"echo $! > {q['pid']}; fi"
    )


def launcher(python_q: str, state_dir: str, key: str | None) -> str:
    """What a job's command starts in place of ``python`` (before ``-m snakemake …``).

    With a key: hand the job to the warm Snakemake, or run it in this process where none answers;
    without: run it in this process (cold), still without the exit-time timer wait.
    """
    sock = f"{state_dir.rstrip('/')}/{key}.sock" if key else "-"
    return f"{python_q} {shlex.quote(state_dir.rstrip('/') + '/' + FORKSERVER_NAME)} run {shlex.quote(sock)}"


def marker_text(versions: Mapping[str, str]) -> str:
    """The pod-setup marker's content: the versions the remote environment was built for."""
    return json.dumps(dict(sorted(versions.items())), sort_keys=True)


def setup_command(
    workdir: str,
    venv: str,
    python: str,
    packages: Sequence[str],
    versions: Mapping[str, str],
    template: str = DEFAULT_SETUP_CMD,
) -> str:
    """Remote shell text: make the work folder; build the venv unless the marker matches."""
    quoted = {
        "python": shlex.quote(python),
        "venv": shlex.quote(venv),
        "packages": " ".join(shlex.quote(p) for p in packages),
        "workdir": shlex.quote(workdir),
    }
    build = template.format(**quoted)
    marker = shlex.quote(f"{venv}/{MARKER_NAME}")
    want = shlex.quote(marker_text(versions))
    return (
        f"mkdir -p {quoted['workdir']} && "
        f'if [ "$(cat {marker} 2>/dev/null)" != {want} ]; then '
        f"( {build} ) 1>&2 && printf %s {want} > {marker} && echo {SETUP_MARK}; fi"
    )


def parse_manifest(stdout: str) -> dict[str, tuple[int, str, float]] | None:
    """The manifest the remote job printed, or None when there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MANIFEST_MARK):
            raw = json.loads(line[len(MANIFEST_MARK) :])
            return {p: (int(v[0]), str(v[1]), float(v[2])) for p, v in raw.items()}
    return None


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value (4+ characters) in text by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def tail(text: str, lines: int = 25, chars: int = 3000) -> str:
    """The end of a command's output, for error messages."""
    return "\n".join(text.rstrip().splitlines()[-lines:])[-chars:]
