"""Start-up: `--help`, `--version`, `playbooks` and bad-input errors load no Azure SDK (not even
azure-core), so that they answer at once; the SDKs load when a command talks to Azure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import io, json, sys
from azbackup_fix.cli.main import main
out = io.StringIO()
code = main(sys.argv[1:], stdout=out, stderr=out)
print(json.dumps({"code": code, "azure": sorted(m for m in sys.modules if m.split(".")[0] == "azure")}))
"""


def _run(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True,
                          env={"PATH": "", "HOME": "/nonexistent"})
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["--version"], 0),
    (["plan", "--help"], 0),
    (["playbooks"], 0),
    (["playbooks", "--output", "json"], 0),
    (["diagnose", "--vm", "not-a-resource-id"], 2),
    (["apply", "--vm", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"], 2),
    (["scan", "--shard", "3/2"], 2),
    (["scan", "--workers", "0"], 2),
    (["plan", "--playbooks", "/nonexistent/playbooks.yaml"], 2),
])
def test_no_azure_module_is_imported(argv: list[str], code: int) -> None:
    result = _run(*argv)
    assert result == {"code": code, "azure": []}


def test_a_command_that_talks_to_azure_loads_the_sdks() -> None:
    # The counter-check: the probe can see the SDKs load (the in-process sandbox is an ARM endpoint).
    result = _run("diagnose", "--sandbox", "healthy", "--output", "json")
    assert result["code"] == 0
    assert "azure.mgmt.compute" in result["azure"] and "azure.core" in result["azure"]
