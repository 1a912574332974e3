"""The guest model: what runs inside a VM, as far as backup cares (services, VSS writers, registry values,
files, the guest firewall, DHCP, Defender, the agent's own version), and the guest physics that follow
from it: which backup error the snapshot extension meets, and whether the agent can reach WireServer.

Estates describe it under a VM's `guest:` key (docs/estate-files.md); what they leave out is a clean
guest of the VM's OS family. Run Command changes it: Linux scripts really run against a fake root built
from it (`guest_linux`), PowerShell speaks a documented protocol (`guest_windows`)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WIRESERVER",
    "WIRESERVER_PORTS",
    "PLUGIN_FOLDERS",
    "STRONG_CRYPTO_KEYS",
    "MACHINE_KEYS",
    "MACHINE_KEYS_DEFAULT_SDDL",
    "dacl_aces",
    "GuestService",
    "VssWriter",
    "GuestModel",
    "default_guest",
    "guest_from_estate",
    "version_tuple",
]

WIRESERVER = "168.63.129.16"
WIRESERVER_PORTS = (80, 32526)
# Host names of Azure Storage (public and sovereign clouds): their reachability is the network path's.
STORAGE_SUFFIXES = (".core.windows.net", ".core.chinacloudapi.cn", ".core.usgovcloudapi.net")
# The folders guide 000 says to exclude from antivirus scanning.
PLUGIN_FOLDERS = (
    "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
    "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
)
# "For each .NET Framework version in the registry add SchUseStrongCrypto=dword:1" (guide 001).
STRONG_CRYPTO_KEYS = (
    "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319",
    "HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\.NETFramework\\v4.0.30319",
)
# Guide 001 (configuration parse failure): the MachineKeys folder's default permissions are Everyone with
# list/read data, read (extended) attributes, create files/write data, create folders/append data, write
# (extended) attributes and read permissions (0x12019f with SYNCHRONIZE), and BUILTIN\Administrators full.
MACHINE_KEYS = "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys"
MACHINE_KEYS_DEFAULT_SDDL = "O:SYG:SYD:PAI(A;;0x12019f;;;WD)(A;;FA;;;BA)"
_RIGHTS = {"FA": "0x1f01ff", "FR": "0x120089", "FW": "0x120116", "FX": "0x1200a0", "GA": "0x10000000"}
# Guide 001 (VM snapshot issues): with SQL Server, VSS full backups delay the snapshot; the fix is
# [HKLM\SOFTWARE\Microsoft\BcdrAgent] "USEVSSCOPYBACKUP"="TRUE".
USEVSSCOPYBACKUP = "HKLM\\SOFTWARE\\Microsoft\\BcdrAgent\\USEVSSCOPYBACKUP"
# Where the VMSnapshot handler's executable lives (AppLocker judges this path).
EXTENSION_EXE = ("C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot\\1.0.75.0\\"
                 "IaaSBcdrExtension.exe")
# What Windows leaves when a restart is pending: two keys and one value (checked by any entry under them).
PENDING_REBOOT = {
    "Component Based Servicing": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending\\",
    "Windows Update": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired\\",
    "PendingFileRenameOperations": "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\PendingFileRenameOperations",
}
# The VMSnapshot handler's state the agent keeps in the registry (one key per handler version).
HANDLER_STATE = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure\\HandlerState"
HANDLER_STATE_KEY = f"{HANDLER_STATE}\\Microsoft.Azure.RecoveryServices.VMSnapshot_1.0.75.0"
MSISERVER_START = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start"  # 3 manual, 4 disabled
NETWORK_SERVICE = "NT AUTHORITY\\NetworkService"
LOCAL_SYSTEM = "LocalSystem"
LINUX_AGENT_SERVICE = "walinuxagent"
WINDOWS_AGENT_SERVICE = "WindowsAzureGuestAgent"
DEFAULT_WAAGENT_CONF = (
    "# Microsoft Azure Linux Agent Configuration\n"
    "Provisioning.Agent=auto\n"
    "Extensions.Enable=y\n"
    "Logs.Verbose=n\n"
    "OS.EnableFirewall=y\n"
)
# The primary interface takes its address by DHCP (cloud-init's netplan on Ubuntu images).
DEFAULT_NETPLAN = ("/etc/netplan/50-cloud-init.yaml",
                   "network:\n    version: 2\n    ethernets:\n        eth0:\n            dhcp4: true\n")
DEFAULT_MOUNTS = ("/dev/sda1 / ext4 rw,relatime 0 0\n"
                  "/dev/sda15 /boot/efi vfat rw,relatime 0 0\n"
                  "/dev/sdb1 /mnt ext4 rw,relatime 0 0\n")
# Below this much free space under /var the snapshot extension cannot unpack or log (our threshold: the
# guides give none; the handler's package and logs under /var/lib/waagent and /var/log/azure need room).
MIN_VAR_FREE_MB = 100
# The oldest agents the backup extension runs with (background knowledge; see checks' CheckOptions).
MIN_BACKUP_AGENT = {"linux": (2, 2, 10), "windows": (2, 7, 41491, 0)}


def dacl_aces(sddl: str) -> frozenset[str]:
    """The DACL's access entries of an SDDL string, normalised (rights as hex, upper-case SIDs), so two
    spellings of one ACL compare equal; order does not matter to who may do what."""
    _, _, dacl = str(sddl).partition("D:")
    dacl = dacl.split("S:", 1)[0]
    out = set()
    for ace in dacl.split("(")[1:]:
        parts = ace.rstrip(")").split(";")
        if len(parts) >= 6:
            rights = _RIGHTS.get(parts[2].upper(), parts[2].lower())
            out.add(";".join((parts[0].upper(), parts[1].upper(), rights, parts[3], parts[4], parts[5].upper())))
    return frozenset(out)


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).strip().split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


@dataclass
class GuestService:
    state: str = "running"  # running | stopped
    start_type: str = "Automatic"  # Automatic | Manual | Disabled
    account: str = LOCAL_SYSTEM

    def to_estate(self) -> dict[str, Any]:
        return {"state": self.state, "startType": self.start_type, "account": self.account}


@dataclass
class VssWriter:
    name: str
    service: str  # the Windows service hosting the writer: restarting it resets the writer
    state: str = "Stable"  # Stable | Failed | Waiting for completion ...
    last_error: str = "No error"

    def to_estate(self) -> dict[str, Any]:
        return {"name": self.name, "service": self.service, "state": self.state, "lastError": self.last_error}


def _windows_services() -> dict[str, GuestService]:
    return {
        WINDOWS_AGENT_SERVICE: GuestService(),
        "RdAgent": GuestService(),
        "VSS": GuestService(start_type="Manual"),
        "COMSysApp": GuestService(start_type="Manual"),
        "MSDTC": GuestService(start_type="Manual", account=NETWORK_SERVICE),
        "msiserver": GuestService(state="stopped", start_type="Manual"),
        "CryptSvc": GuestService(account="NT AUTHORITY\\NetworkService"),
        "Winmgmt": GuestService(),
    }


def _windows_writers() -> list[VssWriter]:
    return [VssWriter("System Writer", "CryptSvc"), VssWriter("Registry Writer", "VSS"),
            VssWriter("COM+ REGDB Writer", "VSS"), VssWriter("WMI Writer", "Winmgmt")]


@dataclass
class GuestModel:
    os_family: str  # "windows" | "linux"
    agent_version: str
    services: dict[str, GuestService] = field(default_factory=dict)
    vss_writers: list[VssWriter] = field(default_factory=list)
    registry: dict[str, Any] = field(default_factory=dict)  # 'KEY\\ValueName' -> data
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> content (Linux)
    blocked: list[str] = field(default_factory=list)  # guest firewall drops, 'host:port'
    dhcp: bool = True
    defender_realtime: bool = True
    defender_exclusions: list[str] = field(default_factory=list)
    repository_agent_version: str = ""  # Linux: what the distribution's repository offers
    events: list[str] = field(default_factory=list)  # Application log entries (faulting IaaSBcdrExtension)
    # Linux (issue 14): what `getenforce` says ("" when SELinux is not installed), each block device's
    # ext* file-system state as `tune2fs -l` reports it, and the free space `df` reports under /var.
    selinux: str = ""
    fs_state: dict[str, str] = field(default_factory=dict)  # device -> "clean" | "not clean"
    var_free_mb: int = 20480
    acls: dict[str, str] = field(default_factory=dict)  # Windows folder -> its security descriptor (SDDL)
    applocker_enforced: bool = False  # executable rules enforced (not audit only)
    applocker_rules: list[dict[str, str]] = field(default_factory=list)  # {name, action Allow|Deny, path}
    bitlocker: dict[str, str] = field(default_factory=dict)  # volume -> Locked | Unlocked
    folders: list[str] = field(default_factory=list)  # Windows folders that exist (those the model tracks)
    # The VMSnapshot plugin's leftovers (its folder, its HandlerState keys) are corrupt: the uninstall
    # leaves them behind and every install of the extension fails on them until they are deleted.
    plugin_stale: bool = False

    # ---- the state Azure sees ------------------------------------------------------------------
    @property
    def linux(self) -> bool:
        return self.os_family == "linux"

    def service(self, name: str) -> GuestService | None:
        folded = name.casefold()
        return next((s for n, s in self.services.items() if n.casefold() == folded), None)

    def wireserver_blocked(self) -> list[int]:
        return [p for p in WIRESERVER_PORTS if f"{WIRESERVER}:{p}" in self.blocked]

    def waagent_option(self, name: str) -> str | None:
        """The value of `name` in /etc/waagent.conf (last assignment wins, as the agent reads it)."""
        value = None
        for line in self.files.get("/etc/waagent.conf", "").splitlines():
            key, sep, rest = line.strip().partition("=")
            if sep and not key.startswith("#") and key.strip() == name:
                value = rest.strip()
        return value

    def extensions_enabled(self) -> bool:
        return not self.linux or (self.waagent_option("Extensions.Enable") or "y").lower() == "y"

    def agent_running(self) -> bool:
        svc = self.service(LINUX_AGENT_SERVICE if self.linux else WINDOWS_AGENT_SERVICE)
        return svc is None or svc.state == "running"

    def agent_problem(self) -> str | None:
        """Why the agent cannot report Ready (to WireServer), or None."""
        if not self.agent_running():
            return "VM Agent is unresponsive."
        ports = self.wireserver_blocked()
        if ports:
            return (f"VM Agent is unresponsive: the guest cannot reach {WIRESERVER} on port(s) "
                    f"{', '.join(str(p) for p in ports)}.")
        if not self.dhcp:
            return "VM Agent is unresponsive: DHCP is disabled in the guest, no fabric address."
        return None

    # ---- Linux: the files decide ------------------------------------------------------------------
    def configured_dhcp(self) -> bool | None:
        """Whether the network configuration under /etc gives eth0 its address by DHCP (None: none found).
        It takes effect at boot; until then the interface keeps the lease it has (``dhcp``)."""
        for path, text in sorted(self.files.items()):
            if path.startswith("/etc/netplan/") and path.endswith(".yaml"):
                for line in text.splitlines():
                    key, _, value = line.strip().partition(":")
                    if key == "dhcp4":
                        return value.strip().lower() in ("true", "yes", "on")
        for path, text in sorted(self.files.items()):
            if path.startswith("/etc/systemd/network/") and path.endswith(".network"):
                for line in text.splitlines():
                    key, _, value = line.strip().partition("=")
                    if key == "DHCP":
                        return value.strip().lower() in ("yes", "true", "ipv4", "both")
        for path, text in sorted(self.files.items()):
            if path == "/etc/sysconfig/network-scripts/ifcfg-eth0":
                for line in text.splitlines():
                    key, _, value = line.strip().partition("=")
                    if key == "BOOTPROTO":
                        return value.strip().strip('"').lower() == "dhcp"
        for line in self.files.get("/etc/network/interfaces", "").splitlines():
            words = line.split()
            if words[:3] == ["iface", "eth0", "inet"] and len(words) > 3:
                return words[3] == "dhcp"
        return None

    def boot(self) -> None:
        """A reboot applies the network configuration: DHCP off in it drops the lease."""
        if self.linux:
            configured = self.configured_dhcp()
            if configured is not None:
                self.dhcp = configured

    def env_proxy(self) -> tuple[str | None, bool]:
        """(the proxy /etc/environment sets, whether no_proxy lets 168.63.129.16 bypass it)."""
        values: dict[str, str] = {}
        for line in self.files.get("/etc/environment", "").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep:
                values[key.strip().lower()] = value.strip().strip('"').strip("'")
        proxy = values.get("https_proxy") or values.get("http_proxy")
        bypass = [w.strip() for w in values.get("no_proxy", "").split(",")]
        return proxy or None, WIRESERVER in bypass

    def selinux_denials(self) -> int:
        """AVC denials naming waagent in the audit log."""
        log = self.files.get("/var/log/audit/audit.log", "")
        return sum(1 for line in log.splitlines() if "avc:" in line and "denied" in line and "waagent" in line)

    def mounts(self) -> list[tuple[str, str, str]]:
        """(device, mount point, type) of /proc/mounts."""
        out = []
        for line in self.files.get("/proc/mounts", "").splitlines():
            words = line.split()
            if len(words) >= 3:
                out.append((words[0], words[1], words[2]))
        return out

    def freeze_problem(self) -> str | None:
        """Why fsfreeze cannot freeze every mount point (guide 001), or None."""
        mounts = [m for m in self.mounts() if m[0].startswith("/dev/")]
        dirty = sorted({d for d, _, t in mounts if t.startswith("ext") and self.fs_state.get(d, "clean") != "clean"})
        if dirty:
            return f"file system on {', '.join(dirty)} is not clean"
        seen: dict[str, str] = {}
        for device, point, _ in mounts:
            if point in seen.values() or device in seen:
                return f"{device} is mounted twice ({seen.get(device) or point}, {point})"
            seen[device] = point
        return None

    def reaches(self, host: str, port: int, storage_path: tuple[str, str] | None) -> bool:
        """Whether a TCP connection from the guest to host:port opens: the guest firewall first, then, for a
        storage host, the VM's network path (``storage_path``: why it is blocked, or None). The same rule as
        the Linux `curl` shim's (guest_linux)."""
        if f"{host}:{port}" in self.blocked:
            return False
        storage = any(host.lower().endswith(s) for s in STORAGE_SUFFIXES)
        return not (storage and host != WIRESERVER and storage_path)

    def plugin_excluded(self) -> bool:
        folded = {e.rstrip("\\").casefold() for e in self.defender_exclusions}
        return all(p.casefold() in folded for p in PLUGIN_FOLDERS)

    def machine_keys_default(self) -> bool:
        sddl = self.acls.get(MACHINE_KEYS, MACHINE_KEYS_DEFAULT_SDDL)
        return dacl_aces(sddl) == dacl_aces(MACHINE_KEYS_DEFAULT_SDDL)

    def sql_instances(self) -> list[str]:
        """SQL Server's database engine services (MSSQLSERVER, MSSQL$<instance>) that run."""
        return sorted(n for n, s in self.services.items()
                      if (n.upper() == "MSSQLSERVER" or n.upper().startswith("MSSQL$")) and s.state == "running")

    def applocker_decision(self, path: str = EXTENSION_EXE) -> tuple[str, str | None]:
        """AppLocker's verdict on running ``path`` (as Test-AppLockerPolicy names it) and the rule deciding it:
        a Deny rule wins, then an Allow rule; with enforced rules and no match the default is to deny."""
        if not self.applocker_enforced or not self.applocker_rules:
            return "Allowed", None
        folded = path.casefold()

        def matches(rule: dict[str, str]) -> bool:
            pattern = str(rule.get("path", "")).replace("%OSDRIVE%", "C:").replace("%SYSTEMDRIVE%", "C:")
            return fnmatch.fnmatchcase(folded, pattern.casefold())

        for action, decision in (("deny", "Denied"), ("allow", "Allowed")):
            rule = next((r for r in self.applocker_rules if str(r.get("action", "")).casefold() == action
                         and matches(r)), None)
            if rule is not None:
                return decision, str(rule.get("name") or rule.get("path"))
        return "DeniedByDefault", None

    def locked_volumes(self) -> list[str]:
        return sorted(v for v, state in self.bitlocker.items() if state.casefold() == "locked")

    def pending_reboot(self) -> list[str]:
        return [why for why, key in PENDING_REBOOT.items()
                if any(k.casefold().startswith(key.casefold()) for k in self.registry)]

    def plugin_leftovers(self) -> list[str]:
        """The VMSnapshot plugin folder and HandlerState keys present in the guest."""
        folder = [f for f in self.folders if f.casefold() == PLUGIN_FOLDERS[0].casefold()]
        prefix = (HANDLER_STATE + "\\Microsoft.Azure.RecoveryServices.VMSnapshot").casefold()
        keys = sorted({k.rsplit("\\", 1)[0] for k in self.registry if k.casefold().startswith(prefix)})
        return folder + keys

    def plugin_uninstalled(self) -> None:
        """The handler's uninstall (the extension removed through ARM) deletes its folder and state,
        unless they are corrupt."""
        if self.linux or self.plugin_stale:
            return
        for item in self.plugin_leftovers():
            self.remove(item)

    def plugin_installed(self) -> bool:
        """Install the handler: False (and nothing changes) while corrupt leftovers are in the way."""
        if self.linux:
            return True
        if self.plugin_stale and self.plugin_leftovers():
            return False
        self.plugin_stale = False
        if PLUGIN_FOLDERS[0] not in self.folders:
            self.folders.append(PLUGIN_FOLDERS[0])
        self.registry[f"{HANDLER_STATE_KEY}\\State"] = "Enabled"
        return True

    def remove(self, path: str) -> list[str]:
        """Delete a folder or a registry key (with everything under it; wildcards in names); what went."""
        folded = path.casefold()
        gone = [f for f in self.folders if fnmatch.fnmatchcase(f.casefold(), folded)]
        self.folders = [f for f in self.folders if f not in gone]
        keys = {k.rsplit("\\", 1)[0] for k in self.registry}
        matched = sorted(k for k in keys if fnmatch.fnmatchcase(k.casefold(), folded))
        for key in matched:
            for name in [n for n in self.registry if n.casefold().startswith(key.casefold() + "\\")]:
                del self.registry[name]
        if self.plugin_stale and not self.plugin_leftovers():
            self.plugin_stale = False  # the corrupt state lived in what was deleted
        return gone + matched

    def backup_failure(self) -> tuple[str, int, str] | None:
        """(errorTitle, errorCode, message) of what stops the snapshot extension inside this guest, or None.
        Codes marked guessed are plausible values; clients match on the title (DESIGN §3)."""
        if self.linux:
            if not self.extensions_enabled():
                return ("GuestAgentSnapshotTaskStatusError", 400168,  # code guessed
                        "Could not communicate with the VM agent for snapshot status: the agent does not "
                        "process extensions (Extensions.Enable=n in /etc/waagent.conf).")
            if version_tuple(self.agent_version) < MIN_BACKUP_AGENT["linux"]:
                return ("GuestAgentSnapshotTaskStatusError", 400168,
                        f"Could not communicate with the VM agent for snapshot status: WALinuxAgent "
                        f"{self.agent_version} is out of date.")
            return self._linux_failure()
        if self.defender_realtime and not self.plugin_excluded():
            return ("GuestAgentSnapshotTaskStatusError", 400168,
                    "Could not communicate with the VM agent for snapshot status: IaaSBcdrExtension.exe was "
                    "stopped by the antivirus (see the Application log).")
        decision, rule = self.applocker_decision()
        if decision != "Allowed":
            return ("GuestAgentSnapshotTaskStatusError", 400168,
                    "Could not communicate with the VM agent for snapshot status: AppLocker blocked "
                    f"IaaSBcdrExtension.exe ({decision}{f', rule {rule}' if rule else ''}).")
        com = self.service("COMSysApp")
        if com is not None and com.state != "running":
            return ("ExtensionSnapshotFailedCOM", 400188,  # code guessed
                    "Snapshot operation failed due to COM+ error.")
        bad = [w for w in self.vss_writers if w.state.casefold() != "stable"]
        if bad:
            return ("ExtensionFailedVssWriterInBadState", 400195,  # code guessed
                    "Snapshot operation failed because VSS writers were in a bad state: "
                    + ", ".join(f"{w.name} ({w.state})" for w in bad) + ".")
        locked = self.locked_volumes()
        if locked:
            return ("ExtensionSnapshotFailedBitLocker", 400197,  # title and code guessed; guide 001's message
                    "Snapshot operation failed with VSS operation error: This drive is locked by BitLocker Drive "
                    f"Encryption. You must unlock this drive from Control Panel ({', '.join(locked)}).")
        if not self.machine_keys_default():
            return ("ExtensionConfigParsingFailure", 400190,  # code guessed
                    "Failure in parsing the config: the permissions on the MachineKeys directory "
                    f"({MACHINE_KEYS}) were changed.")
        if self.registry.get(MSISERVER_START) == 4:
            return ("ExtensionVCRedistInstallationFailure", 400203,  # code guessed
                    "Snapshot operation failed because of failure to install Visual C++ Redistributable for "
                    "Visual Studio 2012 (the Windows Installer service msiserver is disabled).")
        if any(self.registry.get(f"{key}\\SchUseStrongCrypto") != 1 for key in STRONG_CRYPTO_KEYS):
            return ("ExtensionFailedSecureNetworkChannel", 400201,  # title and code guessed
                    "Snapshot operation failed due to failure in creating secure network communication channel.")
        if self.sql_instances() and str(self.registry.get(USEVSSCOPYBACKUP, "")).upper() != "TRUE":
            return ("GuestAgentSnapshotTaskStatusError", 400168,
                    "Could not communicate with the VM agent for snapshot status: the snapshot task was delayed "
                    f"by a VSS full backup of SQL Server ({', '.join(self.sql_instances())}); "
                    "USEVSSCOPYBACKUP is not set.")
        return None

    def _linux_failure(self) -> tuple[str, int, str] | None:
        proxy, bypass = self.env_proxy()
        if proxy and not bypass:
            return ("ExtensionSnapshotFailedNoNetwork", 400275,  # code guessed
                    f"Snapshot operation failed due to no network connectivity on the virtual machine: the guest's "
                    f"proxy {proxy} does not let {WIRESERVER} bypass it.")
        if self.selinux.lower() == "enforcing" and self.selinux_denials():
            return ("GuestAgentSnapshotTaskStatusError", 400168,
                    "Could not communicate with the VM agent for snapshot status: SELinux denies waagent access "
                    "to /var/lib/waagent (exclude the agent's path from the security policy).")
        if self.var_free_mb < MIN_VAR_FREE_MB:
            return ("GuestAgentSnapshotTaskStatusError", 400168,
                    f"Could not communicate with the VM agent for snapshot status: /var has {self.var_free_mb} MB "
                    "free; the snapshot extension cannot write its status.")
        frozen = self.freeze_problem()
        if frozen:
            return ("UserErrorFsFreezeFailed", 400225,  # title and code guessed
                    f"Backup failed to freeze one or more mount points of the VM to take a file-system consistent "
                    f"snapshot: {frozen}.")
        return None

    def record_blocked_extension(self) -> None:
        """What a blocked extension leaves in the Application log (guide 000: IaaSBcdrExtension.exe)."""
        entry = "Application Error 1000: Faulting application name: IaaSBcdrExtension.exe"
        if entry not in self.events:
            self.events.append(entry)

    # ---- estates -------------------------------------------------------------------------------
    def to_estate(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agentVersion": self.agent_version,
            "services": {n: s.to_estate() for n, s in sorted(self.services.items())},
            "dhcp": self.dhcp,
            "firewall": {"blocked": list(self.blocked)},
        }
        clean = default_guest(self.os_family, self.agent_version)
        if self.linux:
            # A default file or value the guest lacks is written as null, so loading the estate removes it.
            out["files"] = {**{k: None for k in clean.files if k not in self.files}, **dict(sorted(self.files.items()))}
            out["repositoryAgentVersion"] = self.repository_agent_version
            out["selinux"] = self.selinux
            out["fileSystemState"] = dict(sorted(self.fs_state.items()))
            out["varFreeMB"] = self.var_free_mb
        else:
            out["vssWriters"] = [w.to_estate() for w in self.vss_writers]
            out["registry"] = {**{k: None for k in clean.registry if k not in self.registry},
                               **dict(sorted(self.registry.items()))}
            out["defender"] = {"realTimeProtection": self.defender_realtime,
                               "exclusions": list(self.defender_exclusions)}
            out["events"] = list(self.events)
            out["acls"] = dict(sorted(self.acls.items()))
            out["appLocker"] = {"enforced": self.applocker_enforced, "rules": [dict(r) for r in self.applocker_rules]}
            out["bitLocker"] = dict(sorted(self.bitlocker.items()))
            out["folders"] = list(self.folders)
            out["vmSnapshotPlugin"] = {"stale": self.plugin_stale}
        return out


