"""Command bodies as the agents render them: arguments, ``!`` commands, ``@`` files — asserted on the
prompt and argv that reach the agent program (slashmake.agents.step through its CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKE = str(Path(__file__).resolve().parent / "fake_agent.py")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def render(tmp: Path, body: str, args: list[str], meta: str = "") -> subprocess.CompletedProcess[str]:
    cmd = write(tmp / "workflow" / "commands" / "c.md", (f"---\n{meta}---\n" if meta else "") + body)
    out = tmp / "out"
    argv = [sys.executable, "-m", "slashmake.agents.step", "--command", str(cmd.relative_to(tmp)),
            "--arguments", json.dumps(args), "--prompt-out", str(out / "prompt.md"),
            "--response-out", str(out / "response.md"), "--metrics-out", str(out / "metrics.json"),
            "--program", json.dumps([sys.executable, FAKE, "-f", "{prompt_file}"]), "--tools-format", "none"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
    return subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=120)


def prompt(tmp: Path) -> str:
    return (tmp / "out" / "prompt.md").read_text()


def test_indexed_and_positional_arguments_count_from_zero(tmp_path: Path) -> None:
    r = render(tmp_path, "all=<$ARGUMENTS> first=<$ARGUMENTS[0]> second=<$1> third=<$2> none=<$ARGUMENTS[7]>\n",
               ["fix the tests", "--max", "5"])
    assert r.returncode == 0, r.stderr
    assert "all=<'fix the tests' --max 5> first=<fix the tests> second=<--max> third=<5> none=<>" in prompt(tmp_path)
    assert "ARGUMENTS:" not in prompt(tmp_path)


def test_named_arguments(tmp_path: Path) -> None:
    r = render(tmp_path, "Issue $issue in $repo; $HOME stays.\n", ["42", "org/app"],
               meta="arguments: [issue, repo]\n")
    assert r.returncode == 0, r.stderr
    assert "Issue 42 in org/app; $HOME stays." in prompt(tmp_path)


def test_arguments_without_placeholders_are_appended(tmp_path: Path) -> None:
    assert render(tmp_path, "Summarise.\n", ["a b", "c"]).returncode == 0
    assert "Summarise.\n\nARGUMENTS: 'a b' c" in prompt(tmp_path)


def test_bang_commands_run_from_the_project_root(tmp_path: Path) -> None:
    write(tmp_path / "VERSION", "1.2.3\n")
    body = "Version: !`cat VERSION`.\n\n```!\necho block-$0\npwd\n```\nEnd.\n"
    r = render(tmp_path, body, ["x"])
    assert r.returncode == 0, r.stderr
    text = prompt(tmp_path)
    assert "Version: 1.2.3." in text
    assert f"block-x\n{tmp_path}\nEnd." in text
    assert "!`" not in text and "```!" not in text


@pytest.mark.parametrize("evil", ["; touch CANARY", "$(touch CANARY)", "`touch CANARY`", "' ; touch CANARY ; '",
                                  "\" ; touch CANARY ; \"", "a\ntouch CANARY"])
def test_arguments_in_bang_commands_never_execute(tmp_path: Path, evil: str) -> None:
    body = "Echo: !`echo $ARGUMENTS` / !`echo $0` / !`printf %s $ARGUMENTS[0]`\n"
    r = render(tmp_path, body, [evil])
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "CANARY").exists()
    assert evil.split("\n")[0] in prompt(tmp_path)  # printed as data


def test_a_failing_bang_command_fails_the_step_with_its_stderr(tmp_path: Path) -> None:
    r = render(tmp_path, "Intro.\n\nState: !`echo oops >&2; exit 4`\n", [])
    assert r.returncode == 1
    assert "c.md:3" in r.stderr and "exited with status 4" in r.stderr and "oops" in r.stderr
    assert not (tmp_path / "out" / "response.md").exists()


def test_at_files_are_inlined_under_a_header(tmp_path: Path) -> None:
    write(tmp_path / "src" / "app.py", "print('hi')\n")
    r = render(tmp_path, "Review @src/app.py, and mail @alice about it.\n", [])
    assert r.returncode == 0, r.stderr
    text = prompt(tmp_path)
    assert "### File: src/app.py\n\n```\nprint('hi')\n```" in text
    assert "@alice" in text and "File: alice" not in text  # a mention is prose, not a file


def test_a_missing_at_file_stays_text_and_names_the_command_line(tmp_path: Path) -> None:
    r = render(tmp_path, "One.\nTwo: see @docs/missing.md\n", [], meta="description: d\n")
    assert r.returncode == 0, r.stderr
    assert "workflow/commands/c.md:5: @docs/missing.md: no such file; left as text" in r.stderr
    assert "see @docs/missing.md" in prompt(tmp_path) and "File: docs/missing.md" not in prompt(tmp_path)


def test_at_signs_in_code_are_not_files(tmp_path: Path) -> None:
    body = "Use fixtures:\n\n```python\n@pytest.fixture\ndef x(): ...\n```\n\nor `@functools.cache`.\n"
    r = render(tmp_path, body, [])
    assert r.returncode == 0, r.stderr
    assert "@pytest.fixture" in prompt(tmp_path) and "### File:" not in prompt(tmp_path)
