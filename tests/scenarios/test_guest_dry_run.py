"""A dry run never probes a guest unasked: Run Command is a write to ARM (DESIGN: "Dry-run makes no write
request at all"). With every guard rail and no probe_guest/--probe-guest, a plan of each guest estate sends no
write request and fix-guest plans to probe when applied; with it, the only writes are the probe's Run Command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.models.rails import GUARD_RAILS
from azbackup_sandbox import Sandbox, SandboxServer, list_scenarios
from tests.cli.cli_runner import run as cli
from tests.gateway.sandbox_arm import Target, writes

GUEST_ESTATES = sorted(s.name for s in list_scenarios() if s.name.startswith("guest-"))
ALL_RAILS = {rail.name: True for rail in GUARD_RAILS}
def _reachable(scenario: str) -> bool:
    """Whether Run Command can reach the estate's guest, by Azure's rules read off the sandbox's own state:
    the VM runs, its agent is Ready and no extension has failed."""
    vm = next(v for v in Sandbox(scenario=scenario).compute.vms.values() if v.name == "vm-app-01")
    return (vm.power_state == "running" and vm.agent.ready
            and not any(e.provisioning_state.lower() == "failed" for e in vm.extensions.values()))


REACHABLE = {s for s in GUEST_ESTATES if _reachable(s)}
# Guests whose cause fix-guest fixes (the others are report-only or clean).
FIXABLE = {"guest-complus-stopped", "guest-defender-blocking", "guest-linux-agent-outdated", "guest-strong-crypto-missing",
           "guest-vss-writer-failed"}

def _non_run_command(records: list) -> list[str]:
    return [f"{r.method} {r.path}" for r in writes(records) if "RunCommand" not in r.operation]


def test_every_guest_estate_is_covered() -> None:
    assert len(GUEST_ESTATES) >= 8 and REACHABLE < set(GUEST_ESTATES)


@pytest.mark.parametrize("scenario", GUEST_ESTATES)
def test_plan_with_every_rail_sends_no_write_unless_asked_to_probe(scenario: str, tmp_path: Path) -> None:
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    before = json.dumps(sandbox.snapshot(), sort_keys=True)
    sandbox.clear_requests()
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        unasked = fix.plan(target.vm(), **ALL_RAILS)
        assert writes(sandbox.requests()) == [] and unasked.write_count == 0
        assert json.dumps(sandbox.snapshot(), sort_keys=True) == before
        guest = [s for p in unasked.playbooks if p.playbook == "fix-guest" for s in p.steps]
        if guest:  # routed: it says it will probe when applied, and plans no fix it cannot know yet
            assert guest[0].status.value == "planned" and "probe the guest" in guest[0].description
        sandbox.clear_requests()
        asked = fix.plan(target.vm(), probe_guest=True, **ALL_RAILS)
    log = sandbox.requests()
    assert _non_run_command(log) == []
    assert bool(writes(log)) == (scenario in REACHABLE and bool(guest)), [r.operation for r in writes(log)]
    assert all(s.status.value in ("planned", "skipped") for s in asked.steps)
    assert not (tmp_path / "j.sqlite").exists()


@pytest.mark.parametrize("scenario", sorted(FIXABLE))
def test_apply_after_an_unprobed_plan_probes_fixes_and_probes_again(scenario: str, tmp_path: Path) -> None:
    target = Target(Sandbox(scenario=scenario))
    with target.remediator(journal_path=str(tmp_path / "j.sqlite")) as fix:
        planned = fix.plan(target.vm(), **ALL_RAILS)
        assert [s.step for s in planned.steps] == ["fix-guest", "trigger-backup"], planned.to_dict()
        report = fix.run(target.vm(), apply=True, **ALL_RAILS)
    assert [s.status.value for s in report.steps] == ["changed", "changed"], report.to_dict()
    assert next(vm for vm in target.sandbox.compute.vms.values() if vm.name == "vm-app-01").guest.backup_failure() is None


# ---- the CLI, over the HTTPS sandbox ------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=1e3) as running:  # Run Command's ~30 s in a moment
        yield running


@pytest.mark.parametrize("scenario", GUEST_ESTATES)
def test_cli_plan_sends_run_command_only_with_probe_guest(server: SandboxServer, scenario: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AZBACKUP_JOURNAL": str(tmp_path / "journal.sqlite"), "REQUESTS_CA_BUNDLE": server.ca_file,
                       "IDENTITY_ENDPOINT": server.identity_endpoint,
                       "IDENTITY_HEADER": server.identity_header}.items():  # a managed identity, as Automation
        monkeypatch.setenv(key, value)
    server.sandbox.load(scenario)
    vm = next(v for v in server.sandbox.compute.vms.values() if v.name == "vm-app-01").id
    flags = [rail.flag for rail in GUARD_RAILS]
    server.sandbox.clear_requests()
    code, out, err = cli("plan", "--arm-endpoint", server.endpoint, "--vm", vm, *flags,
                         "--output", "json")
    assert code in (0, 4, 5), err
    assert writes(server.sandbox.requests()) == []
    server.sandbox.clear_requests()
    code, out, err = cli("plan", "--arm-endpoint", server.endpoint, "--vm", vm, *flags,
                         "--probe-guest", "--output", "json")
    assert code in (0, 4, 5), err
    assert _non_run_command(server.sandbox.requests()) == []
    steps = [s for p in json.loads(out)["playbooks"] for s in p["steps"]]
    assert all(s["status"] in ("planned", "skipped") for s in steps)


def test_apply_shows_its_plan_probing_only_with_probe_guest(server: SandboxServer, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from azbackup_fix.cli.main import main

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for key, value in {"AZBACKUP_JOURNAL": str(tmp_path / "journal.sqlite"), "REQUESTS_CA_BUNDLE": server.ca_file,
                       "IDENTITY_ENDPOINT": server.identity_endpoint,
                       "IDENTITY_HEADER": server.identity_header}.items():
        monkeypatch.setenv(key, value)
    server.sandbox.load("guest-defender-blocking")
    vm = next(v for v in server.sandbox.compute.vms.values() if v.name == "vm-app-01").id
    shown = {}
    for extra in ((), ("--probe-guest",)):
        server.sandbox.clear_requests()
        monkeypatch.setattr(sys, "stdin", Tty("n\n"))
        out, err = Tty(), io.StringIO()
        code = main(["apply", "--arm-endpoint", server.endpoint, "--vm", vm, "--allow-guest-changes", *extra],
                    stdout=out, stderr=err)
        assert code == 0 and "nothing was changed" in out.getvalue(), (out.getvalue(), err.getvalue())
        shown[extra] = (out.getvalue(), [r.operation for r in writes(server.sandbox.requests())])
    (plain, plain_writes), (probed, probed_writes) = shown[()], shown[("--probe-guest",)]
    assert plain_writes == [] and "probe the guest" in plain
    assert probed_writes and all("RunCommand" in op for op in probed_writes)
    assert "add Defender exclusion" in probed


def test_the_runbook_plan_probes_only_with_probe_guest(server: SandboxServer, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from azbackup_fix import runbook

    for key, value in {"AZBACKUP_JOURNAL": str(tmp_path / "journal.sqlite"), "REQUESTS_CA_BUNDLE": server.ca_file,
                       "IDENTITY_ENDPOINT": server.identity_endpoint,
                       "IDENTITY_HEADER": server.identity_header}.items():
        monkeypatch.setenv(key, value)
    server.sandbox.load("guest-strong-crypto-missing")
    vm = next(v for v in server.sandbox.compute.vms.values() if v.name == "vm-app-01")
    flags = [rail.flag for rail in GUARD_RAILS]
    seen = []
    for extra in ((), ("--probe-guest",)):
        server.sandbox.clear_requests()
        out = io.StringIO()
        code = runbook.main(["--mode", "plan", "--subscription", vm.id.split("/")[2], "--vm", vm.id,
                             "--arm-endpoint", server.endpoint, *flags, *extra], stdout=out, stderr=io.StringIO())
        (run,) = json.loads(out.getvalue().splitlines()[-1])["runs"]
        seen.append((code, run, [r.operation for r in writes(server.sandbox.requests())]))
    (_, plain, plain_writes), (_, probed, probed_writes) = seen
    assert plain_writes == [] and probed_writes and all("RunCommand" in op for op in probed_writes)
    steps = {p["playbook"]: [s["description"] for s in p["steps"]] for p in probed["playbooks"]}
    assert any("SchUseStrongCrypto" in d for d in steps["fix-guest"]), steps
    assert any("probe the guest" in s["description"] for p in plain["playbooks"] for s in p["steps"])