def default_guest(os_type: str, agent_version: str) -> GuestModel:
    """A clean guest of the OS family: every service up, writers stable, the guides' settings in place."""
    if os_type.lower() == "linux":
        return GuestModel(
            "linux", agent_version,
            services={LINUX_AGENT_SERVICE: GuestService(), "systemd-networkd": GuestService()},
            files={"/etc/waagent.conf": DEFAULT_WAAGENT_CONF,
                   "/etc/os-release": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n',
                   DEFAULT_NETPLAN[0]: DEFAULT_NETPLAN[1], "/proc/mounts": DEFAULT_MOUNTS},
            repository_agent_version="2.11.1.12",
        )
    registry: dict[str, Any] = {f"{key}\\SchUseStrongCrypto": 1 for key in STRONG_CRYPTO_KEYS}
    registry[MSISERVER_START] = 3
    registry[f"{HANDLER_STATE_KEY}\\State"] = "Enabled"
    return GuestModel("windows", agent_version, services=_windows_services(), vss_writers=_windows_writers(),
                      registry=registry, defender_exclusions=list(PLUGIN_FOLDERS),
                      acls={MACHINE_KEYS: MACHINE_KEYS_DEFAULT_SDDL}, folders=[PLUGIN_FOLDERS[0]])


def guest_from_estate(os_type: str, agent_version: str, raw: dict[str, Any] | None) -> GuestModel:
    """The clean guest with an estate's validated `guest:` mapping laid over it (see scenarios/guest.py)."""
    guest = default_guest(os_type, agent_version)
    if not raw:
        return guest
    if raw.get("agentVersion"):
        guest.agent_version = str(raw["agentVersion"])
    for name, svc in (raw.get("services") or {}).items():
        current = guest.service(name) or GuestService()
        guest.services = {n: s for n, s in guest.services.items() if n.casefold() != name.casefold()}
        guest.services[name] = GuestService(svc.get("state", current.state), svc.get("startType", current.start_type),
                                            svc.get("account", current.account))
    if "vssWriters" in raw:
        guest.vss_writers = [VssWriter(w["name"], w.get("service", "VSS"), w.get("state", "Stable"),
                                       w.get("lastError", "No error")) for w in raw["vssWriters"]]
    for key, value in (raw.get("registry") or {}).items():
        if value is None:
            guest.registry.pop(key, None)
        else:
            guest.registry[key] = value
    for path, content in (raw.get("files") or {}).items():
        if content is None:
            guest.files.pop(path, None)
        else:
            guest.files[path] = str(content)
    if "firewall" in raw:
        guest.blocked = [str(b) for b in (raw["firewall"] or {}).get("blocked", [])]
    if "dhcp" in raw:
        guest.dhcp = bool(raw["dhcp"])
    defender = raw.get("defender") or {}
    if "realTimeProtection" in defender:
        guest.defender_realtime = bool(defender["realTimeProtection"])
    if "exclusions" in defender:
        guest.defender_exclusions = [str(e) for e in defender["exclusions"]]
    if raw.get("repositoryAgentVersion"):
        guest.repository_agent_version = str(raw["repositoryAgentVersion"])
    if "events" in raw:
        guest.events = [str(e) for e in raw["events"]]
    if "selinux" in raw:
        guest.selinux = str(raw["selinux"] or "")
    if "fileSystemState" in raw:
        guest.fs_state = {str(k): str(v) for k, v in (raw["fileSystemState"] or {}).items()}
    if "varFreeMB" in raw:
        guest.var_free_mb = int(raw["varFreeMB"])
    for path, sddl in (raw.get("acls") or {}).items():
        guest.acls[path] = str(sddl)
    applocker = raw.get("appLocker") or {}
    if "enforced" in applocker:
        guest.applocker_enforced = bool(applocker["enforced"])
    if "rules" in applocker:
        guest.applocker_rules = [dict(r) for r in applocker["rules"]]
    guest.bitlocker.update({str(v): str(state) for v, state in (raw.get("bitLocker") or {}).items()})
    if "folders" in raw:
        guest.folders = [str(f) for f in raw["folders"]]
    if "vmSnapshotPlugin" in raw:
        guest.plugin_stale = bool((raw["vmSnapshotPlugin"] or {}).get("stale", False))
    return guest
