"""Per-job overhead of the runpod executor against local execution (the baseline), and pods.

``--part host`` (a hand-started pod):

A 16-variant sweep of a trivial step plus its aggregate (17 jobs) runs with the real
``snakemake`` CLI, locally (``--cores 2``) and through ``--executor runpod`` against a private
sshd on 127.0.0.1 (the test fixture's pod: needs root, sshd, rsync). The pod's venv is built
in an untimed warm-up run, which also starts the pod's warm Snakemake (it stays 10 minutes); every
timed run is a fresh ``--forceall`` run (one SSH login, one code sync, one remote snakemake run,
forked from the warm one, for the grouped variants and one for the aggregate).

    sudo .venv/bin/python bench/bench_executors_runpod.py [--reps 3]

Prints seconds per job for each executor, their ratio and difference (runpod minus local).

``--part pods`` (pods started through the API, against the stand-in RunPod of
tests/runpod_standin.py: real SDK, real sshd pods), three figures:
1. our overhead from "pod shows SSH" to "first job running", pod set-up (venv build and code
   sync) excluded and given separately (from the executor's .snakemake/runpod/pods.jsonl);
2. the per-job overhead as part ``host`` measures it (16 trivial variants as one job group plus the
   aggregate, against local execution, the baseline), on one API pod, its start and set-up taken
   out (figure 1), while the pod's warm Snakemake importing itself stays in (in its first job); and,
   for comparison, the slope of ungrouped jobs (4 vs 16 variants, one at a time), which is mostly
   each job's own remote Snakemake run;
3. a 6-variant sweep whose step sleeps 10 s, on 3 pods against 1 pod (the baseline): the ratio
   of wall times measures the fan-out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import standin_fixture as SF  # noqa: E402
from runpod_project import GROUPING, PROFILE, snakemake, write_project  # noqa: E402
from services import start_pod, stop_pod  # noqa: E402

from slashmake.execution.pods import runpod_flags  # noqa: E402

JOBS = 17  # 16 variants + aggregate


def timed(project: Path, args: list[str]) -> float:
    """Wall seconds of one snakemake run; fails loudly if the run fails."""
    start = time.perf_counter()
    res = snakemake(project, args, timeout=600)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args[:4])}… failed:\n{res.stderr[-3000:]}")
    return elapsed


POD_SNAKEFILE = """
N = int(config.get("count", 6))
PAUSE = float(config.get("pause", 0))
VARIANTS = [f"v{i:02d}" for i in range(N)]
localrules: all

rule all:
    input: "results/summary.json"

rule step:
    output: "results/sweep/{v}.json"
    log: "logs/step/{v}.log"
    shell: "sleep {PAUSE} && python scripts/step.py {wildcards.v} {output} 2> {log}"

rule aggregate:
    input: expand("results/sweep/{v}.json", v=VARIANTS)
    output: "results/summary.json"
    shell: "python scripts/aggregate.py {output} {input}"
"""


def main() -> None:
    """Run the benchmark(s) and print the comparisons."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--part", choices=["host", "pods", "all"], default="all")
    opts = parser.parse_args()
    if opts.part in ("host", "all"):
        host_pod(opts.reps)
    if opts.part in ("pods", "all"):
        api_pods()


