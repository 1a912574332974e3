"""The real Azure CLI against `azbackup-sandbox serve`: a client nobody here wrote, unchanged, pointed at
the sandbox only by what an operator would set (a registered cloud, the managed identity's
IDENTITY_ENDPOINT / IDENTITY_HEADER, REQUESTS_CA_BUNDLE for the sandbox CA, an AZURE_CONFIG_DIR).

The CLI is pinned in tests/e2e/azure-cli-requirements.txt and installed on first use into
`.cache/azure-cli-<version>/` with this interpreter's `-m venv` and pip (about a minute); later sessions
reuse it. If pip cannot reach the package registry the tests fail and say so: they do not skip.
Every `az` call is a separate process of ~1 s, so the asserts are bundled into few tests. A dead proxy for
everything but loopback keeps `az` from reaching anything except the sandbox.

The write test rehearses the troubleshooting guide's recipe for UserErrorRpCollectionLimitReached on
the `rp-limit-locked` estate and checks the sandbox state (`GET /_sandbox/state`) after each write."""

from __future__ import annotations

import base64
import json
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.azure_cli import AzureCliUnavailable, az_environment, ensure_az

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SANDBOX = Path(sys.executable).with_name("azbackup-sandbox")
MANAGED_IDENTITY = "6d3a6f1e-2b1c-4f8e-9a51-5a4db0c0ffee"  # the sandbox's system-assigned identity

APP_RG, BACKUP_RG, VAULT = "rg-app-prod", "AzureBackupRG_eastus_1", ("-g", "rg-backup-prod", "-v", "rsv-prod-eastus")
LOCKED_VM, HEALTHY_VM, LOCK = "vm-app-01", "vm-app-02", "rg-no-delete"
IAAS = ("--backup-management-type", "AzureIaasVM", "--workload-type", "VM")


# ---- the Azure CLI, installed once ----------------------------------------------------------------


@pytest.fixture(scope="session")
def az_bin() -> Path:
    """`az` of the pinned version from `.cache/azure-cli-<version>/`, created on first use."""
    try:
        return ensure_az()
    except AzureCliUnavailable as exc:
        pytest.fail(f"{exc}", pytrace=False)


# ---- the sandbox server and a logged-in az --------------------------------------------------------


