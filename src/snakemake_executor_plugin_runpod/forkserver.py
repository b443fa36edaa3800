"""A Snakemake kept imported on the pod, which each job forks from. Runs on the pod, not here.

A job's remote ``python -m snakemake`` spends 1-3 s importing Snakemake and collecting its
plugins, and up to 1 s more at exit joining the job-rate limiter's timer thread, around a run
that often takes a tenth of a second. ``serve`` pays the imports once per pod and venv and then
forks one process per job; ``run`` (each job's launcher, in place of ``python -m snakemake``)
hands it the job's arguments, folder, environment and standard streams (by SCM_RIGHTS) and exits
with the job's exit code. Where no server answers, or it cannot take the job, ``run`` runs
Snakemake itself, as before. Either way the timer is cancelled once Snakemake has returned.

The executor never imports this module: set-up sends its text to the pod. Standard library only
(Python 3.9+) until Snakemake is imported, so that the launcher itself starts in milliseconds.

    python forkserver.py serve DIR/KEY.sock IDLE_SECONDS   # detached, at pod set-up
    python forkserver.py run DIR/KEY.sock -m snakemake ARGS...
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import threading
import time
from typing import Any, NoReturn

MAGIC = b"SMFS"
#: How long a launcher waits for a server that is still starting (importing) before going cold.
START_WAIT_S = 20.0
#: How often an idle server checks that its socket, its venv and its idle limit still hold.
CHECK_S = 2.0
#: Seconds a hung-up job gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 5.0


def startup_env(env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The variables that shape an interpreter at start (a fork keeps the server's): equal or cold."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG"}


# -- the job's own Snakemake (in a forked worker, or cold in the launcher) ------------------------


def snakemake(args: list[str]) -> int:
    """Run Snakemake's command line in this process; its exit code. Joins no rate-limit timer."""
    import snakemake as pkg
    from snakemake.cli import main

    sys.argv = [os.path.join(os.path.dirname(pkg.__file__), "__main__.py"), *args]
    sys.path[0] = os.getcwd()  # as ``python -m`` has it: the work folder, not this file's
    code: object = 0
    try:
        main(args)
    except SystemExit as e:
        code = e.code
    finally:
        # The scheduler re-arms a 1 s threading.Timer per round (--max-jobs-per-timespan); once it
        # has returned nobody waits for them, but interpreter exit would join the last one.
        for thread in threading.enumerate():
            if isinstance(thread, threading.Timer):
                thread.cancel()
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def leave(code: int) -> NoReturn:
    """End a forked worker as multiprocessing ends its forked children: without finalization.

    Non-daemon threads are joined, exit handlers run and the standard streams are flushed, but the
    interpreter's teardown of every module (0.5 s or more after Snakemake's imports) is skipped.
    """
    import atexit

    getattr(threading, "_shutdown", lambda: None)()  # joins non-daemon threads, as exit does
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# -- the launcher ------------------------------------------------------------------------------


def run(sock_path: str, args: list[str]) -> int:
    """A job's launcher: hand ``-m snakemake ARGS`` to the server, or run it here; the exit code."""
    if args[:2] != ["-m", "snakemake"]:
        os.execv(sys.executable, [sys.executable, *args])
    args = args[2:]
    if sock_path != "-":
        conn = _connect(sock_path)
        code = _hand_over(conn, args) if conn is not None else None
        if code is not None:
            return code
        why = "it did not take it: other PYTHON*/LC_* variables?" if conn is not None else "none answered"
        print(f"runpod: no warm Snakemake took the job at {sock_path} ({why}); starting Snakemake here",
              file=sys.stderr)
    return snakemake(args)


