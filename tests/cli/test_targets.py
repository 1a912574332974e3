"""Targets on every command that acts on VMs, as az takes them: --vm, --ids, -g/-n, -g alone, --vault,
--subscription and --all-subscriptions; each run over the sandbox and compared with the VMs it holds."""

from __future__ import annotations

import json

import pytest

from .cli_runner import isolated_env, run  # noqa: F401 (isolated_env: a fixture)

pytestmark = pytest.mark.usefixtures("isolated_env")

SCENARIO = "demo"


def _targets(command: str, *argv: str) -> list[str]:
    code, out, err = run(command, "--sandbox", SCENARIO, *argv, "--output", "json")
    assert code in (0, 3, 4), err  # 3: a fix needs a guard rail; 4: changes planned
    report = json.loads(out)
    return [d["target"] for d in (report if isinstance(report, list) else [report])]


ALL = _targets("diagnose")
SUB = ALL[0].split("/")[2]
RG = ALL[0].split("/")[4]


def _vault() -> str:
    code, out, _ = run("diagnose", "--sandbox", SCENARIO, "--vm", ALL[0], "--output", "json")
    return next(e["value"] for f in json.loads(out)["findings"] for e in f["evidence"]
                if e["label"] == "job").split("/backupJobs/")[0]


def test_the_scenario_has_several_vms() -> None:
    assert len(ALL) >= 3


@pytest.mark.parametrize("command", ["diagnose", "plan"])
def test_group_and_name_is_the_vm_id(command: str) -> None:
    names = [vm.rsplit("/", 1)[1] for vm in ALL[:2]]
    assert _targets(command, "-g", RG, "-n", names[0], "-n", names[1]) == ALL[:2]


@pytest.mark.parametrize("command", ["diagnose", "plan"])
def test_ids_take_several_vms(command: str) -> None:
    assert _targets(command, "--ids", ALL[2], ALL[0]) == [ALL[2], ALL[0]]


def test_group_alone_keeps_its_protected_vms() -> None:
    assert _targets("diagnose", "-g", RG) == ALL
    code, out, _ = run("diagnose", "--sandbox", SCENARIO, "-g", "rg-nothing-here", "--output", "json")
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize("command", ["diagnose", "plan"])
def test_vault_is_every_vm_it_protects(command: str) -> None:
    vault = _vault()
    assert _targets(command, "--vault", vault) == ALL
    assert _targets(command, "--ids", vault) == ALL


def test_subscription_and_all_subscriptions() -> None:
    assert _targets("diagnose", "--subscription", SUB) == ALL
    assert _targets("diagnose", "--all-subscriptions") == ALL


def test_scan_takes_the_same_targets(tmp_path) -> None:
    def scanned(*argv: str) -> list[str]:
        code, out, err = run("scan", "--sandbox", SCENARIO, "--journal", str(tmp_path / "j.sqlite"), "--fresh",
                             *argv, "--output", "json")
        assert code in (0, 3, 4), err
        return sorted(vm["vm"] for vm in json.loads(out)["vms"])

    every = scanned()
    one = every[0]
    assert scanned("--vm", one) == [one]
    assert scanned("-g", one.split("/")[4], "-n", one.rsplit("/", 1)[1]) == [one]
    assert scanned("--ids", *every[:2]) == every[:2]
    assert scanned("-g", "rg-nothing-here") == []


@pytest.mark.parametrize("argv, message", [
    (["-n", "vm-1"], "-n/--name needs -g/--resource-group"),
    (["--ids", "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/g/providers/Microsoft.Authorization/locks/l"],
     "--ids takes VM or Recovery Services vault ids"),
    (["--vault", "/subscriptions/s/resourceGroups/g"], "is not a GUID"),
    (["-g", "rg", "-n", "a/b"], "-n/--name takes a VM name"),
])
@pytest.mark.parametrize("command", ["diagnose", "plan", "apply", "scan"])
def test_bad_targets_are_one_line_and_exit_2(command: str, argv: list[str], message: str, tmp_path) -> None:
    code, out, err = run(command, "--sandbox", SCENARIO, *argv, "--journal", str(tmp_path / "j.sqlite"))
    assert code == 2 and out == "" and message in err and len(err.splitlines()) == 1


def test_group_and_name_without_a_subscription_against_azure_is_one_line() -> None:
    code, _, err = run("diagnose", "--arm-endpoint", "https://127.0.0.1:9", "-g", "rg", "-n", "vm")
    assert code == 2 and "-g/-n needs the subscription" in err
