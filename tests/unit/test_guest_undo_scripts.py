"""The undo's guest actions as code: restore-waagent-conf runs for real under bash against a fixture root
(and is shellcheck-clean and idempotent); the Windows undo script parses under tree-sitter-powershell and
the sandbox's protocol carries out delete-registry and remove-defender-exclusion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from azbackup_fix.guest import fix_script, schema_problems
from azbackup_fix.guest_undo import undo_fixes
from azbackup_fix.models.guest import GuestFix
from azbackup_sandbox.providers.compute.guest import PLUGIN_FOLDERS, STRONG_CRYPTO_KEYS, default_guest
from azbackup_sandbox.providers.compute.guest_windows import run_protocol
from tests.unit.test_guest_scripts import _bash, _fixture_root, _last_line, _parse_errors

ORIGINAL = "# comment\nExtensions.Enable=n\nLogs.Verbose=n\n"


def test_linux_undo_puts_waagent_conf_back_and_deletes_what_was_absent(tmp_path: Path) -> None:
    env = _fixture_root(tmp_path, ORIGINAL)
    root = Path(env["GUEST_ROOT"])
    fixed = _last_line(_bash(fix_script("linux", (GuestFix("waagent-conf", "/etc/waagent.conf"),)), env))
    assert fixed["errors"] == [] and "Provisioning.Agent=auto" in (root / "etc/waagent.conf").read_text()
    # As fix-guest journals it: the probe read Provisioning.Agent as empty (absent).
    (undo,), _ = undo_fixes({"action": "waagent-conf", "setting": "/etc/waagent.conf",
                             "value": "Extensions.Enable=y Provisioning.Agent=auto",
                             "before": "Extensions.Enable=n Provisioning.Agent="})
    (root / "run/restarted").unlink()
    first = _last_line(_bash(fix_script("linux", (undo,)), env))
    assert schema_problems(first) == [] and first["errors"] == []
    assert [(c["action"], c["target"], c["before"]) for c in first["changes"]] == [
        ("set-waagent-option", "Extensions.Enable", "y"), ("delete-waagent-option", "Provisioning.Agent", "auto")]
    assert (root / "etc/waagent.conf").read_text() == ORIGINAL
    assert (root / "run/restarted").read_text() == "walinuxagent\n"  # the agent reads its options again
    again = _last_line(_bash(fix_script("linux", (undo,)), env))
    assert again["changes"] == [] and again["errors"] == []


def test_generated_linux_undo_script_is_shellcheck_clean(tmp_path: Path) -> None:
    path = tmp_path / "undo.sh"
    path.write_text(fix_script("linux", (GuestFix("restore-waagent-conf", "/etc/waagent.conf",
                                                  "Extensions.Enable=n Provisioning.Agent=None"),)))
    done = subprocess.run([str(Path(sys.executable).with_name("shellcheck")), str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


UNDO_WINDOWS = (GuestFix("delete-registry", f"{STRONG_CRYPTO_KEYS[0]}\\SchUseStrongCrypto"),
                GuestFix("set-registry", "HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start", "4"),
                GuestFix("remove-defender-exclusion", PLUGIN_FOLDERS[0]),
                GuestFix("set-service", "MSDTC.account", "LocalSystem"))


def test_windows_undo_script_parses_and_the_protocol_carries_it_out() -> None:
    source = fix_script("windows", UNDO_WINDOWS)
    assert _parse_errors(source) == []
    guest = default_guest("Windows", "2.7.41491.1102")
    line = _last_line(run_protocol(guest, source).stdout)
    assert schema_problems(line) == [] and line["errors"] == []
    assert f"{STRONG_CRYPTO_KEYS[0]}\\SchUseStrongCrypto" not in guest.registry
    assert guest.registry["HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start"] == 4
    assert guest.defender_exclusions == [PLUGIN_FOLDERS[1]] and guest.service("MSDTC").account == "LocalSystem"
    again = _last_line(run_protocol(guest, source).stdout)  # idempotent: the same state, nothing new
    assert [c["before"] for c in again["changes"]][:3] == [None, 4, False]