def _connect(sock_path: str) -> socket.socket | None:
    """A connection to the server, waiting while it starts; None when none runs."""
    folder, name = os.path.split(sock_path)
    pid_file = os.path.join(folder, name.rsplit(".", 1)[0] + ".pid")
    deadline = time.monotonic() + START_WAIT_S
    here = os.getcwd()
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.chdir(folder)  # a relative name: unix socket paths are limited to ~100 bytes
            conn.connect(name)
            return conn
        except OSError:
            conn.close()
        finally:
            os.chdir(here)
        if time.monotonic() > deadline or not _alive(pid_file):
            return None
        time.sleep(0.02)


def _alive(pid_file: str) -> bool:
    """Whether the pid file names a running server of this key (not a recycled pid)."""
    key = os.path.basename(pid_file).rsplit(".", 1)[0]
    try:
        with open(pid_file) as fh:
            pid = int(fh.read().strip())
        if not os.path.isdir("/proc/self"):
            os.kill(pid, 0)
            return True
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return key.encode() in fh.read()
    except (OSError, ValueError):
        return False


def _hand_over(conn: socket.socket, args: list[str]) -> int | None:
    """Send the job; its exit code, or None when nothing ran (the caller then runs it cold)."""
    umask = os.umask(0o022)
    os.umask(umask)
    payload = json.dumps({"argv": args, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}).encode()
    try:
        socket.send_fds(conn, [MAGIC + struct.pack("!I", len(payload))], [0, 1, 2])
        conn.sendall(payload)
        reply = _recv_exact(conn, 5)
    except (OSError, AttributeError):  # AttributeError: a Python without send_fds
        reply = b""
    if reply[:1] != b"S":
        conn.close()
        return None
    # The job runs. Wait for its exit code; if this launcher's own streams are hung up (the ssh
    # connection closed: Ctrl-C in the controller), leave, and the server kills the job.
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    for fd in (1, 2):
        if _is_pipe(fd):
            poller.register(fd, 0)  # POLLERR/POLLHUP only
    while True:
        for fd, event in poller.poll():
            if fd == conn.fileno():
                done = _recv_exact(conn, 5)
                if done[:1] == b"X":
                    return int(struct.unpack("!i", done[1:])[0])
                print("runpod: the pod's warm Snakemake went away while it ran the job", file=sys.stderr)
                return 1
            if event & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                conn.close()
                return 129


def _is_pipe(fd: int) -> bool:
    """Whether fd is a pipe or socket (whose reader can hang up), not a file or a terminal."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    """n bytes, or fewer when the other side closed the connection first."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


# -- the server --------------------------------------------------------------------------------


def warm_up() -> None:
    """Import what every Snakemake run imports, and collect its plugins (the slow part, once)."""
    import importlib

    import snakemake.cli  # noqa: F401

    kinds = ("executor", "storage", "report", "logger", "scheduler")
    for module, name in [*((f"snakemake_interface_{k}_plugins.registry", f"{k.title()}PluginRegistry") for k in kinds),
                         ("smart_open", None)]:  # smart_open: the Snakefile's source cache imports it
        try:
            loaded = importlib.import_module(module)
            if name is not None:
                getattr(loaded, name)()  # collects (imports) every installed plugin of that kind
        except Exception as e:  # a missing optional piece only costs the job that import
            print(f"warm-up: {module}: {e}", file=sys.stderr)


