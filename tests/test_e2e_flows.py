"""End-to-end flows: real Snakemake on toy projects, asserting which steps ran (via the toy trace).

Each test builds a small project with ``toy.command(...)`` (commands that run tests/toy/toy_step.py),
runs it with the real CLI or plain ``snakemake``, and checks the trace. No mocks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from slashmake.compiler.project import Project

pytestmark = pytest.mark.slow

MONITORING = ("/monitor-performance → /if:drift-detected → /data-refresh → /retrain → /evaluate → "
              "/if:better-performance → /deploy → /monitor → /else → /continue-monitoring")


def step_dir(root: Path, label: str) -> Path:
    """The one step folder whose key starts with ``label-`` (the hash follows the last dash)."""
    hits = [p for p in (root / "results/steps").glob(f"{label}-*") if re.fullmatch(rf"{re.escape(label)}-[0-9a-f]{{8}}", p.name)]
    assert len(hits) == 1, f"expected one folder for {label}, found {hits}"
    return hits[0]


def records_of(toy, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in toy.records() if r["step"] == name]


# -- 1. the monitoring chain, all four outcomes ---------------------------------------------------
@pytest.mark.parametrize(
    ("drift", "better", "expected"),
    [
        (0, 0, ["monitor-performance"]),
        (0, 1, ["monitor-performance"]),
        (1, 0, ["monitor-performance", "data-refresh", "retrain", "evaluate", "continue-monitoring"]),
        (1, 1, ["monitor-performance", "data-refresh", "retrain", "evaluate", "deploy", "monitor"]),
    ],
    ids=["no-drift-worse", "no-drift-better", "drift-worse", "drift-better"],
)
def test_monitoring_chain_runs_the_branches_its_metrics_pick(toy, drift: int, better: int, expected: list[str]) -> None:
    toy.command("monitor-performance", params={"drift": 1}, metrics={"drift-detected": "{params.drift}"})
    toy.command("evaluate", params={"better": 1}, metrics={"better-performance": "{params.better}"})
    for name in ("data-refresh", "retrain", "deploy", "monitor", "continue-monitoring"):
        toy.command(name)
    toy.config(params={"drift": drift, "better": better})  # config `params:` overrides the defaults
    toy.slashmake("run", MONITORING)
    # /else binds to /if:better-performance: with no drift nothing after the first gate runs.
    assert toy.ran() == expected


# -- 2. /end joins ------------------------------------------------------------------------------
def _end_project(toy, x: int) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", params={"x": x}, metrics={"x": "{params.x}"}, output={"data": "data.json"})
    toy.command("b", output={"data": "data.json"})
    toy.command("c", inputs=["data"])


@pytest.mark.parametrize(("x", "expected", "data_from"), [(0, ["a", "c"], "a"), (1, ["a", "b", "c"], "b")],
                         ids=["empty-branch-passes-through", "then-branch"])
def test_steps_after_end_run_whichever_branch_was_taken(toy, x: int, expected: list[str], data_from: str) -> None:
    _end_project(toy, x)
    toy.slashmake("run", "/a → /if:x → /b → /end → /c")
    (c,) = records_of(toy, "c")
    assert toy.ran() == expected
    # `data` is named before the gate (a) and in the then-branch (b): /c reads the one the taken branch left.
    assert len(c["inputs"]) == 1
    assert f"results/steps/{data_from}-" in c["inputs"][0]


# -- 3. a $var threshold, changed with --set ----------------------------------------------------
def test_gate_threshold_variable_overridden_with_set_flips_the_branch(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("score", metrics={"acc": "0.9"})
    toy.command("hi")
    toy.command("lo")
    chain = "$t=0.5 → /score → /if:acc>$t → /hi → /else → /lo"
    toy.slashmake("run", chain)
    assert toy.ran() == ["score", "hi"]
    toy.slashmake("run", chain, "--set", "t=0.95")
    assert toy.ran() == ["lo"]  # /score is the same step, reused; only the gate and its branch are new


# -- 4. sweeps -----------------------------------------------------------------------------------
def _sweep_project(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("train", params={"sigma": 0.12}, metrics={"acc": "{params.sigma}"})
    toy.command("agg", inputs=["metrics"], metrics={"best": "1"})


def test_sweep_runs_one_job_per_value_and_the_aggregate_sees_them_all(toy) -> None:  # type: ignore[no-untyped-def]
    _sweep_project(toy)
    toy.slashmake("run", "/train parallel[sigma-0.1 | sigma-0.2 | sigma-0.3] → /agg")
    (agg,) = records_of(toy, "agg")
    assert sorted(toy.ran()) == ["agg", "train", "train", "train"]
    assert len(agg["inputs"]) == 3
    accs = sorted(json.loads(Path(toy.root, f).read_text())["acc"] for f in agg["inputs"])
    assert accs == [0.1, 0.2, 0.3]
    assert json.loads((step_dir(toy.root, "agg") / "metrics.json").read_text())["n_inputs"] == 3


def test_sweep_forms_compile_to_the_same_steps(toy) -> None:  # type: ignore[no-untyped-def]
    _sweep_project(toy)
    project = Project.open(toy.root)
    forms = ["/train parallel[sigma-0.1 | sigma-0.2] → /agg",
             "/train --parameters sigma:0.1,0.2 → /agg",
             "parallel[/train:sigma-0.1 | /train:sigma-0.2] → /agg"]
    shapes = []
    for chain in forms:
        steps = project.resolve_chain(chain, "f").steps
        shapes.append([(s.key, s.variants) for s in steps])
    assert shapes[0] == shapes[1] == shapes[2]
    (train, _agg) = shapes[0]
    assert train[1] == {"sigma-0.1": {"sigma": "0.1"}, "sigma-0.2": {"sigma": "0.2"}}


# -- 5. changing one sweep value ----------------------------------------------------------------
def test_changing_one_sweep_value_reruns_only_that_variant(toy) -> None:  # type: ignore[no-untyped-def]
    _sweep_project(toy)
    toy.slashmake("run", "/train parallel[sigma-0.1 | sigma-0.2 | sigma-0.3] → /agg")
    toy.ran()
    toy.slashmake("run", "/train parallel[sigma-0.1 | sigma-0.2 | sigma-0.4] → /agg")
    recs = toy.records()
    assert sorted(toy.ran()) == ["agg", "train"]
    assert [json.loads(Path(toy.root, r["inputs"][0]).read_text()) for r in recs if r["step"] == "agg"] != []


# -- 6. try / catch ------------------------------------------------------------------------------
def _try_project(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("x", params={}, metrics={"m": "1"}, shell="python toy_step.py x --out {output.report} "
                "--metrics {output.metrics} --set m=1 --fail-if FAIL")
    toy.command("a")
    toy.command("b")


@pytest.mark.parametrize(("fail", "expected"), [(True, ["x", "a"]), (False, ["x", "b"])], ids=["fails", "passes"])
def test_try_runs_catch_on_failure_and_else_on_success(toy, fail: bool, expected: list[str]) -> None:
    _try_project(toy)
    if fail:
        (toy.root / "FAIL").touch()
    toy.slashmake("run", "/try:/x → /catch:x-failed → /a → /else → /b")
    assert toy.ran() == expected
    folder = step_dir(toy.root, "x")
    status = json.loads((folder / "status.json").read_text())
    assert status["success"] is (not fail)
    if fail:
        assert status["exit_code"] == 3
        assert status["label"] == "x-failed"
        assert "failing on purpose" in status["stderr_tail"]
        assert not (folder / "report.json").exists()
        assert not (folder / "metrics.json").exists()
        assert not (folder / ".staging").exists()
    else:
        assert (folder / "report.json").exists() and (folder / "metrics.json").exists()


def test_else_branch_of_a_try_can_read_the_published_outputs(toy) -> None:  # type: ignore[no-untyped-def]
    _try_project(toy)
    toy.command("use", inputs=["report"])
    toy.slashmake("run", "/try:/x → /catch:x-failed → /a → /else → /use")
    (use,) = records_of(toy, "use")
    assert toy.ran() == ["x", "use"]
    assert use["inputs"] == [f"{step_dir(toy.root, 'x').relative_to(toy.root)}/report.json"]


@pytest.mark.parametrize(("fail", "expected"), [(True, ["x", "b"]), (False, ["x", "a"])], ids=["fails", "passes"])
def test_gate_on_success_makes_the_step_a_try(toy, fail: bool, expected: list[str]) -> None:
    _try_project(toy)
    if fail:
        (toy.root / "FAIL").touch()
    toy.slashmake("run", "/x → /if:success → /a → /else → /b")
    assert toy.ran() == expected
    assert json.loads((step_dir(toy.root, "x") / "status.json").read_text())["success"] is (not fail)


def test_try_wraps_a_compound_shell_command_whole(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("x", shell="python toy_step.py x1 --fail-if FAIL && python toy_step.py x2 --out {output.report}")
    toy.command("a")
    toy.command("b")
    (toy.root / "FAIL").touch()
    toy.slashmake("run", "/try:/x → /catch:x-failed → /a → /else → /b")
    assert toy.ran() == ["x1", "a"]  # x2 must not run once x1 failed


# -- 7. retries ------------------------------------------------------------------------------------
def test_retries_wait_backoff_then_double_between_attempts(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("flaky", shell="python toy_step.py flaky --out {output.report} --counter flaky.count --fail-times 2")
    toy.slashmake("run", "/flaky-with-retry:2:backoff=1")
    assert toy.ran() == ["flaky", "flaky", "flaky"]
    log = (toy.root / "logs/steps" / f"{step_dir(toy.root, 'flaky').name}.log").read_text()
    starts = [float(t) for t in re.findall(r"attempt \d+/3 started at ([\d.]+)", log)]
    assert len(starts) == 3, log
    assert starts[1] - starts[0] >= 1.0
    assert starts[2] - starts[1] >= 2.0
    assert (step_dir(toy.root, "flaky") / "report.json").exists()


def test_retry_suffix_and_retry_options_are_the_same_step(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("flaky")
    project = Project.open(toy.root)
    (a,) = project.resolve_chain("/flaky-with-retry:2:backoff=1", "f").steps
    (b,) = project.resolve_chain("/flaky --retries 2 --backoff 1", "f").steps
    assert (a.retries, a.backoff, a.params, a.args) == (b.retries, b.backoff, b.params, b.args) == (2, 1.0, {}, [])
    assert a.key == b.key


# -- 8. a second run does nothing -------------------------------------------------------------------
def test_second_run_does_nothing(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"x": "1"})
    toy.command("b")
    toy.command("c")
    chain = "/a → /if:x → /b → /else → /c"
    toy.slashmake("run", chain)
    assert toy.ran() == ["a", "b"]
    proc = toy.slashmake("run", chain)
    assert toy.ran() == []
    assert "Nothing to be done" in proc.stdout + proc.stderr


# -- 9. a step shared by two flows ----------------------------------------------------------------
def test_step_shared_by_two_macros_runs_once(toy) -> None:  # type: ignore[no-untyped-def]
    for name in ("prep", "a", "b"):
        toy.command(name)
    toy.command("flow-a", flow="/prep → /a")
    toy.command("flow-b", flow="/prep → /b")
    toy.snakemake("-c2", "flow_a")
    assert toy.ran() == ["prep", "a"]
    toy.snakemake("-c2", "flow_b")
    assert toy.ran() == ["b"]


# -- 10. $var into a later step's parameter -------------------------------------------------------
def test_result_variable_reaches_a_later_parameter(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"score": "0.7"})
    toy.command("b", params={"level": 0.0}, shell="python toy_step.py b --out {output.report} -- {params.level}")
    toy.slashmake("run", "/a → $v=<result> → /b:level=$v")
    (b,) = records_of(toy, "b")
    assert toy.ran() == ["a", "b"]
    assert b["args"] == ["0.7"]


# -- 11. needs ---------------------------------------------------------------------------------------
def test_missing_need_is_pulled_in_and_not_duplicated(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", output={"data": "data.json"})
    toy.command("b", needs=["a"], inputs=["data"])
    explain = toy.slashmake("explain", "/b").stdout
    assert re.search(r"will run\s+/a \(a-[0-9a-f]{8}\) \[pulled in: /b needs it\]", explain), explain
    toy.slashmake("run", "/b")
    assert toy.ran() == ["a", "b"]
    project = Project.open(toy.root)
    steps = project.resolve_chain("/a → /b", "f").steps
    assert [s.label for s in steps] == ["/a", "/b"]
    toy.slashmake("run", "/a → /b")
    assert toy.ran() == []  # the chain's /a is the same step as the pulled-in one


# -- 12. editing a command file -------------------------------------------------------------------
def test_editing_a_command_reruns_it_and_what_follows(toy) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b", "c"):
        toy.command(name)
    toy.slashmake("run", "/a → /b → /c")
    assert toy.ran() == ["a", "b", "c"]
    path = toy.root / "workflow/commands/b.md"
    # what shapes its rule (prose alone reruns nothing: tests/test_rerun.py)
    path.write_text(path.read_text().replace("params: {}", "params: {n: 1}"))
    toy.slashmake("run", "/a → /b → /c")
    assert toy.ran() == ["b", "c"]


# -- 13. plain snakemake on a macro, recompiled when a definition changes ---------------------------
def test_plain_snakemake_runs_a_macro_and_recompiles_it_after_an_edit(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    toy.command("b")
    toy.command("pipe", flow="/a → /b")
    toy.snakemake("-c2", "pipe")
    assert toy.ran() == ["a", "b"]
    compiled = toy.root / "rules/compiled/pipe.smk"
    first = re.search(r"^# sources-hash: (\w+)$", compiled.read_text(), re.M)
    assert first
    path = toy.root / "workflow/commands/b.md"
    path.write_text(path.read_text().replace("params: {}", "params: {n: 1}"))  # its rule, not its prose
    toy.snakemake("-c2", "pipe")
    second = re.search(r"^# sources-hash: (\w+)$", compiled.read_text(), re.M)
    assert second and second.group(1) != first.group(1)
    assert toy.ran() == ["b"]


# -- 14. injection ----------------------------------------------------------------------------------
NASTY = "a;b $(touch canary) `touch canary2` 'q' \"dq\"\nline two; rm -rf nothing | cat > canary3 & $HOME \\ end"


def _chain_for(value: str) -> str:
    return '/echo "' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_hostile_argument_reaches_the_program_byte_identical(toy, how: str) -> None:  # type: ignore[no-untyped-def]
    toy.command("echo", output={"report": "report.json", "argv": "argv.json"},
                shell="python toy_step.py echo --out {output.report} --argv {output.argv} -- {params.arguments}")
    chain = _chain_for(NASTY)
    if how == "file":
        (toy.root / "chain.flow").write_text(chain + "\n")
        toy.slashmake("run", "-f", "chain.flow")
    else:
        toy.slashmake("run", input=chain)
    assert toy.ran() == ["echo"]
    argv = json.loads((step_dir(toy.root, "echo") / "argv.json").read_text())
    assert argv[argv.index("--") + 1 :] == [NASTY]
    assert not list(toy.root.rglob("canary*"))


def test_argument_with_braces_reaches_the_program(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("echo", output={"report": "report.json", "argv": "argv.json"},
                shell="python toy_step.py echo --out {output.report} --argv {output.argv} -- {params.arguments}")
    toy.slashmake("run", input=_chain_for("{x} {{y}}"))
    argv = json.loads((step_dir(toy.root, "echo") / "argv.json").read_text())
    assert argv[argv.index("--") + 1 :] == ["{x} {{y}}"]


# -- 15. CLI errors ------------------------------------------------------------------------------------
ERROR_LINE = re.compile(r"^Error: (?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$", re.M)


def _assert_user_error(proc, file: str, line: int, col: int, src: str, words: str) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    m = ERROR_LINE.search(proc.stderr)
    assert m, proc.stderr
    assert (m["file"], int(m["line"]), int(m["col"])) == (file, line, col), proc.stderr
    assert words in m["msg"], proc.stderr
    lines = proc.stderr.splitlines()
    i = lines.index(m.group(0))
    assert lines[i + 1] == "    " + src
    caret = lines[i + 2]
    assert set(caret.strip()) == {"^"}
    assert caret.index("^") == 4 + col - 1  # under the column the message names


def test_malformed_chain_is_reported_with_position_and_caret(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    proc = toy.slashmake("run", "/a → → /a", check=False)
    _assert_user_error(proc, "<chain>", 1, 6, "/a → → /a", "expected a stage")
    debug = toy.slashmake("--debug", "run", "/a → → /a", check=False)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_missing_slash_is_explained(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    proc = toy.slashmake("run", "/a → archive-variant", check=False)
    _assert_user_error(proc, "<chain>", 1, 6, "/a → archive-variant", "did you mean /archive-variant?")


@pytest.mark.parametrize(("text", "line", "col", "src", "words"), [
    ("---\ndescription: x\nslashmake:\n  params: 3\n  shell: echo\n---\nbody\n", 4, 11, "  params: 3",
     "'slashmake.params' must be a mapping, not int"),
    ("---\ndescription: x\nslashmake: [a\n---\n", 3, 14, "slashmake: [a", "invalid YAML"),
], ids=["bad-type", "bad-yaml"])
def test_malformed_command_file_is_reported_with_position(toy, text, line, col, src, words) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    (toy.root / "workflow/commands/bad.md").write_text(text)
    proc = toy.slashmake("run", "/bad", check=False)
    _assert_user_error(proc, "workflow/commands/bad.md", line, col, src, words)
    debug = toy.slashmake("--debug", "run", "/bad", check=False)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    # one bad file disables only the chains that use it (docs/definitions.md)
    ok = toy.slashmake("run", "-n", "/a", check=False)
    assert ok.returncode == 0 and f"warning: workflow/commands/bad.md:{line}:{col}: " in ok.stderr


def test_unknown_command_lists_the_closest_names(toy) -> None:  # type: ignore[no-untyped-def]
    for name in ("train", "trainer", "evaluate"):
        toy.command(name)
    proc = toy.slashmake("run", "/trian", check=False)
    _assert_user_error(proc, "<chain>", 1, 1, "/trian", "unknown command /trian")
    assert "did you mean train" in proc.stderr and "evaluate" not in proc.stderr.split("did you mean")[1]


@pytest.mark.parametrize("args", [["run", "/a", "--set", "novalue"], ["run", "/a", "--cores", "many"],
                                  ["frobnicate"], ["run", "/a", "--executor", "cloud"]],
                         ids=["bad-set", "bad-cores", "no-such-command", "bad-executor"])
def test_usage_errors_exit_2(toy, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    proc = toy.slashmake(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert toy.ran() == []


# -- 16. list, lint, compile, graph, explain ------------------------------------------------------------
def test_list_lint_compile(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "0.9"})
    toy.command("b")
    toy.command("pipe", flow="/a → /if:acc>0.5 → /b")
    listed = toy.slashmake("list").stdout
    assert re.search(r"macros:\n  project\s+/pipe\s+toy pipe\ncommands:\n  project\s+/a\s+toy a\n  project\s+/b\s+toy b",
                     listed), listed
    assert "ok: 3 commands (1 macros), 0 droids, 0 warnings" in toy.slashmake("lint").stdout
    proc = toy.slashmake("compile", "/a → /b")
    assert "wrote rules/compiled/pipe.smk" in proc.stderr
    assert (toy.root / "rules/compiled/pipe.smk").exists()
    # /a is the same step as the macro's /a: defined once, by the compiled macro
    assert re.search(r"^# a: .*computed once", proc.stdout, re.M), proc.stdout
    assert not re.search(r"^rule a:", proc.stdout, re.M)
    # the chain's /b (right after /a) is another step than the macro's /b (after the gate): b_2
    assert re.search(r"^rule b_2:$", proc.stdout, re.M)
    assert re.search(r"^rule chain_[0-9a-f]{10}:$", proc.stdout, re.M)
    assert "checkpoint gate_acc" in (toy.root / "rules/compiled/pipe.smk").read_text()


def test_graph_writes_an_svg_with_the_rules(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    toy.command("b")
    proc = toy.slashmake("graph", "/a → /b", "-o", "dag.svg")
    assert "wrote dag.svg" in proc.stdout
    svg = (toy.root / "dag.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert ">/a</text>" in svg and ">/b</text>" in svg  # the steps as the chain wrote them
    assert toy.ran() == []


def test_explain_says_will_run_then_up_to_date(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "0.9"})
    toy.command("b")
    toy.command("c")
    chain = "/a → /if:acc>0.5 → /b → /else → /c"
    before = toy.slashmake("explain", chain).stdout
    assert re.search(r"^will run\s+/a \(a-\w+\)", before, re.M), before
    assert re.search(r"^waits\s+/b ", before, re.M), before
    assert toy.ran() == []
    toy.slashmake("run", chain)
    assert toy.ran() == ["a", "b"]
    after = toy.slashmake("explain", chain).stdout
    assert re.search(r"^up to date\s+/a ", after, re.M), after
    assert re.search(r"^up to date\s+/b ", after, re.M), after
    assert re.search(r"^up to date\s+gate-acc \(gate-acc-\w+\); took the then \(acc=0.9 > 0.5\) branch", after, re.M), after
    assert "will run" not in after
    assert re.search(r"/c .*runs only if the branch", after), after


def test_an_optional_input_is_an_empty_argument_when_nothing_makes_it(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("tune", output={"best": "best.json"})
    toy.command("fit", inputs=["best?"], output={"report": "report.json"},
                shell="python toy_step.py fit --out {output.report} --inputs {input.best}")
    toy.slashmake("run", "/fit")
    [alone] = toy.records()
    assert alone["inputs"] == [""]
    toy.ran()
    toy.slashmake("run", "/tune → /fit")
    fit = [r for r in toy.records() if r["step"] == "fit"][0]
    assert re.fullmatch(r"results/steps/tune-\w+/best\.json", fit["inputs"][0]), fit


# -- scale --------------------------------------------------------------------------------------
def test_a_2000_stage_chain_compiles_and_dry_runs_through_the_cli_and_plain_snakemake(toy) -> None:  # type: ignore[no-untyped-def]
    """Slow (up to a minute): Snakemake plans 2,000 jobs twice (the CLI and plain snakemake); the scale is the point."""
    # Snakemake builds its DAG recursively: far past Python's default 1,000 frames here.
    toy.command("s")
    toy.command("long", flow=" → ".join(["/s"] * 2000))
    dry = toy.slashmake("run", "--dry-run", "/long", timeout=600)
    assert re.search(r"^long\s+1$", dry.stdout, re.M), dry.stdout[-2000:]
    assert len(set(re.findall(r"^(s(?:_\w+)?)\s+1$", dry.stdout, re.M))) == 2000  # the job table: one row a stage
    plain = toy.snakemake("-n", "-c1", "long", "--quiet", "rules", timeout=600)
    assert "RecursionError" not in plain.stdout + plain.stderr
