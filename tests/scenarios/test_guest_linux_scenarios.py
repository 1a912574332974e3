"""Issue 14's remaining Linux guest causes and the storage-443 check, through the Python API and the CLI
against the sandbox (the probe script runs for real under bash against the guest's fake root): diagnose
with probes names each cause with its guest evidence and its guide row; without probes nothing runs in
the guest; the guest rail fixes none of them (report only), so no backup is wasted; DHCP off in the
configuration holds until the next boot, after which the agent is Not Ready; the storage endpoint is the
VM's boot-diagnostics account, else one the user gives, else the check is reported as not run."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from azure.mgmt.compute import ComputeManagementClient

from azbackup_fix.models import Severity
from azbackup_fix.sandbox_credential import SandboxCredential
from azbackup_sandbox import Sandbox
from azbackup_sandbox.scenarios.files import ESTATES_DIR
from tests.cli.cli_runner import run as _cli
from tests.cli.test_remediate_cli import VM
from tests.gateway.sandbox_arm import BROKEN, Target

# scenario -> (code the probe finds, evidence label, value, the job's errorTitle)
CAUSES: dict[str, tuple[str, str, object, str]] = {
    "guest-linux-proxy": ("ProxyNotBypassingWireServer", "guest proxy", "http://10.0.0.9:3128",
                          "ExtensionSnapshotFailedNoNetwork"),
    "guest-linux-selinux-denials": ("SELinuxDeniesAgent", "guest waagent denials", 2,
                                    "GuestAgentSnapshotTaskStatusError"),
    "guest-linux-fs-not-clean": ("UserErrorFsFreezeFailed", "guest file system not clean", "/dev/sdc1",
                                 "UserErrorFsFreezeFailed"),
    "guest-linux-var-full": ("GuestVarLowOnSpace", "guest var free mb", 40, "GuestAgentSnapshotTaskStatusError"),
}


def _run_commands(sandbox: Sandbox) -> list[str]:
    return [r.operation for r in sandbox.requests() if "RunCommand" in r.operation]


def _vm_model(sandbox: Sandbox):  # noqa: ANN202 - the sandbox's model
    return next(vm for vm in sandbox.compute.vms.values() if vm.name == BROKEN)


def _estate(name: str) -> dict:
    return yaml.safe_load((ESTATES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def _broken(document: dict) -> dict:
    return next(v for v in document["subscriptions"][0]["vms"] if v["name"] == BROKEN)


@pytest.mark.parametrize("scenario", sorted(CAUSES))
def test_probe_names_the_linux_cause_and_no_backup_is_wasted(scenario: str) -> None:
    code, label, value, title = CAUSES[scenario]
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    jobs_before = len(sandbox.backup.jobs_for_vm(_vm_model(sandbox).id))
    files_before = dict(_vm_model(sandbox).guest.files)
    with target.remediator() as fix:
        plain = fix.diagnose(target.vm())
        assert _run_commands(sandbox) == [] and title in [f.code for f in plain.findings]
        assert "GuestProbeSuggested" in [f.code for f in plain.findings]
        probed = fix.diagnose(target.vm(), probe_guest=True)
        report = fix.run(target.vm(), apply=True, allow_guest_changes=True, allow_disruptive=True)
    finding = next(f for f in probed.findings if f.code == code and f.evidence_value(label) is not None)
    assert finding.severity is Severity.ERROR and finding.guide in ("000", "001")
    assert finding.evidence_value(label) == value, finding.evidence
    assert finding.evidence_value("guest channel") == "managed"
    assert not [s for p in report.playbooks for s in p.steps if s.step == "trigger-backup" and s.status.value == "changed"]
    assert len(sandbox.backup.jobs_for_vm(_vm_model(sandbox).id)) == jobs_before
    assert _vm_model(sandbox).guest.files == files_before  # report only: nothing was changed in the guest


def test_dhcp_off_in_the_configuration_holds_until_the_next_boot() -> None:
    sandbox = Sandbox(scenario="guest-linux-dhcp-off")
    target = Target(sandbox)
    with target.remediator() as fix:
        probed = fix.diagnose(target.vm(), probe_guest=True)
        [finding] = [f for f in probed.findings if f.code == "GuestDhcpDisabled"]
        assert finding.severity is Severity.WARNING and finding.guide == "000"
        assert finding.evidence_value("guest dhcp source") == "/etc/netplan/50-cloud-init.yaml"
        compute = ComputeManagementClient(SandboxCredential(), target.subscription, transport=sandbox.transport(),
                                          polling_interval=0)
        compute.virtual_machines.begin_restart("rg-app-prod", BROKEN).result()
        agent = compute.virtual_machines.instance_view("rg-app-prod", BROKEN).vm_agent.statuses[0]
        assert agent.display_status == "Not Ready" and "DHCP" in agent.message
        after = fix.diagnose(target.vm(), probe_guest=True)
    assert "GuestChannelUnavailable" in [f.code for f in after.findings]


# ---- storage on 443, both OS families ------------------------------------------------------------------
def test_the_boot_diagnostics_account_is_tested_and_a_guest_firewall_in_front_of_it_is_found() -> None:
    document = _estate("guest-linux-dhcp-off")
    vm = _broken(document)
    vm["bootDiagnosticsStorageUri"] = "https://diaglinuxeastus.blob.core.windows.net/"
    vm["guest"]["firewall"] = {"blocked": ["diaglinuxeastus.blob.core.windows.net:443"]}
    target = Target(Sandbox(estate=copy.deepcopy(document)))
    with target.remediator(guest_storage_endpoint="ignored.blob.core.windows.net") as fix:
        probed = fix.diagnose(target.vm(), probe_guest=True)
    [finding] = [f for f in probed.findings if f.code == "StorageUnreachableFromGuest"]
    assert finding.evidence_value("guest unreachable endpoint") == "diaglinuxeastus.blob.core.windows.net:443"
    assert finding.evidence_value("guest endpoint source") == "boot diagnostics"


@pytest.mark.parametrize("os_type", ["Windows", "Linux"])
def test_a_given_endpoint_is_tested_through_the_nsg_the_network_path_models(os_type: str) -> None:
    document = _estate("network-subnet-nsg-deny-storage")
    if os_type == "Linux":
        vm = _broken(document)
        vm.update({"osType": "Linux", "osName": "ubuntu", "osVersion": "22.04", "osDisk": {"diskSizeGB": 30}})
        vm["vmAgent"]["vmAgentVersion"] = "2.11.1.12"
        for ext in vm["extensions"]:
            if ext["publisher"] == "Microsoft.Azure.RecoveryServices":
                ext.update({"name": "VMSnapshotLinux", "type": "VMSnapshotLinux", "typeHandlerVersion": "1.0"})
        vm["extensions"] = [e for e in vm["extensions"] if e["name"] != "BGInfo"]
    sandbox = Sandbox(estate=copy.deepcopy(document))
    target = Target(sandbox)
    with target.remediator() as fix:
        unasked = fix.diagnose(target.vm(), probe_guest=True)
    [info] = [f for f in unasked.findings if f.code == "StorageReachabilityNotChecked"]
    assert info.severity is Severity.INFO and "not checked" in info.title
    assert "StorageUnreachableFromGuest" not in [f.code for f in unasked.findings]
    with target.remediator(guest_storage_endpoint="contosodata.blob.core.windows.net") as fix:
        probed = fix.diagnose(target.vm(), probe_guest=True)
    [finding] = [f for f in probed.findings if f.code == "StorageUnreachableFromGuest"]
    assert finding.evidence_value("guest unreachable endpoint") == "contosodata.blob.core.windows.net:443"
    assert finding.evidence_value("guest channel") in ("managed", "action")
    assert "StorageOutboundDenied" in [f.code for f in probed.findings]  # the Azure side says why


# ---- the CLI ---------------------------------------------------------------------------------------------
def test_cli_probe_names_the_selinux_denials() -> None:
    code, out, _ = _cli("diagnose", "--sandbox", "guest-linux-selinux-denials", "--vm", VM, "--probe-guest",
                        "--output", "json")
    assert code == 4
    [finding] = [f for f in json.loads(out)["findings"] if f["code"] == "SELinuxDeniesAgent"]
    assert finding["evidence_fields"]["guest_selinux_mode"] == "Enforcing"


def test_cli_guest_storage_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _cli("diagnose", "--sandbox", "network-subnet-nsg-deny-storage", "--vm", VM, "--probe-guest",
                        "--guest-storage-endpoint", "contosodata.blob.core.windows.net", "--output", "json")
    findings = {f["code"]: f for f in json.loads(out)["findings"]}
    assert code == 4 and "StorageUnreachableFromGuest" in findings
    assert findings["StorageUnreachableFromGuest"]["evidence_fields"]["guest_endpoint_source"] == "given"
    monkeypatch.setenv("AZBACKUP_GUEST_STORAGE_ENDPOINT", "contosodata.blob.core.windows.net:443")
    code, out, _ = _cli("diagnose", "--sandbox", "network-subnet-nsg-deny-storage", "--vm", VM, "--probe-guest",
                        "--output", "json")
    assert "StorageUnreachableFromGuest" in [f["code"] for f in json.loads(out)["findings"]]


def test_cli_a_bad_endpoint_is_one_line_and_sends_nothing() -> None:
    code, out, err = _cli("diagnose", "--sandbox", "guest-clean", "--vm", VM, "--probe-guest",
                          "--guest-storage-endpoint", "not a host")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "HOST[:PORT]" in err
