"""The compiler (src/slashmake/compiler/rules.py, names.py, smk.py): rules as a Snakemake user writes them.

Rule names come from the step's label and stay put when flows are added or commands edited;
inputs name the producing rule's output; every rule has a software environment; the text is what
snakefmt writes. The tests drive the real CLI (`slashmake compile`) and the real `snakemake`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ToyProject

from slashmake.compiler.smk import Bracketed, Prefixed, call, directive_lines, layout, literal, py

_RULE = re.compile(r"^(?:rule|checkpoint) (\w+):\n((?:    .*\n?|        .*\n?)*)", re.M)


def rules_of(text: str) -> dict[str, str]:
    """Rule name -> its body, for a compiled file."""
    return {m.group(1): m.group(2) for m in _RULE.finditer(text)}


def step_names(text: str) -> list[str]:
    """Every step's rule name in a compiled file: defined there, or shared with a file read before it."""
    return [a or b for a, b in re.findall(r"^(?:(?:rule|checkpoint) (\w+):|# (\w+): the same step as in)", text, re.M)]


def train_project(toy: ToyProject) -> None:
    shutil.copy(Path(__file__).resolve().parent.parent / "environment.yml", toy.root / "environment.yml")
    toy.command("prepare", output={"data": "data.json"})
    toy.command("train", params={"epochs": 3}, inputs=["data"], output={"model": "model.json"},
                metrics={"acc": "0.9"})
    toy.command("check", metrics={"ok": "1"})
    toy.command("zz-first", flow="/prepare → /train epochs=5 → /check → /if:acc>0.5 → /check")


def test_rules_are_named_after_labels(toy: ToyProject) -> None:
    train_project(toy)
    toy.slashmake("compile")
    text = (toy.root / "rules/compiled/zz-first.smk").read_text()
    assert list(rules_of(text)) == ["prepare", "train", "check", "gate_acc", "check_2", "join_acc", "zz_first"]
    table = json.loads((toy.root / "rules/compiled/rule-names.json").read_text())
    assert table["train"].startswith("train-") and table["check_2"] != table["check"]


def test_adding_a_flow_leaves_existing_rule_names_alone(toy: ToyProject) -> None:
    train_project(toy)
    toy.slashmake("compile")
    first = (toy.root / "rules/compiled/zz-first.smk").read_text()
    # A second flow, compiled before the first (file order), runs /train with other parameters.
    toy.command("aa-second", flow="/prepare → /train epochs=9")
    toy.slashmake("compile")
    again = (toy.root / "rules/compiled/zz-first.smk").read_text()
    assert step_names(again) == step_names(first) == ["prepare", "train", "check", "gate_acc", "check_2", "join_acc",
                                                      "zz_first"]
    second = rules_of((toy.root / "rules/compiled/aa-second.smk").read_text())
    assert list(second) == ["prepare", "train_2", "aa_second"]
    # the shared /prepare is one rule, defined once: in the file Snakemake reads first
    assert "rule prepare:" not in again and "prepare: the same step as in rules/compiled/aa-second.smk" in again
    dry = toy.snakemake("-n", "-c1", "zz_first", "--forcerun", "train", "--set-resources", "train:mem_mb=1000")
    assert re.search(r"rule train:", dry.stdout) and "train_2" not in dry.stdout


def test_editing_a_command_keeps_its_rule_name(toy: ToyProject) -> None:
    train_project(toy)
    toy.slashmake("compile")
    table = json.loads((toy.root / "rules/compiled/rule-names.json").read_text())
    toy.command("train", params={"epochs": 4}, inputs=["data"], output={"model": "model.json"},
                metrics={"acc": "0.9"})
    toy.slashmake("compile")
    after = json.loads((toy.root / "rules/compiled/rule-names.json").read_text())
    assert set(after) == set(table) and after["train"] != table["train"]  # a new step, the same name
    assert "rule train:" in (toy.root / "rules/compiled/zz-first.smk").read_text()


