"""The guest scripts are code: the Linux ones run for real under bash against fixture roots (with the test's
own stand-ins for systemctl, waagent, curl and apt-get) and are shellcheck-clean; the PowerShell ones parse
without error under tree-sitter-powershell; every result line meets the azbackup-guest/v1 schema, the
Linux scripts' and the sandbox's Windows protocol answer alike. And the parser never reads a cut, failed
or silent script as a result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Parser

from azbackup_fix.guest import fix_script, parse_output, plan_guest_fixes, probe_script, schema_problems
from azbackup_fix.guest.scripts import script_text
from azbackup_fix.models.guest import GuestFix, GuestProbe
from azbackup_sandbox.providers.compute.guest import default_guest
from azbackup_sandbox.providers.compute.guest_windows import run_protocol

SCRIPTS = Path(__file__).resolve().parents[2] / "azbackup_fix" / "guest" / "scripts"
POWERSHELL = Parser(Language(tree_sitter_powershell.language()))
ALL_WINDOWS_FIXES = (
    GuestFix("restart-service", "VSS", disruptive=True),
    GuestFix("set-service", "MSDTC.account", "NT AUTHORITY\\NetworkService"),
    GuestFix("start-service", "COMSysApp"),
    GuestFix("set-registry", "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto", "1"),
    GuestFix("add-defender-exclusion", "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot"),
    GuestFix("set-acl", "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys", "default"),
    GuestFix("set-registry", "HKLM\\SOFTWARE\\Microsoft\\BcdrAgent\\USEVSSCOPYBACKUP", "TRUE"),
    GuestFix("remove-item", "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot"),
)

# Stand-ins for the guest's commands, driven by files in the fixture root (not the sandbox's shims).
_COMMANDS = {
    "systemctl": '''#!/bin/bash
verb=$1; unit=$2; [ "$verb" = --quiet ] && { verb=$2; unit=$3; }
state="$GUEST_ROOT/run/$unit.state"
case "$verb" in
  is-active) [ -f "$state" ] || { echo inactive; exit 3; }; cat "$state"; [ "$(cat "$state")" = active ] ;;
  cat) [ -f "$state" ] ;;
  restart|start) echo active > "$state"; echo "$unit" >> "$GUEST_ROOT/run/restarted" ;;
  *) exit 0 ;;
esac
''',
    "waagent": '''#!/bin/bash
echo "WALinuxAgent-$(cat "$GUEST_ROOT/run/agent.version") running on ubuntu 22.04"
''',
    "curl": '''#!/bin/bash
for a in "$@"; do case $a in http*) url=$a ;; esac; done
port=${url#http://168.63.129.16:}; port=${port%%/*}; [ "$port" = "$url" ] && port=80
! grep -qx "$port" "$GUEST_ROOT/run/blocked" 2>/dev/null
''',
    "apt-get": '''#!/bin/bash
cp "$GUEST_ROOT/run/repo.version" "$GUEST_ROOT/run/agent.version"
''',
}


def _fixture_root(tmp_path: Path, conf: str = "Extensions.Enable=y\nProvisioning.Agent=auto\n", *,
                  version: str = "2.11.1.12", blocked: tuple[str, ...] = ()) -> dict[str, str]:
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    (root / "etc").mkdir(parents=True)
    (root / "run").mkdir()
    bin_dir.mkdir()
    (root / "etc" / "waagent.conf").write_text(conf)
    (root / "run" / "walinuxagent.state").write_text("active\n")
    (root / "run" / "agent.version").write_text(version)
    (root / "run" / "repo.version").write_text("2.11.1.12")
    (root / "run" / "blocked").write_text("".join(f"{p}\n" for p in blocked))
    for name, text in _COMMANDS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "GUEST_ROOT": str(root), "LC_ALL": "C"}


def _bash(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, env=env, check=True)
    return done.stdout


def _last_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


# ---- Linux: run for real ----------------------------------------------------------------------
def test_linux_probe_reads_the_fixture_root(tmp_path: Path) -> None:
    env = _fixture_root(tmp_path, "Provisioning.Agent=disabled\nExtensions.Enable=n\n", version="2.2.9",
                        blocked=("32526",))
    line = _last_line(_bash(probe_script("linux"), env))
    assert schema_problems(line) == []
    facts = line["facts"]
    assert facts["agent"] == {"service": "active", "unit": "walinuxagent", "version": "2.2.9"}
    assert facts["waagent_conf"] == {"present": True, "Extensions.Enable": "n", "Provisioning.Agent": "disabled"}
    assert facts["wireserver"] == {"80": True, "32526": False}
    fixes = plan_guest_fixes(GuestProbe("linux", "action", facts=facts))
    assert [f.action for f in fixes] == ["waagent-conf", "agent-update"]


def test_linux_probe_of_a_clean_root_plans_nothing(tmp_path: Path) -> None:
    line = _last_line(_bash(probe_script("linux"), _fixture_root(tmp_path)))
    assert plan_guest_fixes(GuestProbe("linux", "managed", facts=line["facts"])) == ()


def test_linux_fixes_change_the_root_report_before_values_and_are_idempotent(tmp_path: Path) -> None:
    env = _fixture_root(tmp_path, "# comment\nExtensions.Enable=n\n", version="2.2.9")
    fixes = (GuestFix("waagent-conf", "/etc/waagent.conf"), GuestFix("agent-update", "walinuxagent"))
    first = _last_line(_bash(fix_script("linux", fixes), env))
    assert schema_problems(first) == [] and first["errors"] == []
    assert first["changes"] == [
        {"action": "set-waagent-option", "target": "Extensions.Enable", "before": "n", "after": "y"},
        {"action": "set-waagent-option", "target": "Provisioning.Agent", "before": "", "after": "auto"},
        {"action": "update-agent", "target": "walinuxagent", "before": "2.2.9", "after": "2.11.1.12"}]
    root = Path(env["GUEST_ROOT"])
    assert (root / "etc/waagent.conf").read_text() == "# comment\nExtensions.Enable=y\nProvisioning.Agent=auto\n"
    assert (root / "run/restarted").read_text() == "walinuxagent\n"
    again = _last_line(_bash(fix_script("linux", fixes), env))
    assert again["changes"] == [] and again["errors"] == []


def test_linux_scripts_are_shellcheck_clean() -> None:
    shellcheck = Path(sys.executable).with_name("shellcheck")
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert scripts
    done = subprocess.run([str(shellcheck), "--shell=bash", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_generated_linux_fix_script_is_shellcheck_clean(tmp_path: Path) -> None:
    path = tmp_path / "fix.sh"
    path.write_text(fix_script("linux", (GuestFix("waagent-conf", "/etc/waagent.conf"),)))
    done = subprocess.run([str(Path(sys.executable).with_name("shellcheck")), str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout


# ---- PowerShell: parsed ----------------------------------------------------------------------------
def _parse_errors(source: str) -> list[str]:
    tree = POWERSHELL.parse(source.encode("utf-8"))
    found: list[str] = []

    def walk(node) -> None:  # noqa: ANN001 - tree-sitter node
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{node.type} at {node.start_point}")
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return found


@pytest.mark.parametrize("source", [script_text("probe-windows.ps1"), script_text("fix-windows.ps1"),
                                    fix_script("windows", ALL_WINDOWS_FIXES)],
                         ids=["probe", "fix", "generated-fix"])
def test_powershell_scripts_parse_without_error(source: str) -> None:
    assert _parse_errors(source) == []


def test_the_parser_does_find_broken_powershell() -> None:
    assert _parse_errors("$Fixes = @(\n    @{ action = 'x' \n")


def test_windows_protocol_answer_meets_the_schema_and_applies_every_fix() -> None:
    guest = default_guest("Windows", "2.7.41491.1102")
    probe = run_protocol(guest, probe_script("windows"))
    assert schema_problems(_last_line(probe.stdout)) == [] and probe.exit_code == 0
    fixed = run_protocol(guest, fix_script("windows", ALL_WINDOWS_FIXES))
    line = _last_line(fixed.stdout)
    assert schema_problems(line) == [] and line["errors"] == []
    assert [c["action"] for c in line["changes"]] == [f.action for f in ALL_WINDOWS_FIXES]
    assert guest.service("MSDTC").account == "NT AUTHORITY\\NetworkService"
    assert guest.registry["HKLM\\SOFTWARE\\Microsoft\\BcdrAgent\\USEVSSCOPYBACKUP"] == "TRUE"
    assert guest.machine_keys_default() and guest.folders == []  # the plugin folder is gone


def test_windows_probe_facts_of_the_remaining_rows_plan_their_fixes() -> None:
    guest = default_guest("Windows", "2.7.41491.1102")
    guest.acls["C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys"] = "O:SYG:SYD:PAI(A;;FA;;;BA)"
    guest.services["MSSQLSERVER"] = type(guest.service("VSS"))()
    facts = _last_line(run_protocol(guest, probe_script("windows")).stdout)["facts"]
    assert facts["sql_server"] == {"instances": ["MSSQLSERVER"], "usevsscopybackup": None}
    assert facts["vmsnapshot_plugin"]["folder"] is True and facts["applocker"]["decision"] == "Allowed"
    fixes = plan_guest_fixes(GuestProbe("windows", "managed", facts=facts))
    assert [(f.action, f.value) for f in fixes] == [("set-acl", "default"), ("set-registry", "TRUE")]
    assert fixes[0].before == "O:SYG:SYD:PAI(A;;FA;;;BA)"  # journaled for undo
    # The same ACL spelled differently (order, FA as hex) is the default: nothing to fix.
    guest.acls["C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys"] = "O:SYG:SYD:PAI(A;;0x1f01ff;;;BA)(A;;0x12019F;;;WD)"
    guest.registry["HKLM\\SOFTWARE\\Microsoft\\BcdrAgent\\USEVSSCOPYBACKUP"] = "TRUE"
    facts = _last_line(run_protocol(guest, probe_script("windows")).stdout)["facts"]
    assert plan_guest_fixes(GuestProbe("windows", "managed", facts=facts)) == ()


# ---- reading the line -------------------------------------------------------------------------------
def test_a_cut_output_is_a_problem_not_a_result() -> None:
    line = json.dumps({"schema": "azbackup-guest/v1", "os": "linux", "facts": {"x": "y" * 5000},
                       "changes": [], "errors": []})
    cut = line[-4096:]  # what Azure keeps
    out = parse_output(cut)
    assert out.facts is None and "cut to the last 4,096 bytes" in (out.problem or "")


@pytest.mark.parametrize(("stdout", "exit_code", "why"), [
    ("", None, "printed nothing"),
    ("hello\n", None, "not JSON"),
    ('{"schema": "other/v1", "os": "linux", "changes": [], "errors": []}\n', None, "breaks the schema"),
    ('{"schema": "azbackup-guest/v1", "os": "linux", "facts": {}, "changes": [], "errors": []}\n', 2, "code 2"),
])
def test_failed_scripts_are_problems(stdout: str, exit_code: int | None, why: str) -> None:
    out = parse_output(stdout, exit_code=exit_code)
    assert not out.ok and why in (out.problem or "")
