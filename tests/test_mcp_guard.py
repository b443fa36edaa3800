"""slashmake's own guard on the MCP resources (``SlashmakeServer.safe`` and ``.read``), tested past the SDK.

The MCP SDK already refuses ``..`` components, absolute paths and NUL in a resource URI's
parameters, decoded or not, so a traversal test through a client never reaches slashmake's guard.
These tests reach it three ways: the guard's own functions with the decoded values the SDK would
hand on if its policy changed; URIs that the SDK lets through (``.``, a double-encoded ``..``); and
symlinks inside ``results/`` and ``logs/``, which no check on the URI's text can see. Each test
puts a canary file where a hole would lead and checks that its text never comes back.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ResourceError

from slashmake.interfaces.mcp import SlashmakeServer

CANARY = "canary: this file lies outside the served folders"
KEY = "train-0123abcd"


@pytest.fixture
def served(tmp_path: Path) -> tuple[SlashmakeServer, Path]:
    """A project with one step's files and a log, and a canary file outside the project."""
    root = tmp_path / "proj"
    (root / "results/steps" / KEY).mkdir(parents=True)
    (root / "results/steps" / KEY / "metrics.json").write_text('{"acc": 0.9}\n')
    (root / "logs/steps").mkdir(parents=True)
    (root / "logs/steps" / f"{KEY}.log").write_text("step log\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(CANARY)
    return SlashmakeServer(root), outside


def read(server: SlashmakeServer, uri: str) -> str:
    """Read a resource through the SDK's server-side resource manager, as a client's request is."""

    async def go() -> str:
        contents = await server.mcp.read_resource(uri)
        return "".join(str(c.content) for c in contents)

    return anyio.run(go)


def refused(server: SlashmakeServer, uri: str) -> str:
    """The error's text for a URI that must not be served (a served one fails the test)."""
    try:
        text = read(server, uri)
    except Exception as err:  # noqa: BLE001 - the SDK's own refusal or slashmake's ResourceError
        assert CANARY not in str(err)
        return str(err)
    raise AssertionError(f"{uri} was served: {text[:200]!r}")


def test_the_step_files_and_logs_are_served(served: tuple[SlashmakeServer, Path]) -> None:
    server, _ = served
    assert read(server, f"slashmake://steps/{KEY}/metrics.json") == '{"acc": 0.9}\n'
    assert read(server, f"slashmake://logs/{KEY}") == "step log\n"


@pytest.mark.parametrize("part", [
    "..", ".", "../secret.txt", "../../outside/secret.txt", "/etc/passwd", "/", "a/b", "a\\b", "..\\x",
    "", " ", "x\0", "~", "~root", "$HOME", "%2e%2e", "%2F", "*", "train 1", "metrics.json\n",
])
def test_safe_refuses_anything_but_one_plain_name(part: str) -> None:
    """The values the SDK would hand on, decoded, if its own policy let them through."""
    with pytest.raises(ResourceError, match="is not a step key or file name"):
        SlashmakeServer.safe(part)


@pytest.mark.parametrize("part", [KEY, "metrics.json", "model.pt", "sigma-0.10_seed-1", "...", ".hidden"])
def test_safe_passes_plain_names(part: str) -> None:
    assert SlashmakeServer.safe(part) == part


def test_dot_and_double_encoded_dots_pass_the_sdk_and_stop_at_the_guard(
    served: tuple[SlashmakeServer, Path],
) -> None:
    server, _ = served
    root = server.root
    # `.` as the step key would read results/steps/<name>, which is no step's file: put one there.
    (root / "results/steps/secret.txt").write_text(CANARY)
    assert "is not a step key or file name" in refused(server, "slashmake://steps/./secret.txt")
    # `%252e%252e` decodes once, to the text `%2e%2e`: the SDK sees no `..`; neither may slashmake.
    (root / "results/steps/%2e%2e").mkdir()
    (root / "results/steps/%2e%2e/secret.txt").write_text(CANARY)
    assert "is not a step key or file name" in refused(server, "slashmake://steps/%252e%252e/secret.txt")
    # A log named `..log` beside the step logs: the key `.` would reach it.
    (root / "logs/steps/..log").write_text(CANARY)
    assert "is not a step key or file name" in refused(server, "slashmake://logs/.")


@pytest.mark.parametrize("uri", [
    "slashmake://steps/%2e%2e/secret.txt", "slashmake://steps/%2E%2E/%2E%2E",
    f"slashmake://steps/{KEY}/..%2F..%2F..%2Foutside%2Fsecret.txt", f"slashmake://steps/{KEY}/%2Fetc%2Fpasswd",
    f"slashmake://steps/{KEY}/..%5C..%5Csecret.txt", "slashmake://logs/..%2F..%2Foutside%2Fsecret",
    "slashmake://logs/%2Fetc%2Fpasswd", f"slashmake://steps/{KEY}/metrics.json%00", "slashmake://steps//etc/passwd",
])
def test_encoded_traversal_and_absolute_paths_are_refused(uri: str, served: tuple[SlashmakeServer, Path]) -> None:
    server, outside = served
    (server.root / "results/steps/secret.txt").symlink_to(outside / "secret.txt")  # where `..` would lead
    refused(server, uri)


def test_a_symlink_inside_results_pointing_outside_is_not_followed(served: tuple[SlashmakeServer, Path]) -> None:
    server, outside = served
    step = server.root / "results/steps" / KEY
    (step / "link.txt").symlink_to(outside / "secret.txt")  # a file link, absolute target
    (step / "rel.txt").symlink_to(os.path.relpath(outside / "secret.txt", step))  # relative target
    (server.root / "results/steps/linked-0000aaaa").symlink_to(outside)  # a whole step folder
    (server.root / "logs/steps/linked-0000aaaa.log").symlink_to(outside / "secret.txt")
    for uri in (f"slashmake://steps/{KEY}/link.txt", f"slashmake://steps/{KEY}/rel.txt",
                "slashmake://steps/linked-0000aaaa/secret.txt", "slashmake://logs/linked-0000aaaa"):
        why = refused(server, uri)
        assert "no file" in why or "outside the project folder" in why, uri
    # A link that stays inside the project is an ordinary file of the project.
    (step / "inside.json").symlink_to(step / "metrics.json")
    assert read(server, f"slashmake://steps/{KEY}/inside.json") == '{"acc": 0.9}\n'


def test_a_project_reached_through_a_symlink_still_serves_its_files(tmp_path: Path) -> None:
    """The containment check compares resolved paths: a project opened through a link is not 'outside'."""
    real = tmp_path / "real"
    (real / "results/steps" / KEY).mkdir(parents=True)
    (real / "results/steps" / KEY / "metrics.json").write_text("{}\n")
    (tmp_path / "via-link").symlink_to(real)
    assert read(SlashmakeServer(tmp_path / "via-link"), f"slashmake://steps/{KEY}/metrics.json") == "{}\n"
