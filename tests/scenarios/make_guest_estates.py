"""Regenerate the guest estates (azbackup_sandbox/estates/guest-*.yaml) from healthy.yaml: vm-app-01 gets the
guest state of each case, then one nightly backup runs through the job engine, so the job history is the
physics' answer. Run: .venv/bin/python tests/scenarios/make_guest_estates.py"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from azbackup_sandbox import Sandbox
from azbackup_sandbox.scenarios.files import ESTATES_DIR, dump_yaml

PLUGINS = ["C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
           "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot"]
NET = "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto"
MACHINE_KEYS = "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys"
NET32 = "HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto"
NETPLAN_STATIC = ("network:\n    version: 2\n    ethernets:\n        eth0:\n            dhcp4: false\n"
                  "            addresses: [10.0.1.4/24]\n            routes:\n                - to: default\n"
                  "                  via: 10.0.1.1\n")
AUDIT_DENIALS = ('type=AVC msg=audit(1793523120.412:311): avc:  denied  { write } for  pid=1187 comm="waagent" '
                 'name="waagent" dev="sda2" ino=1048602 scontext=system_u:system_r:waagent_t:s0 '
                 'tcontext=system_u:object_r:var_lib_t:s0 tclass=dir permissive=0\n'
                 'type=AVC msg=audit(1793523121.007:312): avc:  denied  { create } for  pid=1187 comm="waagent" '
                 'name="Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0" scontext=system_u:system_r:waagent_t:s0 '
                 'tcontext=system_u:object_r:var_lib_t:s0 tclass=dir permissive=0\n')

CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "guest-vss-writer-failed": ("Windows", "a VSS writer Failed (ExtensionFailedVssWriterInBadState)", {
        "services": {"SQLWriter": {"state": "running"}},
        "vssWriters": [{"name": "System Writer", "service": "CryptSvc"},
                       {"name": "SqlServerWriter", "service": "SQLWriter", "state": "Failed",
                        "lastError": "Non-retryable error"}]}),
    "guest-complus-stopped": ("Windows", "COM+ System Application stopped, MSDTC logs on as LocalSystem "
                              "(ExtensionSnapshotFailedCOM)", {
        "services": {"COMSysApp": {"state": "stopped"}, "MSDTC": {"account": "LocalSystem"}}}),
    "guest-strong-crypto-missing": ("Windows", "SchUseStrongCrypto not set (ExtensionFailedSecureNetworkChannel)", {
        "registry": {NET: None, NET32: None}}),
    "guest-defender-blocking": ("Windows", "Defender real-time protection without the plugin folder exclusions "
                                "stops IaaSBcdrExtension.exe (GuestAgentSnapshotTaskStatusError)", {
        "defender": {"realTimeProtection": True, "exclusions": []}}),
    "guest-linux-extensions-disabled": ("Linux", "Extensions.Enable=n in waagent.conf: Run Command cannot run "
                                        "(GuestAgentSnapshotTaskStatusError)", {
        "files": {"/etc/waagent.conf": "Provisioning.Agent=auto\nExtensions.Enable=n\n"}}),
    "guest-linux-agent-outdated": ("Linux", "WALinuxAgent 2.2.9, older than the backup extension needs "
                                   "(GuestAgentSnapshotTaskStatusError)", {
        "agentVersion": "2.2.9"}),
    "guest-firewall-wireserver": ("Windows", "guest firewall drops 168.63.129.16:80 and :32526: agent Not Ready "
                                  "(UserErrorGuestAgentStatusUnavailable)", {
        "firewall": {"blocked": ["168.63.129.16:80", "168.63.129.16:32526"]}}),
    "guest-machinekeys-acl": ("Windows", "the MachineKeys folder's permissions changed: Everyone may only read, "
                              "BUILTIN\\Users got full control (ExtensionConfigParsingFailure)", {
        "acls": {MACHINE_KEYS: "O:SYG:SYD:PAI(A;;0x120089;;;WD)(A;;FA;;;BA)(A;;FA;;;BU)"}}),
    "guest-sql-vss-full-backup": ("Windows", "SQL Server runs and USEVSSCOPYBACKUP is not set: the VSS full backup "
                                  "delays the snapshot (GuestAgentSnapshotTaskStatusError)", {
        "services": {"MSSQLSERVER": {"state": "running"}, "SQLWriter": {"state": "running"}},
        "vssWriters": [{"name": "System Writer", "service": "CryptSvc"},
                       {"name": "SqlServerWriter", "service": "SQLWriter"}]}),
    "guest-applocker-blocking": ("Windows", "an enforced AppLocker rule denies executables under C:\\Packages: "
                                 "IaaSBcdrExtension.exe cannot run (GuestAgentSnapshotTaskStatusError)", {
        "appLocker": {"enforced": True, "rules": [
            {"name": "Deny Packages", "action": "Deny", "path": "%OSDRIVE%\\Packages\\*"},
            {"name": "Allow Windows", "action": "Allow", "path": "%WINDIR%\\*"}]}}),
    "guest-bitlocker-locked": ("Windows", "BitLocker has locked data volume F: (ExtensionSnapshotFailedBitLocker)", {
        "bitLocker": {"C:": "Unlocked", "F:": "Locked"}}),
    "guest-reboot-pending": ("Windows", "a restart is pending (Windows Update): reported, the backups succeed", {
        "registry": {"HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\"
                     "RebootRequired\\(default)": ""}}),
    "guest-vmsnapshot-stale-plugin": ("Windows", "the VMSnapshot extension Failed, its plugin folder and HandlerState "
                                      "keys corrupt: the last two backups failed and a plain reinstall fails again "
                                      "(UserErrorVmProvisioningStateFailed)", {
        "vmSnapshotPlugin": {"stale": True}}),

    "guest-clean": ("Windows", "a clean guest: the probes find nothing (storage on 443 tested through the "
                    "boot-diagnostics account), backups succeed", {}),
    # issue 14, the Linux probes
    "guest-linux-dhcp-off": ("Linux", "netplan turns DHCP off on eth0; the lease holds until the next boot "
                             "(GuestDhcpDisabled; a restart leaves the agent Not Ready)", {
        "files": {"/etc/netplan/50-cloud-init.yaml": NETPLAN_STATIC}}),
    "guest-linux-proxy": ("Linux", "/etc/environment sets a proxy that 168.63.129.16 does not bypass "
                          "(ExtensionSnapshotFailedNoNetwork)", {
        "files": {"/etc/environment": 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n'
                                      'http_proxy="http://10.0.0.9:3128"\nhttps_proxy="http://10.0.0.9:3128"\n'
                                      'no_proxy="localhost,127.0.0.1"\n'}}),
    "guest-linux-selinux-denials": ("Linux", "SELinux enforcing denies waagent (AVC denials in the audit log; "
                                    "GuestAgentSnapshotTaskStatusError)", {
        "selinux": "Enforcing",
        "files": {"/etc/os-release": 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\n',
                  "/var/log/audit/audit.log": AUDIT_DENIALS}}),
    "guest-linux-fs-not-clean": ("Linux", "the ext4 file system on /dev/sdc1 is not clean (UserErrorFsFreezeFailed)", {
        "fileSystemState": {"/dev/sdc1": "not clean"},
        "files": {"/proc/mounts": "/dev/sda1 / ext4 rw,relatime 0 0\n/dev/sda15 /boot/efi vfat rw,relatime 0 0\n"
                                  "/dev/sdb1 /mnt ext4 rw,relatime 0 0\n/dev/sdc1 /data ext4 rw,relatime 0 0\n"}}),
    "guest-linux-var-full": ("Linux", "40 MB free under /var (GuestAgentSnapshotTaskStatusError)", {
        "varFreeMB": 40}),
}
# Keys of vm-app-01 itself, beside its guest.
VM_KEYS: dict[str, dict[str, Any]] = {
    "guest-clean": {"bootDiagnosticsStorageUri": "https://diagcontosoeastus.blob.core.windows.net/"},
}


STALE_PLUGIN = ("guest-vmsnapshot-stale-plugin",)


def _linux(vm: dict[str, Any]) -> None:
    vm.update({"osType": "Linux", "osName": "ubuntu", "osVersion": "22.04"})
    vm["osDisk"] = {"diskSizeGB": 30}
    vm["vmAgent"]["vmAgentVersion"] = "2.11.1.12"
    for ext in vm["extensions"]:
        if ext["publisher"] == "Microsoft.Azure.RecoveryServices":
            ext.update({"name": "VMSnapshotLinux", "type": "VMSnapshotLinux", "typeHandlerVersion": "1.0"})
    vm["extensions"] = [e for e in vm["extensions"] if e["name"] != "BGInfo"]


def main() -> None:
    base = yaml.safe_load((ESTATES_DIR / "healthy.yaml").read_text(encoding="utf-8"))
    for name, (os_type, what, guest) in CASES.items():
        doc = copy.deepcopy(base)
        sub = doc["subscriptions"][0]
        vm = next(v for v in sub["vms"] if v["name"] == "vm-app-01")
        if os_type == "Linux":
            _linux(vm)
        vm["guest"] = guest
        vm.update(VM_KEYS.get(name, {}))
        item = next(i for v in sub["vaults"] for i in v["protectedItems"] if i["vm"]["name"] == "vm-app-01")
        item["runBackups"] = 1
        if name in STALE_PLUGIN:  # the extension failed on the corrupt plugin state, twice in a row
            ext = next(e for e in vm["extensions"] if e["publisher"] == "Microsoft.Azure.RecoveryServices")
            ext.update({"provisioningState": "Failed", "causePersists": True,
                        "statusMessage": "Enable failed: the plugin's existing state could not be loaded."})
            item["runBackups"] = 2
        description = f"{os_type} VM: {what}; plus a healthy neighbour"
        doc.update({"name": name, "description": description})
        sb = Sandbox(estate=doc)
        out = sb.export_estate()
        out["name"], out["description"] = name, description
        header = (f"# {name}: {description}\n"
                  "# The estate file format: docs/estate-files.md. Job histories are what the job engine produced.\n"
                  "# Regenerate with tests/scenarios/make_guest_estates.py.\n")
        Path(ESTATES_DIR / f"{name}.yaml").write_text(header + dump_yaml(out), encoding="utf-8")


if __name__ == "__main__":
    main()
