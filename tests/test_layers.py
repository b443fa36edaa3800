"""The package's shape: stages layered as pyproject.toml's import-linter contracts say, small modules,
no private names imported across modules."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "slashmake"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the ``slashmake`` package found in ``tree/src``, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache", "--config", str(tree / "pyproject.toml")],
                          cwd=tree, env=env, text=True, capture_output=True, timeout=120)


@pytest.fixture
def copy_of_package(tmp_path: Path) -> Path:
    """The package and its contracts, copied so that a test can break them."""
    shutil.copytree(SRC, tmp_path / "src" / "slashmake", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers() -> None:
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_a_lower_stage_importing_a_higher_one_fails_the_check(copy_of_package: Path) -> None:
    lexer = copy_of_package / "src/slashmake/language/lexer.py"
    lexer.write_text(lexer.read_text() + "\nfrom slashmake.compiler import project  # noqa: E402,F401\n")
    proc = lint_imports(copy_of_package)
    assert proc.returncode == 1, proc.stdout
    assert "Stages are layered: a lower stage never imports a higher one BROKEN" in proc.stdout
    assert "slashmake.language.lexer -> slashmake.compiler.project" in proc.stdout


def test_the_mcp_server_importing_the_cli_fails_the_check(copy_of_package: Path) -> None:
    mcp = copy_of_package / "src/slashmake/interfaces/mcp.py"
    mcp.write_text(mcp.read_text() + "\nfrom slashmake.interfaces import cli  # noqa: E402,F401\n")
    proc = lint_imports(copy_of_package)
    assert proc.returncode == 1, proc.stdout
    assert "it never imports the CLI BROKEN" in proc.stdout


def test_an_import_circle_inside_a_stage_fails_the_check(copy_of_package: Path) -> None:
    nodes = copy_of_package / "src/slashmake/language/nodes.py"
    nodes.write_text(nodes.read_text() + "\nfrom slashmake.language import parser  # noqa: E402,F401\n")
    proc = lint_imports(copy_of_package)
    assert proc.returncode == 1, proc.stdout
    assert "No import circles between a stage's modules BROKEN" in proc.stdout


def _modules() -> list[Path]:
    return sorted(p for p in (ROOT / "src").rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT / "src").as_posix())
def test_every_module_is_at_most_400_lines(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 400, f"{path.relative_to(ROOT)} has {n} lines; split it by what it does"


def test_no_module_imports_a_private_name_from_another() -> None:
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names]
                module = node.module or ""
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private or any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {module} import {', '.join(names)}")
    assert not offenders, "\n".join(offenders)
