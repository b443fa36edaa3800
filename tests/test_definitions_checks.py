"""Definition files are checked completely when they load: one test per case, through `slashmake lint`.

Each bad file is reported as ``file:line:col: message``, the source line and a caret under the
value that is wrong, exit status 1, no traceback (issue 9, item 1).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from slashmake.interfaces.cli import main

FILE = "workflow/commands/x.md"
GOOD_SHELL = "echo hi > {output.r}"


def project(tmp_path: Path, front: str, body: str = "Body.\n", *, droid: bool = False) -> Path:
    (tmp_path / "workflow/commands").mkdir(parents=True, exist_ok=True)
    (tmp_path / FILE).write_text(f"---\n{front}\n---\n{body}")
    if droid:
        (tmp_path / "droids").mkdir(exist_ok=True)
        (tmp_path / "droids/helper.md").write_text("---\nname: helper\ndescription: helps\n---\nHelp.\n")
    return tmp_path


def lint(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(root), "lint", *args])
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def expect(root: Path, needle: str, width: int, message: str, file: str = FILE, after: str = "slashmake:") -> None:
    """`lint` fails with exactly this error at ``needle`` (searched after ``after``)."""
    code, _, err = lint(root)
    text = (root / file).read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    at = text.index(needle, text.index(after) if after else 0)
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    src = text.split("\n")[line - 1]
    lines = err.splitlines()
    head = f"{file}:{line}:{col}: {message}"
    # lint lists bad definition files ("error: "); a bad config stops it in main's handler ("Error: ")
    hits = [i for i, ln in enumerate(lines) if ln in (f"error: {head}", f"Error: {head}")]
    assert hits, f"wanted {head!r} in:\n{err}"
    i = hits[0]
    assert lines[i + 1] == f"    {src}"
    assert lines[i + 2] == "    " + " " * (col - 1) + "^" * width
    assert code == 1


CMD = "description: d\nslashmake:\n  output: {r: r.txt}\n  shell: " + GOOD_SHELL


@pytest.mark.parametrize(("extra", "needle", "message"), [
    ("  threads: 0", "0", "'slashmake.threads' must be at least 1, not 0"),
    ("  threads: -2", "-2", "'slashmake.threads' must be at least 1, not -2"),
    ("  retries: -1", "-1", "'slashmake.retries' must be at least 0, not -1"),
    ("  backoff: -0.5", "-0.5", "'slashmake.backoff' must be at least 0, not -0.5"),
    ("  timeout: 0", "0", "'slashmake.timeout' must be above 0, not 0"),
    ("  threads: many", "many", "'slashmake.threads' must be an integer, not str"),
    ("  retries: true", "true", "'slashmake.retries' must be an integer, not true/false"),
    ("  resources: {mem_mb: lots}", "lots", "resource 'mem_mb' must be a number, not str"),
    ("  resources: {mem_mb: -5}", "-5", "resource 'mem_mb' must not be negative (-5)"),
], ids=["threads-0", "threads-negative", "retries-negative", "backoff-negative", "timeout-0", "threads-str",
        "retries-bool", "resources-text", "resources-negative"])
def test_types_and_ranges(tmp_path: Path, extra: str, needle: str, message: str) -> None:
    expect(project(tmp_path, f"{CMD}\n{extra}"), needle, len(needle), message, after=extra.strip().split(":")[0])


@pytest.mark.parametrize(("params", "needle", "message"), [
    ("{lr: null}", "null", "parameter 'lr' must be a string, number or true/false (or a list of them), not null"),
    ("{lr: {a: 1}}", "{a: 1}", "parameter 'lr' must be a string, number or true/false (or a list of them), "
                               "not a mapping"),
    ("{lr: [1, [2]]}", "[2]", "parameter 'lr' must be a string, number or true/false (or a list of them), "
                              "not a list"),
], ids=["null", "nested-mapping", "nested-list"])
def test_parameter_values_are_scalars_or_lists_of_scalars(tmp_path: Path, params: str, needle: str,
                                                          message: str) -> None:
    expect(project(tmp_path, f"{CMD}\n  params: {params}"), needle, len(needle), message, after="params:")


def test_shell_and_flow_exclude_each_other(tmp_path: Path) -> None:
    root = project(tmp_path, f"{CMD}\n  flow: /a -> /b")
    expect(root, "flow", 4, "'shell' and 'flow' cannot both be set: a command runs a program (shell or script) "
                            "or is a macro (flow)")


def test_shell_and_script_exclude_each_other(tmp_path: Path) -> None:
    root = project(tmp_path, f"{CMD}\n  script: run.py")
    expect(root, "script", 6, "'shell' and 'script' cannot both be set: a command runs a program (shell or "
                              "script) or is a macro (flow)")


def test_an_empty_shell_is_an_error_not_an_agent_command(tmp_path: Path) -> None:
    root = project(tmp_path, 'description: d\nslashmake:\n  shell: ""')
    expect(root, '""', 2, "'slashmake.shell' is empty")
    assert "hint: remove the key to make this an agent command" in lint(root)[2]


def test_an_undefined_droid_is_an_error(tmp_path: Path) -> None:
    root = project(tmp_path, f"{CMD}\n  droid: helpr", droid=True)
    expect(root, "helpr", 5, "unknown droid 'helpr' (did you mean helper?)", after="droid:")


@pytest.mark.parametrize(("value", "message"), [
    ("../../../README.md", "output 'r' '../../../README.md' leaves the step folder ('..')"),
    ("a/../../b.txt", "output 'r' 'a/../../b.txt' leaves the step folder ('..')"),
    ("/etc/passwd", "output 'r' '/etc/passwd' is an absolute path: outputs stay inside the step folder"),
    ('""', "output 'r' is empty: give a file name inside the step folder"),
], ids=["dotdot", "dotdot-inside", "absolute", "empty"])
def test_output_names_stay_inside_the_step_folder(tmp_path: Path, value: str, message: str) -> None:
    root = project(tmp_path, f"description: d\nslashmake:\n  output: {{r: {value}}}\n  shell: {GOOD_SHELL}")
    expect(root, value, len(value), message, after="output:")


@pytest.mark.parametrize(("value", "message"), [
    ("../m.json", "metrics.file '../m.json' leaves the step folder ('..')"),
    ("/tmp/m.json", "metrics.file '/tmp/m.json' is an absolute path: outputs stay inside the step folder"),
], ids=["dotdot", "absolute"])
def test_the_metrics_file_stays_inside_the_step_folder(tmp_path: Path, value: str, message: str) -> None:
    root = project(tmp_path, f"{CMD}\n  metrics: {{file: {value}, keys: [a]}}")
    expect(root, value, len(value), message, after="metrics:")


def test_two_outputs_cannot_be_one_file(tmp_path: Path) -> None:
    root = project(tmp_path, f"description: d\nslashmake:\n  output: {{r: r.txt, s: ./r.txt}}\n  shell: {GOOD_SHELL}")
    expect(root, "./r.txt", 7, "outputs 'r' and 's' are the same file (./r.txt)", after="output:")


def test_metrics_primary_must_be_one_of_its_keys(tmp_path: Path) -> None:
    root = project(tmp_path, f"{CMD}\n  metrics: {{keys: [acc, f1], primary: auc}}")
    expect(root, "auc", 3, "metrics.primary 'auc' is not one of its keys (acc, f1)", after="metrics:")


@pytest.mark.parametrize(("shell", "needle", "message"), [
    ("echo {foo} > {output.r}", "{foo}", "shell uses {foo}, which Snakemake does not know"),
    ("cat {input.data} > {output.r}", "{input.data}", "shell uses {input.data}, which is not declared "
                                                      "(this command's input: none)"),
    ("echo > {output.nope}", "{output.nope}", "shell uses {output.nope}, which is not declared "
                                              "(this command's output: r)"),
    ("echo {params.lr} > {output.r}", "{params.lr}", "shell uses {params.lr}, which is not declared "
                                                     "(this command's params: arguments)"),
    ("echo {resources.gpux} > {output.r}", "{resources.gpux}", None),
    ("echo {threads.x} > {output.r}", "{threads.x}", "shell uses {threads.x}, but {threads} has no parts"),
], ids=["unknown", "undeclared-input", "undeclared-output", "undeclared-param", "undeclared-resource",
        "threads-part"])
def test_every_placeholder_is_one_snakemake_will_know(tmp_path: Path, shell: str, needle: str,
                                                      message: str | None) -> None:
    root = project(tmp_path, f"description: d\nslashmake:\n  output: {{r: r.txt}}\n  shell: {shell}")
    if message is None:
        code, _, err = lint(root)
        assert code == 1 and "shell uses {resources.gpux}, which is not declared" in err
        return
    expect(root, needle, len(needle), message, after="shell:")


def test_a_single_brace_is_refused_with_a_hint_to_double_it(tmp_path: Path) -> None:
    root = project(tmp_path, "description: d\nslashmake:\n  output: {r: r.txt}\n"
                             "  shell: \"echo '{\\\"a\\\": 1}' > {output.r}\"")
    code, _, err = lint(root)
    assert code == 1
    assert f"error: {FILE}:5:" in err and "shell has a single '{' that is not a placeholder" in err
    assert "hint: Snakemake reads braces as placeholders: write a literal brace twice ({{ or }})" in err


def test_a_lone_closing_brace_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path, "description: d\nslashmake:\n  output: {r: r.txt}\n  shell: echo a} > {output.r}")
    expect(root, "}", 1, "shell has a single '}' that is not a placeholder", after="echo")


def test_known_placeholders_and_doubled_braces_load(tmp_path: Path) -> None:
    shell = ("echo {{literal}} {params.lr:q} {params.arguments} {threads} {resources.mem_mb} {log} "
             "{wildcards.variant} {input} {input.data} > {output.r}")
    root = project(tmp_path, f"description: d\nslashmake:\n  params: {{lr: 0.1}}\n  input: [data]\n"
                             f"  output: {{r: r.txt}}\n  shell: {shell}")
    code, out, err = lint(root)
    assert code == 0, err
    assert "ok: 1 commands" in out


def test_slashmake_must_be_a_mapping(tmp_path: Path) -> None:
    expect(project(tmp_path, "description: d\nslashmake: [1, 2]"), "[1, 2]", 6,
           "'slashmake' must be a mapping, not a list")


def test_invalid_yaml_under_slashmake_has_its_position(tmp_path: Path) -> None:
    root = project(tmp_path, "description: d\nslashmake:\n  output: {r: r.txt\n  shell: x")
    code, _, err = lint(root)
    assert code == 1 and f"error: {FILE}:" in err and "invalid YAML" in err


def test_a_metrics_alias_names_one_of_its_keys(tmp_path: Path) -> None:
    root = project(tmp_path, f"{CMD}\n  metrics: {{keys: [accuracy], aliases: {{acc: accurcy}}}}")
    expect(root, "accurcy", 7, "metrics alias 'acc' must name one of its keys (accuracy)", after="aliases")


# --------------------------------------------------------------------------- encodings


def test_a_file_that_is_not_utf8_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    root = project(tmp_path, CMD)
    (root / FILE).write_bytes(b"---\ndescription: caf\xe9\nslashmake:\n  shell: echo\n---\n")
    code, _, err = lint(root)
    assert code == 1
    assert f"error: {FILE}:2:17: {FILE} is not UTF-8 text (byte 0xe9 cannot be read)" in err.splitlines()
    assert "hint: save the file as UTF-8" in err


def test_a_bom_and_crlf_load(tmp_path: Path) -> None:
    root = project(tmp_path, CMD)
    text = (root / FILE).read_text()
    (root / FILE).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    code, out, err = lint(root)
    assert code == 0, err
    result = CliRunner().invoke(main, ["-C", str(root), "list"])
    assert "/x" in result.stdout and " d" in result.stdout


def test_crlf_errors_point_at_the_right_column(tmp_path: Path) -> None:
    root = project(tmp_path, f"{CMD}\n  threads: 0")
    text = (root / FILE).read_text()
    (root / FILE).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    expect(root, "0", 1, "'slashmake.threads' must be at least 1, not 0", after="threads:")


# --------------------------------------------------------------------------- config.yaml


def config_project(tmp_path: Path, config: str) -> Path:
    root = project(tmp_path, "description: d\nslashmake:\n  params: {epochs: 3, lr: 0.1, mode: fast}\n"
                             "  output: {r: r.txt}\n  shell: echo {params.epochs} > {output.r}")
    (root / "config").mkdir()
    shutil.copy(REPO / "config/schema.yaml", root / "config/schema.yaml")
    (root / "config/config.yaml").write_text(config)
    return root


@pytest.mark.parametrize(("config", "needle", "message"), [
    ("params:\n  epochs: many\n", "many", "params.epochs: /x takes an integer for 'epochs', not 'many'"),
    ("params:\n  x.lr: fast\n", "fast", "params.x.lr: /x takes a number for 'lr', not 'fast'"),
    ("params:\n  y.lr: 0.2\n", "y.lr", "params.y.lr: no command /y"),
    ("params:\n  x.depth: 2\n", "x.depth", "params.x.depth: /x has no parameter 'depth' (did you mean epochs?)"),
    ("params:\n  epoch: 2\n", "epoch", "params.epoch: no command declares a parameter 'epoch' (did you mean epochs?)"),
    ("agent:\n  timeout: -1\n", "-1", "config 'agent.timeout': -1 is less than or equal to the minimum of 0"),
], ids=["wrong-type", "wrong-type-for-one-command", "no-such-command", "no-such-parameter", "unknown-name",
        "schema"])
def test_config_errors_have_line_and_column(tmp_path: Path, config: str, needle: str, message: str) -> None:
    expect(config_project(tmp_path, config), needle, len(needle), message, file="config/config.yaml", after="")


def test_a_good_config_override_loads(tmp_path: Path) -> None:
    root = config_project(tmp_path, "params:\n  epochs: 5\n  x.lr: 1\n  mode: 7\n")
    code, _, err = lint(root)
    assert code == 0, err


def test_frontmatter_written_as_one_flow_mapping_is_checked_too(tmp_path: Path) -> None:
    root = project(tmp_path, '{description: "x", slashmake: {threads: 0, shell: echo}}')
    expect(root, "0", 1, "'slashmake.threads' must be at least 1, not 0", after="threads")
