"""Run Command against the guest model, through the real ComputeManagementClient (in-process and HTTPS):
Linux scripts run for real under bash against the fake root and change the guest; PowerShell answers the
documented protocol; Azure's rules (409 while an action run is in flight, 4,096-byte tails, a ReadOnly
lock, an agent that is not Ready, Extensions.Enable=n, managed instance views) and the guest physics."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.compute.models import (
    RunCommandInput,
    VirtualMachineRunCommand,
    VirtualMachineRunCommandScriptSource,
)
from sandbox_arm import Arm
from test_compute_contract import RG, SUB, _client, _raw, _vm

from azbackup_sandbox.providers.compute.guest import guest_from_estate
from azbackup_sandbox.providers.compute.runcommand import OUTPUT_LIMIT, sync_agent


def _linux(arm: Arm, guest: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
    vm = _vm(arm, "vm-lx", "Linux", snapshot_ext=False, **kwargs)
    with arm.sandbox.lock:
        vm.guest = guest_from_estate("Linux", vm.agent.version, guest)
        sync_agent(vm)
    return vm


def _stdout(message: str) -> str:
    return message.split("[stdout]\n", 1)[1].rsplit("\n[stderr]\n", 1)[0]


def test_linux_script_runs_for_real_and_changes_the_guest(arm: Arm) -> None:
    vm = _linux(arm, {"files": {"/etc/waagent.conf": "Extensions.Enable=y\nProvisioning.Agent=disabled\n"}})
    script = ('conf="${GUEST_ROOT:-}/etc/waagent.conf"\n'
              'sed -i "s/^Provisioning.Agent=.*/Provisioning.Agent=auto/" "$conf"\n'
              'systemctl restart walinuxagent\n'
              'grep Provisioning "$conf"; systemctl is-active walinuxagent; waagent --version | head -1\n'
              'curl -s -o /dev/null -w "%{http_code}" http://168.63.129.16/?comp=versions\n')
    result = _client(arm).virtual_machines.begin_run_command(
        RG, vm.name, RunCommandInput(command_id="RunShellScript", script=script.splitlines())).result()
    out = _stdout(result.value[0].message)
    assert f"Provisioning.Agent=auto\nactive\nWALinuxAgent-{vm.guest.agent_version} " in out and out.endswith("200")
    assert vm.guest.waagent_option("Provisioning.Agent") == "auto"  # the file the script wrote is the guest's


def test_guest_firewall_keeps_the_agent_not_ready_and_run_command_fails(arm: Arm) -> None:
    vm = _linux(arm, {"firewall": {"blocked": ["168.63.129.16:80", "168.63.129.16:32526"]}})
    client = _client(arm)
    agent = client.virtual_machines.instance_view(RG, vm.name).vm_agent
    assert agent.statuses[0].display_status == "Not Ready" and "168.63.129.16" in agent.statuses[0].message
    with pytest.raises(HttpResponseError, match="VMAgentStatusCommunicationError"):
        client.virtual_machines.begin_run_command(RG, vm.name, {"commandId": "RunShellScript", "script": ["id"]}).result()
    client.virtual_machines.begin_restart(RG, vm.name).result()  # Azure-side lever: no help from inside
    assert client.virtual_machines.instance_view(RG, vm.name).vm_agent.statuses[0].display_status == "Not Ready"


def test_one_action_run_at_a_time_and_output_keeps_the_last_4096_bytes(arm: Arm) -> None:
    vm = _linux(arm)
    client = _client(arm)
    script = ["for i in $(seq 1 2000); do echo line-$i; done"]
    poller = client.virtual_machines.begin_run_command(RG, vm.name, {"commandId": "RunShellScript", "script": script},
                                                       polling=False)
    del poller
    with pytest.raises(ResourceExistsError) as caught:
        client.virtual_machines.begin_run_command(RG, vm.name, {"commandId": "RunShellScript", "script": ["id"]})
    assert caught.value.status_code == 409
    arm.advance(arm.sandbox.config.run_command_seconds)
    result = client.virtual_machines.begin_run_command(
        RG, vm.name, {"commandId": "RunShellScript", "script": script}).result()
    out = _stdout(result.value[0].message)
    assert len(out.encode()) == OUTPUT_LIMIT and out.endswith("line-2000\n") and "line-1\n" not in out


def test_extensions_disabled_means_run_command_times_out(arm: Arm) -> None:
    vm = _linux(arm, {"files": {"/etc/waagent.conf": "Extensions.Enable=n\n"}})
    with pytest.raises(HttpResponseError, match="VMExtensionProvisioningTimeout"):
        _client(arm).virtual_machines.begin_run_command(
            RG, vm.name, {"commandId": "RunShellScript", "script": ["id"]}).result()


def test_readonly_lock_blocks_the_post(arm: Arm) -> None:
    vm = _linux(arm)
    with arm.sandbox.lock:
        arm.sandbox.locks.put(f"/subscriptions/{SUB}/resourceGroups/{RG}", "ro", "ReadOnly", None, [])
    answer = _raw(arm, "POST", vm.id + "/runCommand", json={"commandId": "RunShellScript", "script": ["id"]})
    assert answer.status == 409 and answer.json()["error"]["code"] == "ScopeLocked"


def test_managed_run_command_reports_execution_state_and_exit_code(arm: Arm) -> None:
    vm = _linux(arm)
    client = _client(arm)
    body = VirtualMachineRunCommand(location="eastus", async_execution=True,
                                    source=VirtualMachineRunCommandScriptSource(script="echo hi; echo oops >&2; exit 3"))
    client.virtual_machine_run_commands.begin_create_or_update(RG, vm.name, "probe", body).result()
    running = client.virtual_machine_run_commands.get_by_virtual_machine(RG, vm.name, "probe", expand="instanceView")
    assert running.instance_view.execution_state == "Running"
    arm.advance(arm.sandbox.config.run_command_seconds)
    done = client.virtual_machine_run_commands.get_by_virtual_machine(RG, vm.name, "probe", expand="instanceView")
    view = done.instance_view
    assert (view.execution_state, view.exit_code, view.output, view.error) == ("Failed", 3, "hi\n", "oops\n")
    client.virtual_machine_run_commands.begin_delete(RG, vm.name, "probe").result()
    assert not list(client.virtual_machine_run_commands.list_by_virtual_machine(RG, vm.name))


def test_windows_protocol_fixes_change_the_guest_and_the_backup_physics(arm: Arm) -> None:
    vm = _vm(arm, "vm-win", "Windows", snapshot_ext=False)
    with arm.sandbox.lock:
        vm.guest = guest_from_estate("Windows", vm.agent.version, {
            "vssWriters": [{"name": "SqlServerWriter", "service": "SQLWriter", "state": "Failed"}],
            "services": {"SQLWriter": {"state": "running"}}})
    assert vm.guest.backup_failure()[0] == "ExtensionFailedVssWriterInBadState"
    script = ["# restart the writer's service", "#azsandbox restart-service SQLWriter", "#azsandbox probe"]
    result = _client(arm).virtual_machines.begin_run_command(
        RG, vm.name, {"commandId": "RunPowerShellScript", "script": script}).result()
    reply = json.loads(result.value[0].message)
    assert reply["changes"] == [{"action": "restart-service", "target": "SQLWriter", "before": "running",
                                 "after": "running"}]
    assert [w["state"] for w in reply["facts"]["vss_writers"]] == ["Stable"]
    assert vm.guest.backup_failure() is None
