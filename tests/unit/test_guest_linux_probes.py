"""Issue 14's remaining Linux probes, run for real under bash against fixture roots (the test's own
stand-ins for systemctl, waagent, curl, getenforce, tune2fs and df): DHCP from each distribution's
network configuration, proxy settings, SELinux denials for waagent, file systems that are not clean or
are mounted twice, free space under /var, and TCP reachability of the endpoints passed in ENDPOINTS; the
findings each fact gives, tied to its guide row; and the Windows probe's endpoint loop and directive."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from azbackup_fix.checks.guest import guest_findings
from azbackup_fix.errors import InvalidInputError
from azbackup_fix.guest import probe_script, schema_problems
from azbackup_fix.guest.endpoints import parse_endpoint, probe_endpoints
from azbackup_fix.ids import VmRef
from azbackup_fix.models import Severity, VirtualMachine
from azbackup_fix.models.guest import GuestProbe
from azbackup_sandbox.providers.compute.guest import default_guest
from azbackup_sandbox.providers.compute.guest_windows import run_protocol

from .test_guest_scripts import _parse_errors

_COMMANDS = {
    "systemctl": '#!/bin/bash\n[ "$1" = is-active ] && { echo active; exit 0; }\nexit 0\n',
    "waagent": '#!/bin/bash\necho "WALinuxAgent-2.11.1.12 running on rhel 9.4"\n',
    # curl: the exit code for host:port is in run/curl (as "host:port code" lines), default 0.
    "curl": '''#!/bin/bash
for a in "$@"; do case $a in http*) url=$a ;; esac; done
hp=${url#*://}; hp=${hp%%/*}
code=$(awk -v hp="$hp" '$1 == hp { print $2 }' "$GUEST_ROOT/run/curl" 2>/dev/null)
exit "${code:-0}"
''',
    "getenforce": '#!/bin/bash\n[ -f "$GUEST_ROOT/run/selinux" ] || exit 127\ncat "$GUEST_ROOT/run/selinux"\n',
    "tune2fs": '''#!/bin/bash
state=$(awk -v d="$2" '$1 == d { $1 = ""; sub(/^ /, ""); print }' "$GUEST_ROOT/run/fs" 2>/dev/null)
echo "tune2fs 1.46.5 (30-Dec-2021)"
echo "Filesystem state:         ${state:-clean}"
''',
    "df": '''#!/bin/bash
echo "Filesystem     1024-blocks      Used Available Capacity Mounted on"
echo "/dev/sda2 31000000 1000 $(cat "$GUEST_ROOT/run/var.kb") 1% /var"
''',
}
MOUNTS = "/dev/sda2 / xfs rw 0 0\n/dev/sda1 /boot xfs rw 0 0\nproc /proc proc rw 0 0\n/dev/sdb1 /mnt ext4 rw 0 0\n"
DENIAL = ('type=AVC msg=audit(1793523120.412:311): avc:  denied  { write } for  pid=1187 comm="waagent" '
          'name="waagent" scontext=system_u:system_r:waagent_t:s0 tclass=dir permissive=0\n')


def _root(tmp_path: Path, files: dict[str, str], *, selinux: str | None = None, fs: str = "",
          var_kb: int = 20 * 1024 * 1024, curl: str = "") -> dict[str, str]:
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    (root / "run").mkdir(parents=True)
    bin_dir.mkdir()
    for path, text in {"/etc/waagent.conf": "Extensions.Enable=y\nProvisioning.Agent=auto\n", **files}.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if selinux is not None:
        (root / "run" / "selinux").write_text(selinux + "\n")
    (root / "run" / "fs").write_text(fs)
    (root / "run" / "var.kb").write_text(str(var_kb))
    (root / "run" / "curl").write_text(curl)
    for name, text in _COMMANDS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "GUEST_ROOT": str(root), "LC_ALL": "C"}


def _facts(env: dict[str, str], **extra: str) -> dict:
    done = subprocess.run(["bash", "-s"], input=probe_script("linux"), capture_output=True, text=True,
                          env={**env, **extra}, check=True)
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert schema_problems(line) == [] and done.stderr == ""
    return line["facts"]


def _codes(facts: dict, endpoints: tuple[str, ...] = ("acct.blob.core.windows.net:443",)) -> dict[str, Severity]:
    probe = GuestProbe("linux", "managed", facts=facts, endpoints=endpoints,
                       endpoint_source="boot diagnostics" if endpoints else "")
    return {f.code: f.severity for f in guest_findings(probe)}


# ---- DHCP -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "text", "dhcp"), [
    ("/etc/netplan/50-cloud-init.yaml", "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n", True),
    ("/etc/netplan/50-cloud-init.yaml", "network:\n  ethernets:\n    eth0:\n      dhcp4: no\n", False),
    ("/etc/systemd/network/10-eth0.network", "[Match]\nName=eth0\n[Network]\nDHCP=ipv4\n", True),
    ("/etc/sysconfig/network-scripts/ifcfg-eth0", 'DEVICE=eth0\nBOOTPROTO="dhcp"\n', True),
    ("/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nBOOTPROTO=none\nIPADDR=10.0.0.4\n", False),
    ("/etc/network/interfaces", "auto eth0\niface eth0 inet static\n  address 10.0.0.4/24\n", False),
])
def test_dhcp_is_read_from_the_distributions_network_configuration(tmp_path: Path, path: str, text: str,
                                                                    dhcp: bool) -> None:
    facts = _facts(_root(tmp_path, {path: text}))
    assert facts["dhcp"] == {"interface": "eth0", "configured": dhcp, "source": path}
    codes = _codes(facts)
    assert ("GuestDhcpDisabled" in codes) is (not dhcp)
    if not dhcp:
        assert codes["GuestDhcpDisabled"] is Severity.WARNING


def test_no_network_configuration_is_unknown_not_off(tmp_path: Path) -> None:
    facts = _facts(_root(tmp_path, {}))
    assert facts["dhcp"]["configured"] is None and "GuestDhcpDisabled" not in _codes(facts)


# ---- proxy, SELinux ---------------------------------------------------------------------------------
def test_a_proxy_that_does_not_bypass_wireserver_is_an_error(tmp_path: Path) -> None:
    files = {"/etc/environment": 'https_proxy="http://10.0.0.9:3128"\nno_proxy=localhost\n',
             "/etc/waagent.conf": "Extensions.Enable=y\nHttpProxy.Host=10.0.0.9\nHttpProxy.Port=3128\n"}
    facts = _facts(_root(tmp_path, files))
    assert facts["proxy"] == {"http_proxy": "", "https_proxy": "http://10.0.0.9:3128", "no_proxy": "localhost",
                              "agent_host": "10.0.0.9", "agent_port": "3128"}
    probe = GuestProbe("linux", "action", facts=facts)
    [finding] = [f for f in guest_findings(probe) if f.code == "ProxyNotBypassingWireServer"]
    assert finding.severity is Severity.ERROR and finding.guide == "000"
    assert finding.evidence_value("guest proxy") == "http://10.0.0.9:3128"
    bypassed = _root(tmp_path / "b", {"/etc/environment": 'https_proxy=http://p:3128\nno_proxy="localhost,168.63.129.16"\n'})
    assert "ProxyNotBypassingWireServer" not in _codes(_facts(bypassed))


@pytest.mark.parametrize(("mode", "log", "found"), [
    ("Enforcing", DENIAL * 3, True),
    ("Permissive", DENIAL, False),  # logged, not enforced
    ("Enforcing", DENIAL.replace("waagent", "sshd"), False),  # denials of something else
    (None, DENIAL, False),  # no SELinux at all (getenforce missing)
])
def test_selinux_denials_naming_waagent(tmp_path: Path, mode: str | None, log: str, found: bool) -> None:
    facts = _facts(_root(tmp_path, {"/var/log/audit/audit.log": log}, selinux=mode))
    assert facts["selinux"]["mode"] == (mode or "")
    assert facts["selinux"]["waagent_denials"] == (log.count("waagent_t") if "waagent" in log else 0)
    codes = _codes(facts)
    assert ("SELinuxDeniesAgent" in codes) is found


# ---- file systems, /var ------------------------------------------------------------------------------
def test_file_systems_not_clean_or_mounted_twice(tmp_path: Path) -> None:
    mounts = MOUNTS + "/dev/sdc1 /data ext4 rw 0 0\n/dev/sdc1 /srv/data ext4 rw 0 0\n/dev/sdd1 /mnt xfs rw 0 0\n"
    env = _root(tmp_path, {"/proc/mounts": mounts}, fs="/dev/sdb1 not clean with errors\n")
    facts = _facts(env)
    assert facts["mounts"] == {"duplicates": ["/dev/sdc1", "/mnt"], "not_clean": ["/dev/sdb1"]}
    titles = [f.title for f in guest_findings(GuestProbe("linux", "managed", facts=facts))
              if f.code == "UserErrorFsFreezeFailed"]
    assert len(titles) == 3 and "/dev/sdb1 is not clean" in titles[0]
    clean = _facts(_root(tmp_path / "clean", {"/proc/mounts": MOUNTS}))
    assert clean["mounts"] == {"duplicates": [], "not_clean": []}


@pytest.mark.parametrize(("kb", "found"), [(40 * 1024, True), (99 * 1024, True), (100 * 1024, False)])
def test_var_free_space_below_the_threshold(tmp_path: Path, kb: int, found: bool) -> None:
    facts = _facts(_root(tmp_path, {}, var_kb=kb))
    assert facts["var"] == {"free_mb": kb // 1024}
    assert ("GuestVarLowOnSpace" in _codes(facts)) is found


# ---- endpoints ------------------------------------------------------------------------------------------
def test_endpoints_come_from_the_parameter_and_only_no_name_refused_or_timeout_fail(tmp_path: Path) -> None:
    curl = "a.blob.core.windows.net:443 28\nb.blob.core.windows.net:443 6\nc.blob.core.windows.net:443 7\n" \
           "d.blob.core.windows.net:443 35\n"  # 35: a TLS error, so TCP did open
    env = _root(tmp_path, {}, curl=curl)
    asked = ("a.blob.core.windows.net:443", "b.blob.core.windows.net:443", "c.blob.core.windows.net:443",
             "d.blob.core.windows.net:443", "e.blob.core.windows.net:443")
    facts = _facts(env, ENDPOINTS=" ".join(asked))
    assert facts["endpoints"] == {"a.blob.core.windows.net:443": False, "b.blob.core.windows.net:443": False,
                                  "c.blob.core.windows.net:443": False, "d.blob.core.windows.net:443": True,
                                  "e.blob.core.windows.net:443": True}
    [finding] = [f for f in guest_findings(GuestProbe("linux", "managed", facts=facts, endpoints=asked,
                                                      endpoint_source="given"))
                 if f.code == "StorageUnreachableFromGuest"]
    assert [e.value for e in finding.evidence if e.label == "guest unreachable endpoint"] == list(asked[:3])
    assert _facts(env)["endpoints"] == {}


def test_no_endpoint_means_not_checked_never_healthy(tmp_path: Path) -> None:
    facts = _facts(_root(tmp_path, {}))
    codes = _codes(facts, endpoints=())
    assert codes == {"StorageReachabilityNotChecked": Severity.INFO}


def test_which_endpoint_a_vm_gets() -> None:
    ref = VmRef.parse("/subscriptions/a8383246-6edc-5168-a99f-ca020b3b8fc5/resourceGroups/rg/providers/"
                     "Microsoft.Compute/virtualMachines/vm")
    plain = VirtualMachine(ref, "eastus")
    diag = VirtualMachine(ref, "eastus", boot_diagnostics_storage_uri="https://diagacct.blob.core.windows.net/")
    assert probe_endpoints(diag, "other.blob.core.windows.net") == (("diagacct.blob.core.windows.net:443",),
                                                                     "boot diagnostics")
    assert probe_endpoints(plain, "https://other.blob.core.windows.net/x") == (
        ("other.blob.core.windows.net:443",), "given")
    assert probe_endpoints(plain, None) == ((), "")
    assert parse_endpoint("Proxy.Example.com:8443") == "proxy.example.com:8443"
    for bad in ("", "a b", "host:0", "host:99999", "ftp://host", "-bad-.com"):
        with pytest.raises(InvalidInputError, match="HOST\\[:PORT\\]"):
            parse_endpoint(bad)


# ---- Windows: the endpoint loop and the sandbox's directive argument --------------------------------------
def test_windows_probe_carries_the_endpoints_and_parses() -> None:
    script = probe_script("windows", ("diag.blob.core.windows.net:443", "x.example.com:8443"))
    assert "#azsandbox probe endpoints=diag.blob.core.windows.net:443,x.example.com:8443\n" in script
    assert "param([string]$ENDPOINTS = '')" in script and _parse_errors(script) == []
    guest = default_guest("Windows", "2.7.41491.1102")
    guest.blocked.append("x.example.com:8443")
    reply = json.loads(run_protocol(guest, script).stdout)
    assert reply["facts"]["endpoints"] == {"diag.blob.core.windows.net:443": True, "x.example.com:8443": False}
    path = json.loads(run_protocol(guest, script, storage_path=("nsg", "rule denies")).stdout)
    assert path["facts"]["endpoints"]["diag.blob.core.windows.net:443"] is False  # the network path decides
    bad = run_protocol(guest, "#azsandbox probe endpoints=nohost\n")
    assert bad.exit_code == 1 and "probe takes endpoints=" in json.loads(bad.stdout)["errors"][0]
