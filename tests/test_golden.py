"""Golden files: each seed chain of the language reference (docs/language.md) compiled against a toy definitions folder.

tests/golden/project/ defines every command and droid the chains use; tests/golden/NN-slug.smk is
what each chain compiles to. `UPDATE_GOLDEN=1 pytest tests/test_golden.py` rewrites them (then
read the diff). The `# sources-hash:` header line is left out of the comparison: it hashes
slashmake's own code, so it changes on every code change while the rules do not.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flow_seeds import SEED_CHAINS

from slashmake.compiler.project import Project
from slashmake.definitions import slug

GOLDEN = Path(__file__).resolve().parent / "golden"
PROJECT = GOLDEN / "project"

_SLUG_WORDS = re.compile(r"[a-z][a-z0-9-]*")


def golden_name(n: int, chain: str) -> str:
    words = _SLUG_WORDS.findall(chain.lower())
    return f"{n:02d}-{slug('-'.join(words[:3]))[:40].strip('-')}.smk"


# The original brief's sweep written through a one-line alias (/pretrain is `flow: /runpod-experiment`).
ALIAS_SWEEP = "parallel[/pretrain:sigma-0.10 | /pretrain:sigma-0.12 | /pretrain:sigma-0.15] → /results:aggregate"
CASES = [(golden_name(i, c), c) for i, c in enumerate([*SEED_CHAINS, ALIAS_SWEEP], 1)]


def compiled(chain: str, name: str) -> str:
    """The chain's compiled text, from a fresh Project (nothing cached between calls)."""
    project = Project.open(PROJECT)
    return project.compile_flow(chain, "seed-" + name[:2], {})[0]


def comparable(text: str) -> str:
    return re.sub(r"^# sources-hash: \w+\n", "", text, flags=re.M)


@pytest.mark.parametrize(("name", "chain"), CASES, ids=[n for n, _ in CASES])
def test_seed_chain_compiles_to_its_golden_file(name: str, chain: str) -> None:
    text = compiled(chain, name)
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert comparable(text) == comparable(path.read_text())


# Compile every case in a fresh interpreter: what varies between runs of Python (string hashing, so
# the order of sets of names) must not reach the compiled text.
_COMPILE_ALL = """
import json, sys
from pathlib import Path
from slashmake.compiler.project import Project
cases = json.load(sys.stdin)
json.dump({name: Project.open(Path(sys.argv[1])).compile_flow(chain, "seed-" + name[:2], {})[0]
           for name, chain in cases}, sys.stdout)
"""
HASH_SEEDS = ("1", "2")


@pytest.fixture(scope="module")
def compiled_per_hash_seed() -> dict[str, dict[str, str]]:
    """Each hash seed -> {golden name: compiled text}, each seed compiled in its own process."""
    out = {}
    for seed in HASH_SEEDS:
        proc = subprocess.run([sys.executable, "-c", _COMPILE_ALL, str(PROJECT)], input=json.dumps(CASES),
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[seed] = json.loads(proc.stdout)
    return out


@pytest.mark.parametrize(("name", "chain"), CASES, ids=[n for n, _ in CASES])
def test_compiling_under_two_hash_seeds_gives_identical_text(
    name: str, chain: str, compiled_per_hash_seed: dict[str, dict[str, str]]
) -> None:
    texts = [compiled_per_hash_seed[seed][name] for seed in HASH_SEEDS]
    assert texts[0] == texts[1], f"{name} differs between PYTHONHASHSEED={HASH_SEEDS[0]} and {HASH_SEEDS[1]}"
    assert texts[0] == compiled(chain, name)  # and this process (its own hash seed) agrees


# snakefmt's order of a rule's directives (snakefmt --check fails on any other)
KEY_ORDER = ["input", "output", "log", "group", "localrule", "conda", "threads", "resources", "params", "shell"]
_RULE = re.compile(r"^(rule|checkpoint) (\w+):\n((?:    .*\n?)*)", re.M)


@pytest.mark.parametrize(("name", "chain"), CASES, ids=[n for n, _ in CASES])
def test_golden_rules_are_well_formed(name: str, chain: str) -> None:
    text = compiled(chain, name)
    rules = _RULE.findall(text)
    assert rules
    target = f"seed_{name[:2]}"
    for kind, rule, body in rules:
        keys = re.findall(r"^    (\w+):", body, re.M)
        assert keys == sorted(keys, key=KEY_ORDER.index), f"{rule}: keys out of order: {keys}"
        assert "shell" in keys, rule
        if rule != target:  # the target only writes the index
            assert "log" in keys, f"{rule} has no log"
        if re.search(r"output:\n(        .*\n)*?\s+(\w+=)?\"[^\"]*/\{variant\}/", body):
            assert kind == "rule" and "logs/steps/" in body and "{variant}.log" in body
        if "slashmake.runtime gate" in body:
            assert kind == "checkpoint", rule
        shell = re.search(r"^    shell:\n        (\".*\")$", body, re.M)
        assert shell, rule
        if "python -m slashmake." not in shell.group(1):  # a program's own argv (agent steps repeat --input)
            flags = re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", shell.group(1))
            assert len(flags) == len(set(flags)), f"{rule} passes an option twice: {shell.group(1)}"


def test_sweeps_are_one_rule_over_a_wildcard_consumed_by_expand() -> None:
    for n in (2, 11, len(CASES)):  # the last: the same sweep written through an alias
        name, chain = CASES[n - 1]
        text = compiled(chain, name)
        swept = [r for k, r, b in _RULE.findall(text)
                 if re.search(r"output:\n(        .*\n)*?\s+(\w+=)?\"[^\"]*/\{variant\}/", b)]
        assert len(swept) == 1, text
        assert re.search(rf"expand\(\s*rules\.{swept[0]}\.output\.metrics,\s*variant=\[\"[^\]]+\],?\s*\)", text)
        assert "register_variants(" in text and "variant(" in text