def test_inputs_name_the_producing_rule_and_ordering_only_inputs_say_so(toy: ToyProject) -> None:
    train_project(toy)
    toy.slashmake("compile")
    rules = rules_of((toy.root / "rules/compiled/zz-first.smk").read_text())
    assert "data=rules.prepare.output.data," in rules["train"]
    assert "after=" not in rules["train"]  # it reads /prepare's data: no ordering input
    assert "# ordering only: runs after /train, reads none of its files\n        after=rules.train.output.metrics," \
        in rules["check"]
    assert "metrics=rules.check.output.metrics," not in rules["gate_acc"]
    assert "metrics=rules.train.output.metrics," in rules["gate_acc"]


def test_every_rule_has_the_projects_environment_and_no_global_in_its_shell(toy: ToyProject) -> None:
    train_project(toy)
    toy.slashmake("compile")
    for name, body in rules_of((toy.root / "rules/compiled/zz-first.smk").read_text()).items():
        assert 'conda:\n        "../../environment.yml"' in body, name
        assert "PYTHON" not in body, name
    (toy.root / "environment.yml").unlink()  # a project without one: no environment to point at
    toy.slashmake("compile")
    assert "conda:" not in (toy.root / "rules/compiled/zz-first.smk").read_text()


def test_compiled_rules_pass_snakemake_lint(toy: ToyProject) -> None:
    train_project(toy)
    toy.slashmake("compile")
    out = toy.snakemake("--lint", "text", "zz_first", check=False)
    rule_lints = re.findall(r"^Lints for rule (\w+)", out.stdout + out.stderr, re.M)
    assert rule_lints == [], out.stdout[-3000:]


def test_compiled_files_are_snakefmt_clean(toy: ToyProject) -> None:
    train_project(toy)
    toy.command("sweep", params={"sigma": 0.1}, metrics={"acc": "0.5"})
    toy.command("many", flow="/prepare → /sweep parallel[sigma-0.10 | sigma-0.12 | sigma-0.15] → /check")
    toy.slashmake("compile")
    snakefmt = str(Path(sys.executable).parent / "snakefmt")
    proc = subprocess.run([snakefmt, "--check", "rules/compiled"], cwd=toy.root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- the layout rules black applies, which the compiled text follows --------------------------------
def test_layout_keeps_a_line_that_fits() -> None:
    assert layout(call("f", "a", "b"), 4) == ["    f(a, b)"]


def test_layout_splits_a_call_at_its_bracket_one_argument_a_line() -> None:
    e = call("expand", "rules.train.output.metrics", Prefixed("variant=", literal(["a" * 25, "b" * 25])))
    assert layout(e, 8, "m=", ",") == [
        "        m=expand(",
        "            rules.train.output.metrics,",
        '            variant=["' + "a" * 25 + '", "' + "b" * 25 + '"],',
        "        ),",
    ]


def test_layout_puts_a_split_literal_one_item_a_line() -> None:
    d = Bracketed("{", (Prefixed('"then": ', "x" * 50), Prefixed('"else": ', "y" * 50)), "}")
    assert layout(d, 0) == ["{", '    "then": ' + "x" * 50 + ",", '    "else": ' + "y" * 50 + ",", "}"]


def test_directive_entries_fit_to_column_88_and_split_lines_to_87() -> None:
    fits = call("f", "a" * 72)  # 8 + "k=" + f(...) = 84 columns
    assert directive_lines(fits, "k=") == ["        k=f(" + "a" * 72 + "),"]
    assert len(directive_lines(call("f", "a" * 75), "k=")) == 1  # column 88 exactly, without its comma
    assert len(directive_lines(call("f", "a" * 76), "k=")) == 3


def test_strings_take_the_quotes_black_prefers() -> None:
    assert py('say "hi"') == "'say \"hi\"'"
    assert py("it's") == '"it\'s"'
    assert py(["a", 1]) == '["a", 1]'
