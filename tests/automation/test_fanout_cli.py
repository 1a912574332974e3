"""`azbackup-fix scan --fan-out` bad input: one line, exit 2, nothing sent; the extra missing is one line too."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main

ACCOUNT = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
           "Microsoft.Automation/automationAccounts/aa")


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("extra", "message"), [
    ((), "--fan-out needs --automation-account ID"),
    (("--automation-account", "/subscriptions/x/resourceGroups/rg"), "must be an Automation account id"),
    (("--automation-account", ACCOUNT, "--shard", "1/2"), "--shard does not go with --fan-out"),
    (("--automation-account", ACCOUNT, "--fan-out-by", "subscription"), "needs at least 2 subscriptions"),
])
def test_bad_fanout_input_is_one_line(tmp_path: Path, extra: tuple[str, ...], message: str) -> None:
    code, out, err = _run("scan", "--sandbox", "healthy", "--journal", str(tmp_path / "j.sqlite"), "--fan-out", "2",
                          *extra)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1, err


def test_in_process_sandbox_is_refused(tmp_path: Path) -> None:
    code, _, err = _run("scan", "--sandbox", "healthy", "--journal", str(tmp_path / "j.sqlite"), "--fan-out", "1",
                        "--automation-account", ACCOUNT)
    assert code == 2 and "sandbox's HTTPS server" in err


def test_without_the_automation_extra_the_gateway_says_which_to_install() -> None:
    # A fresh interpreter where the package cannot be imported (as when the extra is not installed).
    code = ("import sys; sys.modules['azure.mgmt.automation'] = None\n"
            "from azbackup_fix.gateway.automation import AutomationAccountRef, AutomationGateway\n"
            "from azbackup_fix.errors import InvalidInputError\n"
            "try:\n    AutomationGateway(None, AutomationAccountRef('s', 'g', 'a'))\n"
            "except InvalidInputError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "fan-out needs azure-mgmt-automation: pip install 'azbackup-fix[automation]'"
