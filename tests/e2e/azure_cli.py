"""The pinned Azure CLI, installed once into `.cache/azure-cli-<version>/`, and the environment that points
it at a sandbox server and nothing else: shared by tests/e2e/test_azure_cli.py and benchmarks/single_vm.py."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("azure-cli-requirements.txt")
INSTALL_TIMEOUT = 1800
# Settings of the calling environment that would steer az or its libraries elsewhere.
_NOT_INHERITED = ("AZURE_", "AZBACKUP_", "IDENTITY_", "MSI_", "IMDS_", "ARM_", "MSAL_")
_NOT_INHERITED_NAMES = {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONPATH",
                        "PYTHONHOME", "VIRTUAL_ENV", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
                        "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy"}


class AzureCliUnavailable(RuntimeError):
    """The pinned CLI could not be installed (pip's own words in the message)."""


def pinned_version() -> str:
    found = re.search(r"^azure-cli==([\w.]+)\s*$", REQUIREMENTS.read_text(encoding="utf-8"), re.MULTILINE)
    if not found:
        raise AzureCliUnavailable(f"{REQUIREMENTS} must pin azure-cli==VERSION")
    return found.group(1)


def _install(target: Path) -> float:
    """A fresh venv with the pinned CLI; the wall time it took."""
    started = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "--no-input", "--quiet", "-r", str(REQUIREMENTS)],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise AzureCliUnavailable(f"installing the Azure CLI took over {INSTALL_TIMEOUT} s: {' '.join(step)}") \
                from None
        if done.returncode != 0:
            errors = [line for line in (done.stderr + done.stdout).splitlines()
                      if line.strip() and "is ignored: it is neither a file nor a directory" not in line]
            raise AzureCliUnavailable(
                f"cannot install the Azure CLI ({' '.join(step)} exited {done.returncode}); it needs the package "
                f"registry on first use (pip's configured index), or a ready {target}:\n" + "\n".join(errors[-25:]))
    return time.monotonic() - started


def ensure_az() -> Path:
    """`az` of the pinned version, installed on first use (one installer at a time)."""
    version = pinned_version()
    target = REPO / ".cache" / f"azure-cli-{version}"
    stamp = target / ".installed.json"
    requirements = REQUIREMENTS.read_text(encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".azure-cli-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else {}
        if current.get("requirements") != requirements or not (target / "bin" / "az").exists():
            seconds = _install(target)
            stamp.write_text(json.dumps({"requirements": requirements, "install_seconds": round(seconds, 1),
                                         "python": sys.version.split()[0]}), encoding="utf-8")
    return target / "bin" / "az"


def az_environment(ready: dict[str, Any], config_dir: Path, **extra: str) -> dict[str, str]:
    """`az`'s environment: its own config dir, the sandbox's CA and managed identity, and a dead proxy for
    everything but loopback, so that az talks to the sandbox or to no one."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_NOT_INHERITED) and k not in _NOT_INHERITED_NAMES}
    env.update({
        "AZURE_CONFIG_DIR": str(config_dir),
        "REQUESTS_CA_BUNDLE": ready["ca_file"],
        "IDENTITY_ENDPOINT": ready["identity_endpoint"],
        "IDENTITY_HEADER": ready["identity_header"],
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_NO_COLOR": "true",
        "AZURE_CORE_SURVEY_MESSAGE": "false",
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        **extra,
    })
    return env
