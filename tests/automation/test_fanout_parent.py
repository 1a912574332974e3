"""The fan-out parent through the Python API (real AutomationGateway over HTTPS against the sandbox): a child
that fails is reported with its Error stream's last line; the account's concurrent-jobs limit is respected;
interrupting the parent stops no child; bad input is one line before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from azbackup_fix import SandboxCredential
from azbackup_fix.errors import InvalidInputError
from azbackup_fix.fanout import FanOut, FanOutOptions, child_arguments
from azbackup_fix.gateway.automation import AutomationAccountRef, AutomationGateway, python_parameters
from azbackup_sandbox import Sandbox
from azbackup_sandbox.scenarios.files import ESTATES_DIR
from tests.automation.automation_sandbox import RUNBOOK_SCRIPT, AutomationSandbox, automation_sandbox
from tests.fleet.fleet_sandbox import ALL_KINDS
from tests.gateway.sandbox_arm import BROKEN

# The shipped runbook, except that shard 2/3 crashes before it starts (a child that fails without a report).
CRASHES_ON_2 = RUNBOOK_SCRIPT.read_text(encoding="utf-8").replace(
    "from azbackup_fix.runbook import main\n",
    "from azbackup_fix.runbook import main\nif '2/3' in sys.argv:\n"
    "    print('ERROR: worker lost its disk', file=sys.stderr)\n    sys.exit(1)\n")


def _gateway(aa: AutomationSandbox) -> AutomationGateway:
    return AutomationGateway(SandboxCredential(), AutomationAccountRef.parse(aa.account_id),
                             base_url=aa.server.endpoint, connection_verify=aa.server.ca_file)


def _options(aa: AutomationSandbox, tmp_path: Path, **kw) -> FanOutOptions:  # noqa: ANN003
    args = child_arguments(mode="scan", subscriptions=aa.sandbox.subscription_ids, journal=str(tmp_path / "j.sqlite"),
                           arm_endpoint=aa.server.endpoint)
    return FanOutOptions(AutomationAccountRef.parse(aa.account_id), 3, args, poll_seconds=0.2, **kw)


@pytest.fixture
def aa():  # noqa: ANN201
    sb = Sandbox()
    sb.load("fleet", vms=30, subscriptions=1, vaults=1, mix=ALL_KINDS)
    with automation_sandbox(sb) as served:
        yield served


def test_a_failed_child_is_reported_with_its_last_error(aa: AutomationSandbox, tmp_path: Path) -> None:
    aa.publish(script=CRASHES_ON_2)
    aa.sandbox.config.automation_max_concurrent_jobs = 2  # the account is smaller than the fan-out
    lines: list[str] = []
    with _gateway(aa) as gw:
        report = FanOut(gw, on_event=lines.append).run(_options(aa, tmp_path, max_concurrent=3))
    by_shard = {c.shard: c for c in report.children}
    assert by_shard["2/3"].status == "Failed" and by_shard["2/3"].error == "ERROR: worker lost its disk"
    assert by_shard["1/3"].ok and by_shard["3/3"].ok
    assert report.exit_code == 1 and [c.shard for c in report.failed] == ["2/3"]
    # The other shards' VMs are all in the merged report; none of shard 2's.
    shards = {c.shard: {v["vm"].casefold() for v in c.report["fleet"]["vms"]} for c in report.children if c.ok}
    assert {v.vm.casefold() for v in report.fleet.vms} == shards["1/3"] | shards["3/3"]
    # Never more than two at once: the third was refused (409) and submitted again once one had finished.
    assert len(aa.sandbox.automation.jobs) == 3
    assert any(r.operation == "Job_Create" and r.status == 409 for r in aa.sandbox.requests())


def test_interrupting_the_parent_stops_no_child(aa: AutomationSandbox, tmp_path: Path) -> None:
    aa.publish()

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with _gateway(aa) as gw:
        report = FanOut(gw, sleep=interrupted).run(_options(aa, tmp_path))
    assert report.interrupted and len(report.children) == 3
    jobs = {j.name for j in aa.sandbox.automation.jobs.values()}
    assert {c.jobs[-1] for c in report.children} == jobs  # every job it started is accounted for
    assert all("left running" in (c.error or "") for c in report.children)
    assert not [r for r in aa.sandbox.requests() if r.operation == "Job_Stop"]
    for name in jobs:  # and they go on to finish their shards
        assert aa.wait_job(name).properties.status in ("Completed", "Failed")
        assert '"fleet"' in aa.client.job.get_output("rg-automation", "aa-azbackup", name)


def test_bad_fanout_input_is_one_line_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="automationAccounts/NAME"):
        AutomationAccountRef.parse("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v")
    with pytest.raises(InvalidInputError, match="--journal"):
        child_arguments(mode="scan", subscriptions=["s"], journal=None)
    with pytest.raises(InvalidInputError, match="whitespace"):
        python_parameters(["--journal", "/my state/j.sqlite"])
    account = AutomationAccountRef("s", "g", "a")
    with pytest.raises(InvalidInputError, match="--fan-out must be"):
        FanOutOptions(account, 0, ())
    with pytest.raises(InvalidInputError, match="--shard does not go"):
        FanOutOptions(account, 2, ("--shard", "1/2"))


def test_the_parent_needs_the_roles_automation_actions(tmp_path: Path) -> None:
    from azbackup_fix.errors import PermissionDeniedError
    from azbackup_fix.preflight import FANOUT_ACTIONS, role_definition
    from azbackup_sandbox.core.rbac import DEFAULT_PRINCIPAL

    assert set(FANOUT_ACTIONS) <= set(role_definition()["Actions"])
    sb = Sandbox(scenario="healthy")
    with automation_sandbox(sb) as aa:
        aa.publish()
        sb.rbac.enforce = True
        sb.rbac.assign(DEFAULT_PRINCIPAL, actions=tuple(a for a in role_definition()["Actions"]
                                                        if not a.endswith("/jobs/write")))
        with _gateway(aa) as gw, pytest.raises(PermissionDeniedError, match="jobs/write"):
            FanOut(gw).run(_options(aa, tmp_path))
        assert not sb.automation.jobs


def test_child_arguments_carry_every_rail() -> None:
    from azbackup_fix.models import GUARD_RAILS

    args = child_arguments(mode="scan-apply", subscriptions=["s1", "s2"], journal="/j.sqlite",
                           rails={r.name: True for r in GUARD_RAILS}, no_wait=True, workers=8)
    assert args[:6] == ("--mode", "scan-apply", "--subscription", "s1", "--subscription", "s2")
    assert all(r.flag in args for r in GUARD_RAILS) and "--no-wait" in args and args[-2:] == ("--workers", "8")


def test_fanout_by_subscription_gives_each_child_whole_subscriptions(tmp_path: Path) -> None:
    sb = Sandbox()
    sb.load("fleet", vms=40, subscriptions=2, vaults=1, mix=ALL_KINDS)
    with automation_sandbox(sb) as aa:
        aa.publish()
        account = AutomationAccountRef.parse(aa.account_id)

        def run(children: int, split: str, journal: str) -> object:
            args = child_arguments(mode="scan", subscriptions=sb.subscription_ids, journal=str(tmp_path / journal),
                                   arm_endpoint=aa.server.endpoint)
            with _gateway(aa) as gw:
                return FanOut(gw).run(FanOutOptions(account, children, args, poll_seconds=0.2, split=split))

        by_sub = run(2, "subscription", "a.sqlite")
        one = run(1, "shard", "b.sqlite")
        with pytest.raises(InvalidInputError, match="at least 3 subscriptions"):
            run(3, "subscription", "c.sqlite")
        jobs = list(sb.automation.jobs.values())
    assert all(c.ok for c in by_sub.children)
    assert by_sub.fleet.vms_seen == one.fleet.vms_seen == 40 and by_sub.fleet.candidates == one.fleet.candidates
    assert [v.to_dict() | {"requests": 0} for v in by_sub.fleet.vms] == \
        [v.to_dict() | {"requests": 0} for v in one.fleet.vms]
    firsts = [j.parameters for j in jobs[:2]]
    for params in firsts:  # one whole subscription each, no shard, no share
        values = list(params.values())
        assert values.count("--subscription") == 1 and "--shard" not in values and "--arm-share" not in values
    assert sorted(v for p in firsts for i, v in enumerate(list(p.values())[1:]) if list(p.values())[i] ==
                  "--subscription") == sorted(sb.subscription_ids)


def test_children_with_identities_of_their_own_have_buckets_of_their_own(aa: AutomationSandbox,
                                                                         tmp_path: Path) -> None:
    aa.publish()
    with _gateway(aa) as gw:
        report = FanOut(gw).run(_options(aa, tmp_path, identities=("child-a", "child-b")))
    assert all(c.ok for c in report.children)
    params = [list(j.parameters.values()) for j in aa.sandbox.automation.jobs.values()]
    ids = [p[p.index("--client-id") + 1] for p in params]
    assert ids == ["child-a", "child-b", "child-a"]
    shares = [p[p.index("--arm-share") + 1] if "--arm-share" in p else "1" for p in params]
    assert shares == ["2", "1", "2"]  # child-a's two children split its buckets; child-b has them alone
    principals = {r.principal for r in aa.sandbox.requests() if "/providers/Microsoft.Compute/" in r.path}
    assert principals == {"child-a", "child-b"}


def guest_firewall_sandbox() -> Sandbox:
    """guest-complus-stopped, whose guest firewall also drops the storage endpoint on 443 (the VM names no
    boot-diagnostics account: only a given endpoint is tested, else StorageReachabilityNotChecked)."""
    document = yaml.safe_load((ESTATES_DIR / "guest-complus-stopped.yaml").read_text(encoding="utf-8"))
    vm = next(v for v in document["subscriptions"][0]["vms"] if v["name"] == BROKEN)
    vm["guest"].setdefault("firewall", {})["blocked"] = ["contosodata.blob.core.windows.net:443"]
    return Sandbox(estate=document)


def test_children_probe_the_guest_with_the_parents_settings(tmp_path: Path) -> None:
    # A fan-out's children check their VMs as the parent would: --probe-guest, the storage endpoint to test
    # on 443 and the Backup service's object id reach each child job (they were dropped before).
    sb = guest_firewall_sandbox()
    object_id = "9f1a2b3c-4d5e-4f60-8a7b-0c1d2e3f4a5b"
    with automation_sandbox(sb) as aa:
        aa.publish()
        args = child_arguments(mode="scan", subscriptions=sb.subscription_ids, journal=str(tmp_path / "j.sqlite"),
                               arm_endpoint=aa.server.endpoint, probe_guest=True,
                               guest_storage_endpoint="contosodata.blob.core.windows.net:443",
                               backup_service_object_id=object_id)
        with _gateway(aa) as gw:
            report = FanOut(gw).run(FanOutOptions(AutomationAccountRef.parse(aa.account_id), 1, args,
                                                  poll_seconds=0.2))
    assert all(c.ok for c in report.children)
    [params] = [list(j.parameters.values()) for j in sb.automation.jobs.values()]
    assert "--probe-guest" in params and params[params.index("--backup-service-object-id") + 1] == object_id
    [vm] = [v for v in report.fleet.vms if v.error_code == "ExtensionSnapshotFailedCOM"]
    # Probed, on the endpoint given (without one: StorageReachabilityNotChecked, never "unreachable").
    assert "StorageUnreachableFromGuest" in vm.findings, vm.findings
    assert any(r.operation == "VirtualMachineRunCommands_CreateOrUpdate" for r in sb.requests())


@pytest.mark.parametrize(("extra", "message"), [
    (("--guest-storage-endpoint", "not a host"), "HOST[:PORT]"),
    (("--backup-service-object-id", "not-a-guid"), "--backup-service-object-id must be a GUID"),
])
def test_the_runbook_refuses_bad_child_settings_before_any_job(tmp_path: Path, extra: tuple[str, ...],
                                                                message: str) -> None:
    import io
    import json

    from azbackup_fix.runbook import main

    out, err = io.StringIO(), io.StringIO()
    code = main(["--mode", "scan-fanout", "--fan-out", "2", "--subscription", "s1", "--journal",
                 str(tmp_path / "j.sqlite"), "--automation-account",
                 "/subscriptions/s/resourceGroups/g/providers/Microsoft.Automation/automationAccounts/a", *extra],
                stdout=out, stderr=err)
    assert code == 2 and message in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
    assert json.loads(out.getvalue())["exit_code"] == 2
