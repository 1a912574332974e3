"""Issue 18 item 5: apply prints the plan, then asks; "n" says nothing was changed (exit 0); every target is
resolved and planned before the first write (one typo among several --vm exits 2 before any change)."""

from __future__ import annotations

import io
import sys

import pytest

from azbackup_fix.cli.main import main
from azbackup_sandbox import SandboxServer
from tests.gateway.sandbox_arm import writes
from tests.operator_run.helpers import OTHER, VM


class Tty(io.StringIO):
    """A terminal: what the user types (stdin) or sees (stdout)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def endpoint(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", server.identity_header)
    server.sandbox.load("rp-limit-locked")
    server.sandbox.clear_requests()
    return server.endpoint


def _apply(monkeypatch: pytest.MonkeyPatch, answer: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", Tty(answer))
    out, err = Tty(), io.StringIO()
    code = main(["apply", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_apply_shows_the_plan_then_asks_and_no_changes_nothing(
        server: SandboxServer, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = server.sandbox.snapshot()["resources"]
    code, out, err = _apply(monkeypatch, "n\n", "--arm-endpoint", endpoint, "--vm", VM)
    question = out.index("[y/N]")
    shown = out[:question]
    assert "dry-run:" in shown and "[planned]" in shown and "delete-lock" not in shown, out
    assert "restore point collection" in shown  # the exact changes, before the question
    assert "nothing was changed" in out[question:] and code == 0, (out, err)
    assert "refusing" not in err
    assert writes(server.sandbox.requests()) == [] and server.sandbox.snapshot()["resources"] == before


def test_apply_yes_on_the_prompt_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _apply(monkeypatch, "y\n", "--sandbox", "failed-vmsnapshot-windows", "--vm", VM)
    assert out.index("[planned]") < out.index("[y/N]") < out.index("[changed]")
    assert code == 0


def test_one_typo_among_several_vms_stops_before_any_change(server: SandboxServer, endpoint: str) -> None:
    typo = VM.replace("vm-app-01", "vm-app-99")
    out, err = io.StringIO(), io.StringIO()
    code = main(["apply", "--yes", "--no-wait", "--arm-endpoint", endpoint, "--vm", VM, "--vm", OTHER, "--vm", typo],
                stdout=out, stderr=err)
    assert code == 2 and "vm-app-99" in err.getvalue(), (out.getvalue(), err.getvalue())
    assert "nothing was changed" in err.getvalue()
    assert writes(server.sandbox.requests()) == []
