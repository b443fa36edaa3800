"""The shared cache through the CLI: two clones of a project share one cache folder.

Clone A computes; clone B, a fresh copy of the same project, gets every cached step from the cache
(the toy steps' trace shows none of them ran), byte for byte; a changed parameter, script, data
file, command body or chain argument misses for exactly the steps it shapes; a corrupted or
truncated entry is recomputed and reported; two clones storing one entry at once leave one
complete entry. The SLURM and ssh:// cases are in tests/test_cache_services.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CHAIN = "/prep → /fit → /report"
GEN = '''\
"""Writes two outputs that carry one random token: a mixed entry would show two tokens."""
import secrets, sys, time
token = secrets.token_hex(8)
time.sleep(float(sys.argv[3]))
for path in sys.argv[1:3]:
    open(path, "w").write(token)
'''


def clone(make: Callable[[str], Any], name: str) -> Any:
    """A fresh clone of the toy project: the same commands, no results."""
    toy = make(name)
    toy.command("prep", params={"rows": 10}, metrics={"rows": "10"},
                shell="python toy_step.py prep --out {output.report} --metrics {output.metrics} --set rows=10 "
                      "--inputs data.csv -- {params.arguments}")
    toy.command("fit", params={"lr": 0.1}, inputs=["report"], metrics={"acc": "0.9"})
    toy.command("report", inputs=["report"], metrics={"n": "1"})
    (toy.root / "data.csv").write_text("x,y\n1,2\n")
    return toy


def run(toy: Any, cache: Path | str, *args: str, chain: str = CHAIN) -> str:
    proc = toy.slashmake("run", chain, "--cache-location", str(cache), *args)
    return str(proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Clone A's cold run of CHAIN, once for this module: (its cache folder, its project folder)."""
    from conftest import ToyProject

    base = tmp_path_factory.mktemp("seed")
    (base / "a").mkdir()
    a = clone(lambda _name: ToyProject(base / "a"), "a")
    cache = base / "shared-cache"
    out = run(a, cache)
    assert a.ran() == ["prep", "fit", "report"]
    assert out.count("stored in the cache at") == 3, out
    return cache, a.root


@pytest.fixture
def shared(seeded: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the seeded cache for one test (which may damage it), and clone A's folder."""
    cache = tmp_path / "shared-cache"
    shutil.copytree(seeded[0], cache)
    return cache, seeded[1]


def outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "results/steps").rglob("*"))
            if p.is_file()}


def test_second_clone_gets_every_step_from_the_cache(toy_factory: Callable[[str], Any],
                                                     shared: tuple[Path, Path]) -> None:
    cache, a_root = shared
    b = clone(toy_factory, "b")
    out_b = run(b, cache)
    assert b.ran() == [], f"clone B ran steps:\n{out_b}"
    assert "/fit (fit-" in out_b and f"came from the cache at {cache}" in out_b, out_b
    assert outputs(b.root) == outputs(a_root)
    log = next((b.root / "logs/steps").glob("fit-*.log")).read_text()
    assert "restored from the cache" in log
    # Snakemake finds the restored steps up to date (its own metadata records them)
    dry = b.snakemake("-n", "--config", "slashmake_flows=[]", "slashmake_chain=" +
                      next((b.root / ".slashmake/chains").glob("*.smk")).relative_to(b.root).as_posix(),
                      "-c1", "--rerun-triggers", "mtime", "params", "input", "code")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]


