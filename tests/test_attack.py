"""Issue 17, one test per finding, through the CLI as a user (or an LLM) would hit it.

Each test fails on the main this branch started from (the commit message of each fix says how it
was checked). The fast path's findings (6, 7, 8) are in tests/test_noop.py; the MCP ones in
tests/test_attack_mcp.py; the canaries in tests/test_canary.py.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pytest
from conftest import ToyProject

FAKE = str(Path(__file__).resolve().parent / "fake_agent.py")
EVIL = '$(touch CANARY)`touch CANARY`"; touch CANARY; "\'; touch CANARY; \''


def _agent(toy: ToyProject, body: str, name: str = "ask") -> None:
    toy.config(agent={"program": [sys.executable, FAKE, "-f", "{prompt_file}"], "tools_format": "none",
                      "timeout": 60})
    (toy.root / "workflow/commands" / f"{name}.md").write_text(f"---\ndescription: ask\n---\n{body}\n")


def _error(proc) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


# -- 1: `!` quoting ------------------------------------------------------------------------------

@pytest.mark.parametrize("line", ['Log: !`echo --grep="$ARGUMENTS"`', "Topic: !`echo 'about $0 here'`",
                                  '```!\necho "$0" "$ARGUMENTS"\n```', "Raw: !`echo $ARGUMENTS`"])
def test_bang_arguments_never_run_in_any_quoting_context(toy: ToyProject, line: str) -> None:
    _agent(toy, line)
    (toy.root / "chain.flow").write_text(f"/ask {json.dumps(EVIL)}\n")
    explained = toy.slashmake("explain", "-f", "chain.flow")  # builds the DAG: the ! lines run
    assert not (toy.root / "CANARY").exists(), explained.stdout
    toy.slashmake("run", "-f", "chain.flow")
    assert not (toy.root / "CANARY").exists()
    prompt = next((toy.root / "results/steps").glob("ask-*/prompt.md")).read_text()
    assert "$(touch CANARY)`touch CANARY`" in prompt  # printed as data


# -- 4: @path ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["../secret.txt", "link/secret.txt", "inner.txt"])
def test_at_paths_outside_the_project_are_errors_naming_the_path(toy: ToyProject, ref: str) -> None:
    secret = toy.root.parent / "secret.txt"
    secret.write_text("API_KEY=hunter2\n")
    (toy.root / "link").symlink_to(toy.root.parent, target_is_directory=True)
    (toy.root / "inner.txt").symlink_to(secret)
    _agent(toy, f"Read @{ref} first.")
    err = _error(toy.slashmake("explain", "/ask", check=False))
    assert f"@{ref}" in err and "outside the project" in err and "ask.md:" in err
    assert "hunter2" not in err
    assert not list(toy.root.glob("results/steps/ask-*/prompt.md"))


# -- 9: script: gets its files, and editing it reruns ----------------------------------------------

def test_a_script_command_gets_outputs_inputs_params_and_log(toy: ToyProject) -> None:
    toy.command("prep", output={"data": "data.json"})
    (toy.root / "scripts").mkdir()
    script = toy.root / "scripts/fit.py"
    script.write_text(
        "import json, sys\n"
        "out = {'data': snakemake.input.data, 'epochs': snakemake.params.epochs, 'argv': sys.argv[1:],\n"
        "       'log': snakemake.log[0], 'threads': snakemake.threads}\n"
        "json.dump(out, open(snakemake.output.model, 'w'))\n"
        "open(snakemake.output[1], 'w').write('curve')\n")
    (toy.root / "workflow/commands/fit.md").write_text(
        "---\ndescription: fit\nslashmake:\n  params: {epochs: 3}\n  input: [data]\n"
        "  output: {model: model.json, curve: curve.txt}\n  script: scripts/fit.py\n---\n")
    toy.slashmake("run", "/prep → /fit 'free arg' --epochs 7")
    model = json.loads(next((toy.root / "results/steps").glob("fit-*/model.json")).read_text())
    assert model["epochs"] == 7 and model["argv"] == ["free arg"] and model["threads"] == 1
    assert model["data"].endswith("/data.json") and model["log"].startswith("logs/steps/fit-")
    assert "nothing to do" in toy.slashmake("run", "/prep → /fit 'free arg' --epochs 7").stdout
    script.write_text(script.read_text().replace("'curve'", "'curve v2'"))
    again = toy.slashmake("run", "/prep → /fit 'free arg' --epochs 7")
    assert "nothing to do" not in again.stdout
    assert next((toy.root / "results/steps").glob("fit-*/curve.txt")).read_text() == "curve v2"


# -- 10: --cores -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_cores_below_one_or_not_a_number_is_refused(toy: ToyProject, value: str) -> None:
    toy.command("one")
    started = time.monotonic()
    proc = toy.slashmake("run", "--cores", value, "/one", check=False, timeout=60)
    assert proc.returncode == 2 and "--cores" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert time.monotonic() - started < 60
    assert not (toy.root / ".slashmake/run.lock").exists() or not list((toy.root / "results").glob("steps/*"))


# -- 11: loading is linear, and a huge file is refused without blocking the rest --------------------

def test_a_ten_megabyte_frontmatter_is_refused_quickly_and_blocks_nothing(toy: ToyProject) -> None:
    toy.command("other")
    lines = ["---", "description: big"] + [f"k{i}: value {i}" for i in range(600_000)] + ["---", "body"]
    (toy.root / "workflow/commands/big.md").write_text("\n".join(lines) + "\n")
    assert (toy.root / "workflow/commands/big.md").stat().st_size > 10_000_000
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lint = toy.slashmake("lint", check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 2.0, f"lint took {cpu:.1f} s of CPU"
    assert "workflow/commands/big.md" in lint.stderr + lint.stdout and "larger than" in lint.stderr + lint.stdout
    toy.slashmake("run", "/other")  # every other command still works
    assert toy.ran() == ["other"]


def test_many_unknown_keys_load_in_linear_time(toy: ToyProject) -> None:
    lines = ["---", "description: wide"] + [f"k{i}: v {i}" for i in range(50_000)] + \
        ["slashmake:", "  shell: echo hi", "---", "body"]
    (toy.root / "workflow/commands/wide.md").write_text("\n".join(lines) + "\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lint = toy.slashmake("lint")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert "wide.md:50002:1: unknown key 'k49999'" in lint.stdout + lint.stderr
    assert cpu < 6.0, f"lint took {cpu:.1f} s of CPU (quadratic: minutes)"


# -- 12: a `!` argument over 128 KiB ----------------------------------------------------------------

def test_a_bang_argument_over_128_kib_is_a_positioned_error_not_a_traceback(toy: ToyProject) -> None:
    # The ! lines take any size (a pipe, tests/test_canary.py); the job's own argv cannot: the
    # kernel refuses one word over 128 KiB. So the chain is refused, at the step, before anything runs.
    _agent(toy, "Size: !`printf %s \"$0\" | wc -c`")
    big = "x" * (200 * 1024)
    (toy.root / "chain.flow").write_text(f"/ask {big}\n")
    err = _error(toy.slashmake("explain", "-f", "chain.flow", check=False))
    assert "Argument list too long" not in err and "at most 124 KiB" in err and "chain.flow:1:1:" in err, err[:500]


# -- 14: sweep values ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["v" * 300, "run" + "ab" * 40])
def test_long_and_periodic_sweep_values_run(toy: ToyProject, value: str) -> None:
    toy.command("sw", params={"tag": "x"})
    toy.slashmake("run", f"/sw parallel[tag={value} | tag=short]")
    folders = [p.name for p in (toy.root / "results/steps").glob("sw-*/*") if p.is_dir()]
    assert len(folders) == 2 and all(len(f) <= 64 for f in folders), folders
    assert any("~" in f for f in folders)
    assert sorted(toy.ran()) == ["sw", "sw"]


# -- left from the earlier round -------------------------------------------------------------------

def test_a_nul_byte_in_a_chain_argument_is_a_positioned_error(toy: ToyProject) -> None:
    toy.command("one")
    err = _error(toy.slashmake("run", input="/one 'a\0b'\n", check=False))
    assert "NUL" in err and ":1:8:" in err and "^" in err, err


def test_a_nul_byte_in_a_set_value_is_an_error(toy: ToyProject) -> None:
    toy.command("one", params={"n": "text"})
    err = _error(_nul_set(toy))
    assert "NUL" in err and "--set n" in err


def _nul_set(toy: ToyProject):  # type: ignore[no-untyped-def]
    # argv cannot carry NUL: --set comes from a file of variables an agent wrote, through the MCP tool
    # in tests/test_attack_mcp.py; here through the API as the CLI calls it.
    import subprocess

    code = ("import sys; from pathlib import Path; from slashmake import api\n"
            "from slashmake.errors import FlowError\n"
            "try:\n    api.explain(api.Project.open(Path('.')), '/one --n $n', overrides={'n': 'a\\0b'})\n"
            "except FlowError as e:\n    print(e.message, file=sys.stderr); sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=toy.root, env=toy.env(), text=True,
                          capture_output=True, timeout=120)


def test_wildcards_in_a_command_that_is_not_swept_fail_before_running(toy: ToyProject) -> None:
    toy.command("one", shell="python toy_step.py one --out {output.report} -- {wildcards.variant}")
    toy.command("flow1", flow="/one")
    lint = toy.slashmake("lint", check=False)
    assert lint.returncode == 1 and "{wildcards.variant}" in lint.stderr and "flow1.md:" in lint.stderr
    err = _error(toy.slashmake("run", "/one", check=False))
    assert "not a sweep" in err and "^" in err and toy.ran() == []


@pytest.mark.parametrize(("extra", "message"), [
    ("  script: scripts/missing.py\n", "no such file"),
    ("  script: ../outside.py\n", "outside the project"),
    ("  shell: echo\n  params: {arguments: 1}\n", "may not be named 'arguments'"),
    ("  shell: echo\n  output: {log: out.log}\n", "may not be named 'log'"),
    ("  shell: echo\n  output: {metrics: m.json}\n  metrics: {file: other.json, keys: [a]}\n", "different files"),
])
def test_definition_mistakes_are_caught_by_lint(toy: ToyProject, extra: str, message: str) -> None:
    (toy.root.parent / "outside.py").write_text("print('outside')\n")
    (toy.root / "workflow/commands/bad.md").write_text(f"---\ndescription: bad\nslashmake:\n{extra}---\n")
    lint = toy.slashmake("lint", check=False)
    out = lint.stdout + lint.stderr
    assert lint.returncode == 1 and message in out and "workflow/commands/bad.md:" in out and "^" in out, out