def serve(sock_path: str, idle_s: float) -> dict[str, Any] | None:
    """Listen until idle; returns only in a forked worker, with its request (else None)."""
    folder, name = os.path.split(sock_path)
    os.chdir(folder)
    pid_file = name.rsplit(".", 1)[0] + ".pid"
    with open(pid_file, "w") as fh:
        fh.write(str(os.getpid()))
    # Python's recipe for fork servers: no collection while importing, then the imported objects
    # frozen out of every later collection, so that jobs neither scan nor copy them (gc docs).
    gc.disable()
    warm_up()
    gc.freeze()
    env0 = startup_env(os.environ)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f".{name}.{os.getpid()}"
    if os.path.exists(tmp):
        os.unlink(tmp)
    listener.bind(tmp)
    listener.listen(64)
    os.rename(tmp, name)  # launchers see the socket only once the server is warm
    inode = os.stat(name).st_ino
    ready = select.poll()  # poll, not a socket timeout: the same on every Python 3
    ready.register(listener, select.POLLIN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # per-job supervisors are reaped by the kernel
    last = time.monotonic()
    print(f"serving {sock_path} (pid {os.getpid()})", file=sys.stderr, flush=True)
    while True:
        if not ready.poll(CHECK_S * 1000):
            if time.monotonic() - last > idle_s or not _ours(name, inode) or not os.path.exists(sys.executable):
                break
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        last = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            return _supervise(conn, env0)
        conn.close()
    if _ours(name, inode):
        os.unlink(name)
    print(f"stopped: idle {idle_s:.0f}s, or the socket or venv went away", file=sys.stderr)
    return None


def _ours(name: str, inode: int) -> bool:
    """Whether the socket file is still this server's (not removed, nor replaced by a newer server)."""
    try:
        return os.stat(name).st_ino == inode
    except OSError:
        return False


def _supervise(conn: socket.socket, env0: dict[str, str]) -> dict[str, Any]:
    """One job: read it, fork its worker, report its exit code; kill it if the launcher goes."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    fds: list[int] = []
    try:
        head, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
        if len(head) != 8 or head[:4] != MAGIC or len(fds) != 3:
            os._exit(0)
        request = json.loads(_recv_exact(conn, struct.unpack("!I", head[4:])[0]))
        if startup_env(request["env"]) != env0:
            conn.sendall(b"R" + struct.pack("!i", 0))  # an interpreter set up otherwise: go cold
            os._exit(0)
        pid = os.fork()
    except Exception:
        os._exit(0)  # nothing ran: the launcher runs the job itself
    if pid == 0:
        conn.close()
        _become_job(request, fds)
        return request
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(b"S" + struct.pack("!i", pid))
    except OSError:
        pass
    code = _wait(pid, conn)
    try:
        if code is not None:
            conn.sendall(b"X" + struct.pack("!i", code))
    finally:
        os._exit(0)


def _become_job(request: dict[str, Any], fds: list[int]) -> None:
    """In the worker: the job's streams, folder, umask, environment and default signals."""
    gc.enable()
    os.setsid()  # its own process group, which a hang-up kills whole
    for target in (0, 1, 2):
        os.dup2(fds[target], target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    import tempfile

    tempfile.tempdir = None  # re-read TMPDIR from the job's environment


def _wait(pid: int, conn: socket.socket) -> int | None:
    """The worker's exit code; None after killing it because the launcher went away."""
    try:
        pid_fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pid_fd = None
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    if pid_fd is not None:
        poller.register(pid_fd, select.POLLIN)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:  # a shell's view: the exit code, or 128 + the signal that ended the job
            return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        events = poller.poll(None if pid_fd is not None else 50)
        if any(fd == conn.fileno() for fd, _ in events) and _gone(conn):
            _kill(pid)
            return None


def _gone(conn: socket.socket) -> bool:
    """Whether the launcher hung up (it sends nothing after the request; stray bytes are dropped)."""
    try:
        return not conn.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True


def _kill(pid: int) -> None:
    """SIGTERM to the job's process group (the worker alone before it has one), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except OSError:
            try:
                os.kill(pid, sig)
            except OSError:
                return
        deadline = time.monotonic() + KILL_GRACE_S
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.05)
    os.waitpid(pid, 0)


def main(argv: list[str]) -> int:
    """``serve SOCK IDLE`` or ``run SOCK -m snakemake ARGS``; the process's exit code."""
    if len(argv) >= 2 and argv[0] == "serve":
        request = serve(argv[1], float(argv[2]) if len(argv) > 2 else 600.0)
        if request is None:
            return 0
        leave(snakemake(request["argv"]))  # a forked worker, now the job's process
    if len(argv) >= 2 and argv[0] == "run":
        return run(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