def api_pods() -> None:
    """The three figures of pods started through the (stand-in) API."""
    import json

    work = Path(tempfile.mkdtemp(prefix="bench-pods-"))
    work.chmod(0o700)
    staged = Path("/home") / f"rp-bench-packages-{work.name}"  # used only when the venv is private
    packages = SF.stage_packages(staged)
    standin = SF.start(work / "standin")
    env = standin.env()

    def pods_run(name: str, pods: int, n: int, pause: float) -> tuple[float, dict[str, float]]:
        root = write_project(work / name, snakefile=POD_SNAKEFILE)
        flags = runpod_flags(SF.runpod_section(standin, packages, pods=pods))
        start = time.perf_counter()
        res = snakemake(root, ["--profile", str(PROFILE), *flags, "--config", f"count={n}", f"pause={pause}"],
                        timeout=600, env=env)
        elapsed = time.perf_counter() - start
        if res.returncode != 0:
            raise SystemExit(f"pods run {name} failed:\n{res.stderr[-3000:]}")
        first = json.loads((root / ".snakemake" / "runpod" / "pods.jsonl").read_text().splitlines()[0])
        return elapsed, first

    def local_run(name: str, n: int) -> float:
        root = write_project(work / name, snakefile=POD_SNAKEFILE)
        return timed(root, ["--cores", "1", "--config", f"count={n}", "pause=0"])

    def grouped(pods: bool) -> tuple[float, dict[str, float]]:
        root = write_project(work / ("g-pod" if pods else "g-local"))
        if not pods:
            return timed(root, ["--cores", "2", *GROUPING]), {}
        flags = runpod_flags(SF.runpod_section(standin, packages, pods=1))
        start = time.perf_counter()
        res = snakemake(root, ["--profile", str(PROFILE), *GROUPING, *flags], timeout=600, env=env)
        if res.returncode != 0:
            raise SystemExit(f"grouped pods run failed:\n{res.stderr[-3000:]}")
        elapsed = time.perf_counter() - start
        return elapsed, json.loads((root / ".snakemake" / "runpod" / "pods.jsonl").read_text().splitlines()[0])

    try:
        gp, gev = grouped(True)
        gl, _ = grouped(False)
        t4, ev = pods_run("p4", 1, 4, 0)
        t16, _ = pods_run("p16", 1, 16, 0)
        l4, l16 = local_run("l4", 4), local_run("l16", 16)
        one, _ = pods_run("fan1", 1, 6, 10)
        three, _ = pods_run("fan3", 3, 6, 10)
    finally:
        standin.stop()
        import shutil

        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    # The stand-in's pods share this machine's CPUs with the controller: on a busy machine the
    # remote Snakemake starts of several pods compete, which a real pod's own CPUs would not.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (pods and controller share them)")
    login = ev["connected"] - ev["ssh_shown"]
    setup, sync = ev["setup_done"] - ev["connected"], ev["synced"] - ev["setup_done"]
    dispatch = ev["first_job"] - ev["synced"]
    print(f"1. pod shows SSH -> first job running: ours {login + dispatch:.2f} s (login {login:.2f} s, "
          f"dispatch {dispatch:.2f} s; goal <= 3 s); pod set-up {setup + sync:.2f} s (venv {setup:.2f} s, "
          f"code sync {sync:.2f} s); pod created -> SSH shown {ev['ssh_shown'] - ev['created']:.2f} s")
    pod_start = gev["first_job"] - gev["created"]
    print(f"2. per job, 16 variants as one group + aggregate ({JOBS} jobs): pod {gp:.2f} s less its start and "
          f"set-up {pod_start:.2f} s = {gp - pod_start:.2f} s, local (baseline) {gl:.2f} s: overhead "
          f"{(gp - pod_start - gl) / JOBS:+.3f} s/job (goal <= 0.3 s)")
    slope_pod, slope_local = (t16 - t4) / 12, (l16 - l4) / 12
    print(f"   ungrouped, one job at a time: pod {slope_pod:.3f} s/job, local --cores 1 {slope_local:.3f} s/job "
          f"({slope_pod - slope_local:+.3f} s/job, mostly each job's remote Snakemake run; runs "
          f"{t4:.2f}/{t16:.2f} vs {l4:.2f}/{l16:.2f} s)")
    print(f"3. 6 variants x 10 s: 3 pods {three:.2f} s, 1 pod (baseline) {one:.2f} s: ratio {three / one:.2f}x "
          "(goal <= 0.45x)")


def host_pod(reps: int) -> None:
    """A hand-started pod (the test fixture's sshd) against local execution."""
    work = Path(tempfile.mkdtemp(prefix="bench-runpod-"))
    work.chmod(0o700)
    pod, proc = start_pod(work / "sshd")
    try:
        local_dir = write_project(work / "local")
        pod_dir = write_project(work / "pod")
        remote = pod.new_dir("bench")
        runpod = ["--profile", str(PROFILE), *GROUPING, *pod.executor_args(remote)]
        local = ["--cores", "2", *GROUPING]
        cold = timed(pod_dir, runpod)  # builds the pod's venv (untimed below)
        timed(local_dir, local)
        local_t = [timed(local_dir, [*local, "--forceall"]) for _ in range(reps)]
        pod_t = [timed(pod_dir, [*runpod, "--forceall"]) for _ in range(reps)]
    finally:
        stop_pod(pod, proc)
    lo, rp = statistics.median(local_t), statistics.median(pod_t)
    print(f"jobs per run: {JOBS} (16-variant sweep as one job group + aggregate); reps: {reps}")
    print(f"local  (baseline): {lo:6.2f} s/run  {lo / JOBS:6.3f} s/job   runs: {_fmt(local_t)}")
    print(f"runpod (ssh+rsync): {rp:6.2f} s/run  {rp / JOBS:6.3f} s/job   runs: {_fmt(pod_t)}")
    print(f"runpod first run incl. pod setup: {cold:.2f} s")
    print(f"ratio runpod/local: {rp / lo:.2f}x; overhead: {(rp - lo) / JOBS:+.3f} s/job")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
