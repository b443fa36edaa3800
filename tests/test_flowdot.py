"""`slashmake graph` (src/slashmake/compiler/dot.py): the flow as written, each step in its state."""

from __future__ import annotations

import re

from conftest import ToyProject


def edge(dot: str, src_label: str, dst_label: str) -> str:
    """The attributes of the edge between the nodes with these labels ('' when there is none)."""
    ids = {label: nid for nid, label in re.findall(r'^  (s\d+) \[.*?label="((?:[^"\\]|\\.)*)"', dot, re.M)}
    m = re.search(rf"^  {ids[src_label]} -> {ids[dst_label]}(?: \[(.*)\])?;$", dot, re.M)
    return "" if m is None else (m.group(1) or "plain")


def test_graph_draws_labels_gates_and_both_branches_before_a_run(toy: ToyProject) -> None:
    toy.command("a", params={"sigma": 0.1}, metrics={"acc": "0.9"})
    toy.command("b")
    toy.command("c")
    toy.slashmake("graph", "/a sigma-0.12 → /if:acc>0.5 → /b → /else → /c", "-o", "g.dot")
    dot = (toy.root / "g.dot").read_text()
    assert 'label="/a\\nsigma=0.12\\n(will run)"' in dot
    assert re.search(r'shape=diamond, style=filled, label="acc > 0.5"', dot)
    assert 'label="then"' in edge(dot, "acc > 0.5", "/b\\n(waiting)")
    assert 'label="else"' in edge(dot, "acc > 0.5", "/c\\n(waiting)")
    assert toy.ran() == []  # drawing runs nothing


def test_graph_marks_the_branch_taken_and_each_steps_state(toy: ToyProject) -> None:
    toy.command("a", metrics={"acc": "0.9"})
    toy.command("b")
    toy.command("c")
    chain = "/a → /if:acc>0.5 → /b → /else → /c"
    toy.slashmake("run", chain)
    toy.slashmake("graph", chain, "-o", "g.dot")
    dot = (toy.root / "g.dot").read_text()
    taken = edge(dot, "acc > 0.5", "/b\\n(done)")
    other = edge(dot, "acc > 0.5", "/c\\n(not taken)")  # decided: not "waiting" any more
    assert "penwidth=2.5" in taken and 'label="then"' in taken
    assert "#bbbbbb" in other and "penwidth" not in other
    assert 'label="/a\\n(done)"' in dot
    toy.slashmake("graph", chain, "-o", "g.svg")
    assert "<svg" in (toy.root / "g.svg").read_text()


def test_a_failed_step_is_drawn_failed(toy: ToyProject) -> None:
    toy.command("boom", shell="python toy_step.py boom --out {output.report} --fail-if toy_step.py")
    assert toy.slashmake("run", "/boom", check=False).returncode != 0
    toy.slashmake("graph", "/boom", "-o", "g.dot")
    dot = (toy.root / "g.dot").read_text()
    assert 'label="/boom\\n(failed)"' in dot and "#f8c4c4" in dot


def test_rulegraph_is_snakemakes_own(toy: ToyProject) -> None:
    toy.command("a")
    toy.command("b")
    toy.slashmake("graph", "/a → /b", "--rulegraph", "-o", "r.dot")
    dot = (toy.root / "r.dot").read_text()
    assert re.search(r'label = "a"', dot) and re.search(r'label = "b"', dot)