@pytest.mark.parametrize("change", ["chain-argument", "parameter", "script", "data-file", "command-body"])
def test_a_changed_key_input_misses_exactly_the_steps_it_shapes(
        toy_factory: Callable[[str], Any], shared: tuple[Path, Path], change: str) -> None:
    cache, _ = shared
    b = clone(toy_factory, "b")
    chain, expect = CHAIN, ["fit", "report"]
    if change == "chain-argument":
        chain = "/prep → /fit --lr 0.2 → /report"
    elif change == "parameter":
        b.config(params={"fit.lr": 0.3})
    elif change == "script":
        with open(b.root / "toy_step.py", "a") as fh:
            fh.write("\n# an edit\n")
        expect = ["prep", "fit", "report"]
    elif change == "data-file":
        (b.root / "data.csv").write_text("x,y\n1,3\n")
        expect = ["prep", "fit", "report"]
    else:
        b.command("fit", params={"lr": 0.1}, inputs=["report"], metrics={"acc": "0.9"},
                  shell="python toy_step.py fit --out {output.report} --metrics {output.metrics} --set acc=0.8 "
                        "--inputs {input.report} -- {params.arguments}")
    out = run(b, cache, chain=chain)
    assert b.ran() == expect, out
    if expect[0] != "prep":
        assert "/prep (prep-" in out and "came from the cache" in out, out


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "truncate-the-entry"])
def test_a_corrupted_entry_is_recomputed_and_reported(
        toy_factory: Callable[[str], Any], shared: tuple[Path, Path], damage: str) -> None:
    cache, a_root = shared
    b, c = clone(toy_factory, "b"), clone(toy_factory, "c")
    fit_metrics = next((a_root / "results/steps").glob("fit-*/metrics.json")).read_bytes()
    if damage == "truncate-the-entry":
        entry = next(p for p in (cache / "entries").rglob("*.json") if '"rule": "fit"' in p.read_text())
        entry.write_text(entry.read_text()[:40])
    else:
        obj = next(p for p in (cache / "files/md5").rglob("*") if p.is_file() and p.read_bytes() == fit_metrics)
        obj.chmod(0o644)
        data = obj.read_bytes()
        obj.write_bytes(data[:5] + bytes([data[5] ^ 0x01]) + data[6:] if damage == "flip-a-byte"
                        else data[: len(data) // 2])
    out = run(b, cache)
    assert b.ran() == ["fit", "report"], out
    assert "had a corrupted entry" in out and "recomputed" in out, out
    assert ("is unreadable" if damage == "truncate-the-entry" else "checksum mismatch") in out, out
    assert outputs(b.root) == outputs(a_root)
    # the recomputed step stored a good entry again: a third clone gets everything
    out_c = run(c, cache)
    assert c.ran() == [], out + out_c


def test_two_clones_storing_one_entry_at_once_leave_one_complete_entry(
        toy_factory: Callable[[str], Any], tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    clones = [toy_factory(n) for n in ("a", "b", "c")]
    for toy in clones:
        (toy.root / "gen.py").write_text(GEN)
        toy.command("gen", output={"left": "left.txt", "right": "right.txt"},
                    shell="python gen.py {output.left} {output.right} 1.5")
    procs = [subprocess.Popen([sys.executable, "-m", "slashmake.interfaces.cli", "run", "/gen", "--cache-location",
                               str(cache)], cwd=t.root, env=t.env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for t in clones[:2]]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    entries = list((cache / "entries").rglob("*.json"))
    assert len(entries) == 1 and not list((cache / "entries").rglob("*.tmp-*")), entries
    run(clones[2], cache, chain="/gen")
    folder = next((clones[2].root / "results/steps").glob("gen-*"))
    left, right = (folder / "left.txt").read_text(), (folder / "right.txt").read_text()
    assert left == right, "the entry mixes two writers' files"
    assert left in {next((t.root / "results/steps").glob("gen-*/left.txt")).read_text()
                    for t in clones[:2]}


def test_explain_says_what_comes_from_the_cache(toy_factory: Callable[[str], Any], shared: tuple[Path, Path]) -> None:
    cache, _ = shared
    b = clone(toy_factory, "b")
    out = b.slashmake("explain", CHAIN, "--cache-location", str(cache)).stdout
    assert out.count("from cache  /") == 3 and f"in the cache at {cache}" in out, out
    assert b.ran() == [] and not (b.root / "results/steps").exists()
    out = b.slashmake("explain", CHAIN, "--no-cache").stdout
    assert "from cache" not in out and out.count("will run    /") == 3, out


def test_cache_command_shows_and_prunes(toy_factory: Callable[[str], Any], shared: tuple[Path, Path]) -> None:
    cache, _ = shared
    a = clone(toy_factory, "a")
    a.config(cache={"location": str(cache)})
    shown = a.slashmake("cache").stdout
    assert f"location: {cache}" in shown and "entries:  3" in shown, shown
    assert "fit" in shown and "prep" in shown
    pruned = a.slashmake("cache", "prune", "--max-size", "1").stdout
    assert "pruned 3 entries" in pruned, pruned
    shown = a.slashmake("cache").stdout
    assert "entries:  0" in shown and "size:     0 B in 0 files" in shown, shown
    a.slashmake("run", CHAIN, "--force", "/prep")
    assert "pruned 0 entries" in a.slashmake("cache", "prune", "--older-than", "30d").stdout
    assert "pruned 3 entries" in a.slashmake("cache", "prune", "--older-than", "0s").stdout


@pytest.mark.parametrize(("args", "config", "message"), [
    (("cache", "prune", "--older-than", "3 fortnights"), None, "--older-than '3 fortnights': write a number and a unit"),
    (("cache", "prune"), None, "give --older-than AGE and/or --max-size SIZE"),
    (("run", CHAIN, "--cache-mode", "fast"), None, "Invalid value for '--cache-mode'"),
    (("run", CHAIN), {"mode": "fast"}, "config 'cache.mode'"),
    (("run", CHAIN), {"location": 42}, "config 'cache.location'"),
    (("cache",), {}, "no shared cache: set cache.location"),
])
def test_bad_cache_input_is_a_clear_error(toy_factory: Callable[[str], Any], args: tuple[str, ...],
                                          config: dict[str, object] | None, message: str) -> None:
    a = clone(toy_factory, "a")
    a.config(cache=config if config is not None else {"location": "cache-folder"})
    proc = a.slashmake(*args, check=False)
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert a.ran() == []


def test_a_step_may_opt_out_and_no_location_means_no_cache(
        toy_factory: Callable[[str], Any], shared: tuple[Path, Path]) -> None:
    cache, _ = shared
    b = clone(toy_factory, "b")
    b.command("report", inputs=["report"], metrics={"n": "1"}, cache=False)
    out = run(b, cache)
    assert b.ran() == ["report"], out
    shutil.rmtree(b.root / "results")
    b.slashmake("run", CHAIN)
    assert b.ran() == ["prep", "fit", "report"]
    assert json.loads(next((b.root / "results/steps").glob("fit-*/metrics.json")).read_text())["acc"] == 0.9


def test_a_cache_that_cannot_be_reached_is_reported_and_the_run_goes_on(toy_factory: Callable[[str], Any]) -> None:
    b = clone(toy_factory, "b")
    out = run(b, "ssh://nobody@127.0.0.1:1/no/such/cache")  # nothing listens on port 1
    assert b.ran() == ["prep", "fit", "report"], out
    assert "cache: the cache at ssh://nobody@127.0.0.1:1/no/such/cache could not be used" in out, out
    assert "the run went on without it" in out


def test_steps_after_a_gate_come_from_the_cache_too(toy_factory: Callable[[str], Any], tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    chain = "/prep → /fit → /if:acc>0.5 → /report → /else → /prep --rows 5 → /end"
    a, b = clone(toy_factory, "a"), clone(toy_factory, "b")
    run(a, cache, chain=chain)
    assert a.ran() == ["prep", "fit", "report"]
    out = run(b, cache, chain=chain)
    assert b.ran() == [], out  # the gate is decided once /fit is restored; /report then comes from the cache
    assert out.count("came from the cache") == 3, out
    assert "gate-acc" in out and "branch then" in out, out


def test_mode_omit_software_leaves_the_environment_out_of_the_key(
        toy_factory: Callable[[str], Any], tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    a, b, c = clone(toy_factory, "a"), clone(toy_factory, "b"), clone(toy_factory, "c")
    for toy in (b, c):  # another software environment than clone A's (none)
        (toy.root / "environment.yml").write_text("name: toy\ndependencies: [python=3.11]\n")
    run(a, cache, "--cache-mode", "omit-software")
    assert a.ran() == ["prep", "fit", "report"]
    out = run(b, cache, "--cache-mode", "omit-software")
    assert b.ran() == [] and out.count("came from the cache") == 3, out
    out = run(c, cache)  # mode full: the environment is in every key
    assert c.ran() == ["prep", "fit", "report"], out
