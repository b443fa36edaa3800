"""A project's layout: what ``slashmake init`` lays out in a repository, and whether it can run.

The files come from the package's own data (``slashmake/skeleton/``, real files in the wheel), so
``init`` works wherever slashmake is installed. In a repository that already has work in it,
``init`` never overwrites a file: it creates what is missing, adds slashmake's rules to an existing
Snakefile with one ``include:`` line, and adds the run folders to ``.gitignore``. Where it cannot
do that safely it refuses before writing anything and says what to add by hand.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from slashmake.errors import FlowError, Source, Span

# Where Snakemake looks for the workflow when none is named, in its order.
SNAKEFILES = ("Snakefile", "snakefile", "workflow/Snakefile", "workflow/snakefile")
INCLUDE_FILE = "rules/slashmake.smk"
INCLUDE_LINE = f'include: "{INCLUDE_FILE}"'
# What a run writes; a user's own `/commit` would otherwise sweep it up.
IGNORED = ("results/", "logs/", ".snakemake/", ".slashmake/")
FOLDERS = ("workflow/commands", "droids", "rules/compiled")
_INCLUDES_US = re.compile(r"""^\s*include:\s*["'](?:\./)?rules/(?:slashmake|common)\.smk["']""", re.M)


@dataclass
class InitReport:
    """What ``init`` did: files created, files changed (a line added), and what comes next."""

    root: Path
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


EXAMPLES = {"moola": "slashmake_ml"}  # example name -> the package whose example/ holds it


def package_files(package: str, folder: str) -> dict[str, bytes]:
    """The files under ``package/folder`` (relative path -> content), read from the installed package."""
    out: dict[str, bytes] = {}

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif child.is_file() and not child.name.endswith((".pyc", ".tmp")):
                out[rel] = child.read_bytes()

    walk(resources.files(package) / folder, "")
    return out


def skeleton_files() -> dict[str, bytes]:
    """The skeleton's files (relative path -> content), read from the installed package."""
    out = package_files("slashmake", "skeleton")
    if "Snakefile" not in out or "config/config.yaml" not in out:
        raise FlowError("this slashmake installation lacks its skeleton (slashmake/skeleton/): reinstall it")
    return out


def example_files(name: str) -> dict[str, bytes]:
    """An example project's commands and droids (``moola``: the ML demo, from ``slashmake_ml/example/``)."""
    if name not in EXAMPLES:
        raise FlowError(f"no example named {name!r}: there is {', '.join(sorted(EXAMPLES))}")
    out = package_files(EXAMPLES[name], "example")
    if not out:
        raise FlowError(f"this installation lacks the {name} example ({EXAMPLES[name]}/example/): reinstall it")
    return out


def find_snakefile(root: Path) -> Path | None:
    """The Snakefile Snakemake would read in ``root``, if any."""
    for rel in SNAKEFILES:
        if (root / rel).is_file():
            return root / rel
    return None


def includes_slashmake(text: str) -> bool:
    """Whether a Snakefile's text includes slashmake's rules (``rules/common.smk`` or ``rules/slashmake.smk``)."""
    return bool(_INCLUDES_US.search(text))


def init_project(root: Path, example: str | None = None) -> InitReport:
    """Lay slashmake's layout (and an example's files) out in ``root``; never overwrite a file.

    Refuses, before writing anything, rather than leave a half-done project.
    """
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    files = skeleton_files()
    extra = example_files(example) if example else {}
    existing = find_snakefile(root)
    add_include = False
    if existing is not None:
        rel = existing.relative_to(root).as_posix()
        text = existing.read_text(encoding="utf-8", errors="replace")
        if not includes_slashmake(text):
            if existing.parent != root:
                raise FlowError(f"{rel} is your workflow and slashmake cannot add its rules there (its include "
                                f"paths are relative to the project root): nothing was written. Move it to "
                                f"Snakefile, or add this line to it and run `slashmake init` again:\n"
                                f"    include: \"../{INCLUDE_FILE}\"")
            if not os.access(existing, os.W_OK):
                raise FlowError(f"{rel} is not writable: nothing was written. Add this line to it, then run "
                                f"`slashmake init` again:\n    {INCLUDE_LINE}")
            add_include = True
        files.pop("Snakefile")
    else:
        files.pop(INCLUDE_FILE, None)  # slashmake's own Snakefile is the workflow: no include needed
    for rel in [*files, *extra, ".gitignore", *FOLDERS, "profiles"]:
        _inside(root, rel)
    report = InitReport(root)
    for rel, data in sorted(files.items()):
        if _create(root / rel, data):
            report.created.append(rel)
    kept = [rel for rel, data in sorted(extra.items()) if not _create(root / rel, data)]
    if extra:
        report.created.append(f"the {example} example: {len(extra) - len(kept)} command and droid files")
        if kept:
            report.notes.append(f"kept your own {len(kept)} files where the example has one: {', '.join(kept[:5])}"
                                + (" ..." if len(kept) > 5 else ""))
        if importlib.util.find_spec("torch") is None:
            report.notes.append("its steps need the ML extra: pip install 'slashmake[ml]'")
    if add_include:
        assert existing is not None
        with existing.open("a", encoding="utf-8") as f:
            f.write(("" if text.endswith("\n") or not text else "\n")
                    + "\n# slashmake's rules: `slashmake run` and the compiled flows (added by `slashmake init`)\n"
                    + INCLUDE_LINE + "\n")
        rel = existing.relative_to(root).as_posix()
        report.changed.append(f"{rel} (added `{INCLUDE_LINE}`)")
        report.notes.append(f"your {rel} is kept: slashmake's rules come in through {INCLUDE_FILE}")
    for folder in FOLDERS:
        if not (root / folder).exists():
            (root / folder).mkdir(parents=True)
            report.created.append(folder + "/")
    link = root / "profiles"
    if not link.exists() and not link.is_symlink():
        os.symlink("config/profiles", link)  # Snakemake reads profiles/default as the default profile
        report.created.append("profiles -> config/profiles")
    added = ignore_run_files(root)
    if added:
        report.changed.append(f".gitignore (added {' '.join(added)})")
    return report


def ignore_run_files(root: Path) -> list[str]:
    """Add the run folders to ``.gitignore`` (idempotent); the patterns added."""
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    have = {line.strip().strip("/") for line in text.splitlines()}
    missing = [p for p in IGNORED if p.strip("/") not in have]
    if missing:
        with path.open("a", encoding="utf-8") as f:
            f.write(("" if text.endswith("\n") or not text else "\n")
                    + "# slashmake's run files (added by `slashmake init`)\n" + "".join(f"/{p}\n" for p in missing))
    return missing


def runnable_problems(root: Path) -> tuple[list[FlowError], list[str]]:
    """Why a project cannot run: errors (a Snakefile without slashmake's rules, a missing file it needs)
    and warnings (a folder of definitions that is no project yet: no Snakefile, no config)."""
    problems: list[FlowError] = []
    snakefile = find_snakefile(root)
    if snakefile is None:  # a folder of definitions, not a project yet: nothing half-done to fail on
        return [], [f"{root.name or root}: no Snakefile, so no chain can run here yet: run `slashmake init`"]
    else:
        text = snakefile.read_text(encoding="utf-8", errors="replace")
        if not includes_slashmake(text):
            rel = snakefile.relative_to(root).as_posix()
            problems.append(FlowError(f"{rel} does not include slashmake's rules, so no chain can run: add "
                                      f"`{INCLUDE_LINE}` (or run `slashmake init`)",
                                      Span(Source(rel, text), 0, max(1, len(text.split(chr(10), 1)[0])))))
        elif INCLUDE_FILE in text and not (root / INCLUDE_FILE).is_file():
            problems.append(FlowError(f"{INCLUDE_FILE} is missing: run `slashmake init` to restore it"))
        for rel in ("config/config.yaml", "rules/common.smk"):
            if not (root / rel).is_file() and (rel != "rules/common.smk" or "common.smk" in text
                                               or (root / INCLUDE_FILE).is_file()):
                problems.append(FlowError(f"{rel} is missing: run `slashmake init` to restore it"))
    return problems, []


def _inside(root: Path, rel: str) -> Path:
    """``root/rel`` after symlinks; a path that leads out of the project is refused."""
    full = (root / rel).resolve()
    if not full.is_relative_to(root):
        raise FlowError(f"{rel} leads outside the project (to {full}): nothing was written")
    return full


def _create(path: Path, data: bytes) -> bool:
    """Write a new file; an existing one (or a link where it would go) is kept."""
    if path.exists() or path.is_symlink():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("xb") as f:
            f.write(data)
    except FileExistsError:
        return False
    return True
