"""What a user gets: the built wheel in a fresh virtualenv, used in their own repository (not this one).

The repository already holds Claude Code and Droid files, an MCP config with another server and
a Snakefile of its own. slashmake is installed tool-style: its own virtualenv, called by path, not
on PATH. Each step checks what the user is shown and what is left in the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from conftest import REPO
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

#: One worker builds the wheel and its virtualenv once for the module's tests.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("user-repo")]

STEP = ("---\ndescription: {desc}\nslashmake:\n  input: [{inputs}]\n  output: {{out: {name}.txt}}\n"
        "  shell: cat {cat} > {{output.out}}; echo {name} >> {{output.out}}; printf '%s\\n' {{params.arguments}} "
        ">> {{output.out}}\n---\n{desc}\n")


def _step(name: str, inputs: list[str]) -> str:
    return STEP.format(desc=f"step {name}", name=name, inputs=", ".join(inputs),
                       cat=" ".join(f"{{input.{i}}}" for i in inputs) or "/dev/null")


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The wheel built from this checkout, installed into a fresh virtualenv; its bin folder and the seconds taken."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src-copy"  # build from a copy: the build leaves build/ and *.egg-info behind
    src.mkdir()
    for rel in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / rel, src / rel)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp / "dist").glob("slashmake-*.whl")
    start = time.monotonic()
    venv = tmp / "tool-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # pip of this environment installs into the fresh one (--python); dependencies come from the index
    # (or pip's cache), as for any user. No torch: the ML extra is not asked for.
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return venv / "bin", time.monotonic() - start


def _user_repo(root: Path) -> None:
    """A repository as a user has it before slashmake: agents' files, an MCP config, a Snakefile."""
    files = {
        # a Claude Code command without frontmatter (a prompt), one with an unquoted YAML list as hint
        ".claude/commands/explain-churn.md": "Explain why customers in $ARGUMENTS churn.\n",
        ".claude/commands/review.md": "---\ndescription: Review a file\nargument-hint: [file]\n---\nReview $1.\n",
        # a program command the user keeps beside Claude Code's commands: a skill must not hide it
        ".claude/commands/ship.md": "---\ndescription: Ship it\nslashmake:\n  output: {o: shipped.txt}\n"
                                    "  shell: echo shipped > {output.o}\n---\n",
        ".claude/agents/reviewer.md": "---\nname: reviewer\ndescription: Reviews code\ntools: Read, Grep\n---\nReview.\n",
        ".factory/droids/helper.md": "---\nname: helper\ndescription: Helps\nmodel: inherit\n---\nHelp.\n",
        ".factory/commands/deploy": "#!/bin/sh\necho deploying \"$@\"\n",
        ".mcp.json": json.dumps({"mcpServers": {"github": {"command": "github-mcp", "args": ["stdio"]}}}, indent=2),
        "Snakefile": 'rule hello:\n    output: "hello.txt"\n    shell: "echo hello > {output}"\n',
        "README.md": "# my project\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".factory/commands/deploy").chmod(0o755)
    git = ["git", "-c", "user.name=u", "-c", "user.email=u@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "mine"], cwd=root, check=True)


def _env(tmp: Path) -> dict[str, str]:
    """No slashmake on PATH, no checkout on PYTHONPATH: only what the wheel installed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{os.path.dirname(shutil.which('git') or '/usr/bin/git')}{os.pathsep}/usr/bin{os.pathsep}/bin"
    env["HOME"] = str(tmp)
    return env


def _sh(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, input=stdin, text=True, capture_output=True, timeout=300)


def _newest(repo: Path, step: str) -> str:
    """The output of the newest run of a step (each set of arguments is a step of its own)."""
    return max((repo / "results/steps").glob(f"{step}-*/{step}.txt"), key=lambda p: p.stat().st_mtime_ns).read_text()


def _skill_block(skill: Path, arguments: str) -> str:
    """A SKILL.md's ```! block, ``$ARGUMENTS`` replaced by the typed text as Claude Code does (verbatim)."""
    text = skill.read_text()
    [block] = re.findall(r"^```!\n(.*?)^```$", text, re.M | re.S)
    return block.replace("$ARGUMENTS", arguments)


def test_the_wheel_in_a_users_repository(wheel_venv: tuple[Path, float], tmp_path: Path) -> None:
    """Slow (about a minute with its fixture): the wheel is built and installed into a fresh virtualenv,
    then init, run, the entry points and the MCP server are used as a user would, each a new process."""
    bin_dir, install_s = wheel_venv
    exe = str(bin_dir / "slashmake")
    repo = tmp_path / "their-repo"
    repo.mkdir()
    _user_repo(repo)
    env = _env(tmp_path)
    assert _sh([exe, "--version"], repo, env).stdout.startswith("slashmake, version ")

    t0 = time.monotonic()
    init = _sh([exe, "init", "--no-agents"], repo, env)
    assert init.returncode == 0, init.stderr
    assert 'changed Snakefile (added `include: "rules/slashmake.smk"`)' in init.stdout
    assert "changed .gitignore (added results/ logs/ .snakemake/ .slashmake/)" in init.stdout
    assert "created config/config.yaml" in init.stdout and "next: `slashmake lint`" in init.stdout
    assert (repo / "Snakefile").read_text().startswith('rule hello:\n')  # theirs, kept, one line added
    for name, inputs in (("fetch", []), ("clean", ["out"]), ("report", ["out"])):
        (repo / f"workflow/commands/{name}.md").write_text(_step(name, inputs))
    first = _sh([exe, "run", "/fetch → /clean → /report"], repo, env)
    first_run_s = time.monotonic() - t0
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    [report] = (repo / "results/steps").glob("report-*/report.txt")
    assert report.read_text().split() == ["fetch", "clean", "report"]
    print(f"\nwheel install {install_s:.1f} s + init and first three-step run {first_run_s:.1f} s "
          f"= {install_s + first_run_s:.1f} s")
    assert install_s + first_run_s < 240  # the figure is in the note; this only catches a hang

    lint = _sh([exe, "lint"], repo, env)
    assert lint.returncode == 0, lint.stderr
    assert lint.stdout.splitlines()[-1].startswith("ok: ")
    listed = _sh([exe, "list"], repo, env).stdout
    for name in ("/explain-churn", "/review", "/ship", "/fetch", "reviewer", "helper"):
        assert name in listed, name

    inst = _sh([exe, "agents", "install"], repo, env)
    assert inst.returncode == 0, inst.stderr
    assert ".claude/skills/ship/SKILL.md not written: Claude Code would run it instead of your " \
           ".claude/commands/ship.md" in inst.stderr
    assert re.search(r"^skipped /explain-churn: already a command of the agents themselves", inst.stdout, re.M)
    assert ".factory/commands/deploy exists and was not written by slashmake: skipped" not in inst.stderr
    assert "wrote .factory/commands/fetch" in inst.stdout and not (repo / ".claude/skills/ship").exists()
    servers = json.loads((repo / ".mcp.json").read_text())["mcpServers"]
    assert servers["github"] == {"command": "github-mcp", "args": ["stdio"]}
    assert servers["slashmake"] == {"command": exe, "args": ["mcp"]}  # the slashmake that exists, by path
    assert _sh([exe, "agents", "install", "--check"], repo, env).returncode == 0

    # Droid runs an executable command with the typed words as argv.
    droid = _sh([str(repo / ".factory/commands/fetch"), "it's", '"a b; id"', "`id`", "'$(id)'"], repo, env)
    assert droid.returncode == 0, droid.stdout + droid.stderr
    assert _newest(repo, "fetch").splitlines() == ["fetch", "it's", "a b; id", "`id`", "$(id)"]

    # Claude Code pastes the typed text into the skill's block and runs it with bash.
    skill = repo / ".claude/skills/fetch/SKILL.md"
    said = _sh(["bash", "-c", _skill_block(skill, "customer's segment")], repo, env)
    assert said.returncode == 0, said.stdout
    assert _newest(repo, "fetch").splitlines() == ["fetch", "customer's", "segment"]
    dollar = _sh(["bash", "-c", _skill_block(skill, '"double" $dollar')], repo, env)
    # the text reached slashmake as typed: its own error, on that very line (bash expanded nothing)
    assert dollar.returncode == 1 and '/fetch "double" $dollar' in dollar.stdout, dollar.stdout
    assert "unbound" not in dollar.stdout and "EOF" not in dollar.stdout

    _mcp_session(repo, servers["slashmake"], env)
    left = _sh(["git", "status", "--porcelain", "--untracked-files=all"], repo, env).stdout.splitlines()
    assert not [p for p in left if re.search(r"(results|logs|\.snakemake|\.slashmake)/", p)], left


def _mcp_session(repo: Path, entry: dict[str, Any], env: dict[str, str]) -> None:
    """Start the server as an agent does from .mcp.json and use it through the SDK's client."""
    params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=repo, env=env)
    ledger = repo / "results/ledger.jsonl"  # what agent steps leave: times, session ids, metrics
    ledger.write_text("".join(json.dumps({"time": f"2026-01-01T00:00:{i:02d}+0000", "unix_time": 1.7e9 + i,
                                          "step": "review", "session_id": "x" * 36, "turns": 3, "score": i / 7})
                              + "\n" for i in range(30)))

    async def go() -> None:
        async with Client(params, read_timeout_seconds=300) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert {"list", "run", "results", "show"} <= set(tools)
            taught = tools["run"].description or ""
            assert "`/clean → /deploy`" in taught and "ml-pipeline-full" not in taught, taught  # their commands
            rows = await client.call_tool("results", {})
            data = rows.structured_content or {}
            assert data["total"] == 30 and len(data["rows"]) == 20
            assert data["rows"][-1] == {"time": "2026-01-01T00:00:29+0000", "step": "review", "turns": 3,
                                        "score": round(29 / 7, 6)}
            flows = await client.call_tool("list", {})
            assert not flows.is_error
            names = {c["name"] for c in (flows.structured_content or {})["commands"]}
            assert {"/fetch", "/clean", "/report", "/ship"} <= names
            ran = await client.call_tool("run", {"chain": "/fetch → /clean"})
            assert not ran.is_error, [c.text for c in ran.content if isinstance(c, TextContent)]
            assert "Building DAG" not in json.dumps(ran.structured_content)
            shown = await client.call_tool("show", {"step": "/fetch"})
            assert not shown.is_error and any(f.endswith("/fetch.txt") for f in (shown.structured_content or {})["files"])
            bad = await client.call_tool("run", {"chain": "/fetch → /nope"})
            assert bad.is_error
            first = "\n".join(c.text for c in bad.content if isinstance(c, TextContent)).splitlines()[0]
            assert "nope" in first, first

    anyio.run(go)


def test_init_refuses_rather_than_half_do_it(wheel_venv: tuple[Path, float], tmp_path: Path) -> None:
    """A workflow in workflow/Snakefile: init writes nothing and prints the line to add; lint fails."""
    exe = str(wheel_venv[0] / "slashmake")
    repo = tmp_path / "r"
    (repo / "workflow").mkdir(parents=True)
    (repo / "workflow/Snakefile").write_text('rule a:\n    output: "a"\n    shell: "touch {output}"\n')
    env = _env(tmp_path)
    r = _sh([exe, "init", "--no-agents"], repo, env)
    assert r.returncode == 1 and 'include: "../rules/slashmake.smk"' in r.stderr and "nothing was written" in r.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["workflow"]
    lint = _sh([exe, "lint"], repo, env)
    assert lint.returncode == 1 and "workflow/Snakefile:1:1: workflow/Snakefile does not include slashmake's rules" in lint.stderr


def test_packaged_copies_match_the_repository() -> None:
    """The skeleton and the moola example in the wheel are this repository's own files."""
    r = subprocess.run([sys.executable, "scripts/sync_package_data.py", "--check"], cwd=REPO, text=True,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [p for p in (REPO / "src/slashmake/skeleton").rglob("*") if p.is_symlink()]


def test_init_example_moola_lays_the_demo_out(wheel_venv: tuple[Path, float], tmp_path: Path) -> None:
    exe = str(wheel_venv[0] / "slashmake")
    repo = tmp_path / "demo"
    env = _env(tmp_path)
    r = _sh([exe, "init", str(repo), "--example", "moola", "--no-agents"], tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert "the moola example" in r.stdout and "pip install 'slashmake[ml]'" in r.stdout
    shell = yaml.safe_load((repo / "workflow/commands/ml-train.md").read_text().split("---")[1])["slashmake"]["shell"]
    assert shell.startswith("python -m slashmake_ml.scripts.train ")
    explain = _sh([exe, "explain", "/ml-pipeline-full"], repo, env)
    assert explain.returncode == 0, explain.stderr
    assert explain.stdout.startswith("will run    /init ")
