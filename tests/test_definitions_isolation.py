"""One bad definition file never disables the others (issue 11, item 2), through the real CLI.

A project with ten good commands and one, two or three corrupt ones: the good ones list, compile and
run (with one warning line per bad file); `lint` names every corrupt file at once with
``file:line:col`` and a caret and exits 1; only a chain that uses a bad file fails.
"""

from __future__ import annotations

import pytest
from conftest import ToyProject

CORRUPT: list[tuple[str, bytes, str, str]] = [
    # file, content, file:line:col, the caret line
    ("bad-range.md", b"---\ndescription: d\nslashmake:\n  threads: 0\n  shell: echo hi\n---\n",
     "workflow/commands/bad-range.md:4:12: 'slashmake.threads' must be at least 1, not 0", "               ^"),
    ("bad-bytes.md", b"---\ndescription: \xff\xfe oops\n---\nBody.\n",
     "workflow/commands/bad-bytes.md:2:14: workflow/commands/bad-bytes.md is not UTF-8 text (byte 0xff cannot be "
     "read)", "                 ^"),
    ("bad-yaml.md", b"---\ndescription: d\nslashmake:\n  output: {r: r.txt\n  shell: echo\n---\n",
     "workflow/commands/bad-yaml.md:5:8: invalid YAML: did not find expected ',' or '}'", "           ^"),
]


def _project(toy: ToyProject, n_bad: int) -> None:
    for i in range(10):
        toy.command(f"good{i}", inputs=["report"] if i else None, output={"report": f"report{i}.json"}
                    if i else None)
    toy.command("all-good", flow=" -> ".join(f"/good{i}" for i in range(3)))
    toy.command("uses-bad", flow="/good0 -> /bad-range")
    for name, content, _, _ in CORRUPT[:n_bad]:
        (toy.root / "workflow/commands" / name).write_bytes(content)


@pytest.mark.parametrize("n_bad", [1, 2, 3])
def test_good_commands_work_beside_corrupt_ones(toy: ToyProject, n_bad: int) -> None:
    _project(toy, n_bad)
    bad = CORRUPT[:n_bad]

    lint = toy.slashmake("lint", check=False)
    assert lint.returncode == 1 and "Traceback" not in lint.stderr
    err = lint.stderr.splitlines()
    for _, _, head, caret in bad:
        i = err.index(f"error: {head}")
        assert err[i + 2] == caret, (err[i : i + 3], caret)
    assert f"{n_bad} bad files" in lint.stdout

    listing = toy.slashmake("list")
    for i in range(10):
        assert f"/good{i}" in listing.stdout
    warnings = [w for w in listing.stderr.splitlines() if w.startswith("warning: ")]
    assert len(warnings) == n_bad
    for (name, _, _, _), w in zip(sorted(bad), sorted(warnings), strict=True):
        assert w.startswith(f"warning: workflow/commands/{name}:"), w

    toy.slashmake("compile")
    assert (toy.root / "rules/compiled/all-good.smk").exists()
    assert not (toy.root / "rules/compiled/uses-bad.smk").exists()

    if n_bad == 3:  # running is the slow part: once, with every kind of bad file present
        run = toy.slashmake("run", "/all-good")
        assert toy.ran() == ["good0", "good1", "good2"]
        assert len([w for w in run.stderr.splitlines() if w.startswith("warning: ")]) == n_bad
        explain = toy.slashmake("explain", "/all-good")
        assert "up to date" in explain.stdout
        assert len([w for w in explain.stderr.splitlines() if w.startswith("warning: ")]) == n_bad

    used = toy.slashmake("run", "/uses-bad", check=False)
    assert used.returncode == 1 and "Traceback" not in used.stderr
    assert f"Error: {CORRUPT[0][2]}" in used.stderr.splitlines()
    direct = toy.slashmake("run", "/bad-range", check=False)
    assert direct.returncode == 1 and f"Error: {CORRUPT[0][2]}" in direct.stderr.splitlines()