@dataclass
class Server:
    ready: dict[str, Any]

    @property
    def endpoint(self) -> str:
        return self.ready["endpoint"]

    @property
    def subscription(self) -> str:
        return self.ready["subscription_ids"][0]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        context = ssl.create_default_context(cafile=self.ready["ca_file"])
        with urllib.request.urlopen(request, context=context, timeout=60) as answer:
            return json.loads(answer.read())

    def state(self) -> dict[str, Any]:
        return self.call("GET", "/_sandbox/state")["resources"]

    def load(self) -> None:
        """The seeded failure, afresh; the clock running (300 virtual s per real s) so LROs finish."""
        self.call("POST", "/_sandbox/load?scenario=rp-limit-locked")
        self.call("POST", "/_sandbox/clock?rate=300")
        self.call("DELETE", "/_sandbox/requests")

    def check_log(self) -> list[dict[str, Any]]:
        """Every ARM request az sent was emulated, answered without a server error, and made as the
        managed identity (RBAC on: the token mapped to its principal)."""
        log = self.call("GET", "/_sandbox/requests")
        assert log, "az sent nothing to the sandbox"
        unknown = [(r["method"], r["path"], r["status"], r["error_code"]) for r in log
                   if r["status"] >= 500 or r["error_code"] in ("InvalidResourceType", "MethodNotAllowed")
                   or r["status"] in (401, 403)]
        assert unknown == []
        assert {r["principal"] for r in log if r["operation"] != "Metadata_GetEndpoints"} == {MANAGED_IDENTITY}
        return log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ready_file = tmp_path_factory.mktemp("sandbox") / "ready.json"
    process = subprocess.Popen(
        [str(SANDBOX), "serve", "--scenario", "rp-limit-locked", "--rbac", "--ready-file", str(ready_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""  # the ready line: blocks until serving
        assert line, process.stderr.read() if process.stderr else "no ready line"
        ready = Server(json.loads(line))
        ready.call("POST", "/_sandbox/rbac", {"object_id": MANAGED_IDENTITY, "role": "Owner"})
        yield ready
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


class Az:
    """`az` in its own config dir, reaching only the sandbox."""

    def __init__(self, binary: Path, server: Server, config_dir: Path, **extra: str) -> None:
        self.binary = binary
        env = az_environment(server.ready, config_dir, **extra)
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args, "--only-show-errors", "--output", "json"], env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)

    def __call__(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, f"az {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None

    def fails(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode != 0, f"az {' '.join(args)} should have failed:\n{done.stdout}"
        return done.stderr


@pytest.fixture(scope="module")
def az(az_bin: Path, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Az:
    """Logged in as the operator's guide says: register the sandbox as a cloud, `az login --identity`."""
    cli = Az(az_bin, server, tmp_path_factory.mktemp("azure-config"))
    cli("cloud", "register", "--name", "Sandbox", "--endpoint-resource-manager", server.endpoint)
    cli("cloud", "set", "--name", "Sandbox")
    cli.login = cli("login", "--identity")  # type: ignore[attr-defined]
    return cli


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _job(server: Server, job_id: str) -> dict[str, Any]:
    return next(j for j in server.state()["backup"]["jobs"] if j["id"].rsplit("/", 1)[-1] == job_id)


# ---- the tests ------------------------------------------------------------------------------------


def test_login_with_the_managed_identity(az: Az, server: Server) -> None:
    (account,) = az.login  # type: ignore[attr-defined]
    assert account["id"] == server.subscription and account["environmentName"] == "Sandbox"
    assert account["user"] == {"assignedIdentityInfo": "MSI", "name": "systemAssignedIdentity",
                               "type": "servicePrincipal"}
    token = az("account", "get-access-token")
    claims = _claims(token["accessToken"])
    assert claims["tid"] == account["tenantId"] == token["tenant"] and claims["oid"] == MANAGED_IDENTITY
    assert claims["aud"] == "https://management.core.windows.net/"  # the cloud's audiences[0]
    cloud = az("cloud", "show", "--name", "Sandbox")
    assert cloud["endpoints"]["resourceManager"].rstrip("/") == server.endpoint  # as given on the command line
    assert cloud["endpoints"]["activeDirectory"] == server.endpoint + "/"
    assert cloud["endpoints"]["microsoftGraphResourceId"] == server.endpoint + "/"


def test_login_through_arm_cloud_metadata_url(az_bin: Path, server: Server, tmp_path: Path) -> None:
    # The other way in: the CLI reads its clouds from the sandbox's metadata document at start-up
    # (urllib there, so the CA comes from SSL_CERT_FILE).
    cli = Az(az_bin, server, tmp_path / "azure-config", SSL_CERT_FILE=server.ready["ca_file"],
             ARM_CLOUD_METADATA_URL=f"{server.endpoint}/metadata/endpoints?api-version=2019-05-01")
    assert [c["name"] for c in cli("cloud", "list")] == ["AzureSandbox"]
    cli("cloud", "set", "--name", "AzureSandbox")
    (account,) = cli("login", "--identity")
    assert account["id"] == server.subscription and account["environmentName"] == "AzureSandbox"


def test_reads(az: Az, server: Server) -> None:
    server.load()
    vm_id = f"/subscriptions/{server.subscription}/resourceGroups/{APP_RG}/providers/Microsoft.Compute/" \
            f"virtualMachines/{LOCKED_VM}"
    assert {v["name"] for v in az("vm", "list")} == {LOCKED_VM, HEALTHY_VM}
    vm = az("vm", "show", "-g", APP_RG, "-n", LOCKED_VM)
    assert vm["id"] == vm_id and vm["storageProfile"]["osDisk"]["osType"] == "Windows"
    view = az("vm", "get-instance-view", "-g", APP_RG, "-n", LOCKED_VM)
    assert [s["code"] for s in view["instanceView"]["statuses"]] == ["ProvisioningState/succeeded",
                                                                     "PowerState/running"]
    assert view["instanceView"]["vmAgent"]["statuses"][0]["displayStatus"] == "Ready"
    extensions = az("vm", "extension", "list", "-g", APP_RG, "--vm-name", LOCKED_VM)
    assert {e["name"] for e in extensions} == {"BGInfo", "VMSnapshot"}
    snapshot = az("vm", "extension", "show", "-g", APP_RG, "--vm-name", LOCKED_VM, "-n", "VMSnapshot")
    assert (snapshot["publisher"], snapshot["provisioningState"]) == ("Microsoft.Azure.RecoveryServices",
                                                                      "Succeeded")

    (lock,) = az("lock", "list")
    assert (lock["name"], lock["level"], lock["resourceGroup"]) == (LOCK, "CanNotDelete", BACKUP_RG)
    assert [g["name"] for g in az("group", "lock", "list", "-g", BACKUP_RG)] == [LOCK]
    collections = az("restore-point", "collection", "list", "-g", BACKUP_RG)
    mine = next(c for c in collections if c["source"]["id"].casefold() == vm_id.casefold())
    shown = az("restore-point", "collection", "show", "-g", BACKUP_RG, "--collection-name", mine["name"],
                 "--restore-points")
    assert len(shown["restorePoints"]) == 18  # at the limit: why its backups fail
    resources = az("resource", "list", "--resource-type", "Microsoft.Compute/restorePointCollections")
    assert {r["name"] for r in resources} == {c["name"] for c in collections}
    assert {r["provisioningState"] for r in resources} == {"Succeeded"}  # $expand=...,provisioningState

    (vault,) = az("backup", "vault", "list")
    assert (vault["name"], vault["type"]) == ("rsv-prod-eastus", "Microsoft.RecoveryServices/vaults")
    items = az("backup", "item", "list", *VAULT)
    assert {i["properties"]["friendlyName"] for i in items} == {LOCKED_VM, HEALTHY_VM}
    item = az("backup", "item", "show", *VAULT, "-c", LOCKED_VM, "-n", LOCKED_VM, *IAAS)
    assert item["properties"]["virtualMachineId"].casefold() == vm_id.casefold()
    assert item["properties"]["lastBackupStatus"] == "Failed"
    jobs = az("backup", "job", "list", *VAULT)
    failed = [j for j in jobs if j["properties"]["entityFriendlyName"] == LOCKED_VM
              and j["properties"]["status"] == "Failed"]
    assert failed
    job = az("backup", "job", "show", *VAULT, "-n", failed[0]["name"])
    assert job["properties"]["errorDetails"][0]["errorTitle"] == "UserErrorRpCollectionLimitReached"
    server.check_log()


def test_rp_limit_recipe_writes(az: Az, server: Server) -> None:
    """The guide's fix for UserErrorRpCollectionLimitReached with a locked restore-point group, by hand:
    remove the lock, delete the collection, put the lock back, back up now; plus the other writes."""
    server.load()
    (collection,) = [c for c in server.state()["compute"]["restorePointCollections"]
                     if c["sourceId"].lower().endswith(f"/{LOCKED_VM}")]
    name = collection["id"].rsplit("/", 1)[-1]

    # The lock is why: even a delete by hand is refused while it is there.
    assert "ScopeLocked" in az.fails("restore-point", "collection", "delete", "-g", BACKUP_RG,
                                     "--collection-name", name, "--yes")
    az("lock", "delete", "-g", BACKUP_RG, "-n", LOCK)
    assert server.state()["locks"] == []
    az("restore-point", "collection", "delete", "-g", BACKUP_RG, "--collection-name", name, "--yes")
    assert name not in {c["id"].rsplit("/", 1)[-1] for c in server.state()["compute"]["restorePointCollections"]}
    az("lock", "create", "-g", BACKUP_RG, "-n", LOCK, "--lock-type", "CanNotDelete", "--notes", "put back")
    (lock,) = server.state()["locks"]
    assert lock["id"].endswith(f"/{BACKUP_RG}/providers/Microsoft.Authorization/locks/{LOCK}")
    assert (lock["level"], lock["notes"]) == ("CanNotDelete", "put back")

    # A failed backup extension's fix: delete it (the next backup reinstalls it).
    az("vm", "extension", "delete", "-g", APP_RG, "--vm-name", HEALTHY_VM, "-n", "VMSnapshot")
    vm = next(v for v in server.state()["compute"]["virtualMachines"] if v["id"].endswith(f"/{HEALTHY_VM}"))
    assert [e["name"] for e in vm["extensions"]] == ["BGInfo"]

    # Backup now, with the clock held still so the job stays cancellable; then stop it.
    server.call("POST", "/_sandbox/clock?rate=0")
    started = az("backup", "protection", "backup-now", *VAULT, "-c", HEALTHY_VM, "-i", HEALTHY_VM, *IAAS,
                 "--retain-until", "01-01-2030")
    assert started["properties"]["status"] == "InProgress" and started["properties"]["operation"] == "Backup"
    assert _job(server, started["name"])["status"] == "InProgress"
    az("backup", "job", "stop", *VAULT, "-n", started["name"])
    assert _job(server, started["name"])["status"] == "Cancelling"
    server.call("POST", "/_sandbox/clock?advance=60")
    assert az("backup", "job", "show", *VAULT, "-n", started["name"])["properties"]["status"] == "Cancelled"

    # And the fixed VM: its backup now succeeds.
    fixed = az("backup", "protection", "backup-now", *VAULT, "-c", LOCKED_VM, "-i", LOCKED_VM, *IAAS,
               "--retain-until", "01-01-2030")
    server.call("POST", "/_sandbox/clock?advance=7200")
    assert _job(server, fixed["name"])["status"] == "Completed"
    points = [c["restorePoints"] for c in server.state()["compute"]["restorePointCollections"]
              if c["sourceId"].lower().endswith(f"/{LOCKED_VM}")]
    assert sum(len(p) for p in points) == 1
    server.check_log()
