"""The guides' guest fixes, planned from a probe's facts (pure): same facts, same fixes; none once fixed."""

from __future__ import annotations

from typing import Any

from ..models.guest import GuestFix, GuestProbe

__all__ = ["BACKUP_PLUGIN_FOLDER", "HANDLER_STATE", "MACHINE_KEYS", "MACHINE_KEYS_DEFAULT_SDDL", "MIN_LINUX_AGENT",
           "NETWORK_SERVICE", "acl_is_default", "plan_guest_fixes", "plan_plugin_cleanup"]

NETWORK_SERVICE = "NT AUTHORITY\\NetworkService"
USEVSSCOPYBACKUP = "HKLM\\SOFTWARE\\Microsoft\\BcdrAgent\\USEVSSCOPYBACKUP"  # guide 001, with SQL Server
MSISERVER_START = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start"
# The full VMSnapshot reinstall on Windows deletes what the removed extension left: its plugin folder
# and its HandlerState keys (the agent's record of the handler).
BACKUP_PLUGIN_FOLDER = "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot"
HANDLER_STATE = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure\\HandlerState"
MIN_LINUX_AGENT = (2, 2, 10)  # background knowledge, as checks' CheckOptions
# Guide 001 (configuration parse failure): Everyone (R,W: the eight special rights it lists, with
# SYNCHRONIZE 0x12019f) and BUILTIN\Administrators (F); nothing else, not inherited.
MACHINE_KEYS = "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys"
MACHINE_KEYS_DEFAULT_SDDL = "O:SYG:SYD:PAI(A;;0x12019f;;;WD)(A;;FA;;;BA)"
_RIGHTS = {"FA": "0x1f01ff", "FR": "0x120089", "FW": "0x120116", "FX": "0x1200a0", "GA": "0x10000000"}


def _aces(sddl: str) -> frozenset[str]:
    dacl = str(sddl).partition("D:")[2].split("S:", 1)[0]
    out = set()
    for ace in dacl.split("(")[1:]:
        kind, flags, rights, *rest = ace.rstrip(")").split(";") + ["", "", ""]
        out.add(";".join((kind.upper(), flags.upper(), _RIGHTS.get(rights.upper(), rights.lower()), *rest[:2],
                          rest[2].upper())))
    return frozenset(out)


def acl_is_default(sddl: Any) -> bool:
    """The DACL grants what guide 001 documents for MachineKeys (order and spelling aside)."""
    return _aces(str(sddl or "")) == _aces(MACHINE_KEYS_DEFAULT_SDDL)


def _version(text: Any) -> tuple[int, ...]:
    out = []
    for part in str(text or "").split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def _network_service(account: Any) -> bool:
    return str(account or "").replace(" ", "").casefold() in ("ntauthority\\networkservice", "networkservice")


def _windows(facts: Any) -> list[GuestFix]:
    fixes: list[GuestFix] = []
    services = facts.get("services") or {}
    # VSS writers not Stable: restart the service that hosts each (guide 001); it interrupts what it serves.
    for writer in facts.get("vss_writers") or []:
        if str(writer.get("state", "")).casefold() != "stable" and writer.get("service"):
            fixes.append(GuestFix("restart-service", str(writer["service"]), before=writer.get("state"),
                                  disruptive=True))
    com = services.get("COMSysApp") or {}
    if com and com.get("state") != "running":
        msdtc = services.get("MSDTC") or {}
        if msdtc and not _network_service(msdtc.get("account")):
            fixes.append(GuestFix("set-service", "MSDTC.account", NETWORK_SERVICE, before=msdtc.get("account")))
            fixes.append(GuestFix("restart-service", "MSDTC", before=msdtc.get("state"), disruptive=True))
        fixes.append(GuestFix("start-service", "COMSysApp", before=com.get("state")))
    for key, value in (facts.get("strong_crypto") or {}).items():
        if value != 1:
            fixes.append(GuestFix("set-registry", f"{key}\\SchUseStrongCrypto", "1", before=value))
    if facts.get("msiserver_start") == 4:  # guide 001: the installer service must not be disabled
        fixes.append(GuestFix("set-registry", MSISERVER_START, "3", before=4))
    defender = facts.get("defender") or {}
    if defender.get("realtime"):
        have = {str(e).rstrip("\\").casefold() for e in defender.get("exclusions") or []}
        for folder in defender.get("plugin_folders") or []:
            if str(folder).casefold() not in have:
                fixes.append(GuestFix("add-defender-exclusion", str(folder), before=False))
    keys = facts.get("machine_keys") or {}
    if keys.get("sddl") and not acl_is_default(keys["sddl"]):  # the SDDL before is journaled, for undo
        fixes.append(GuestFix("set-acl", str(keys.get("path") or MACHINE_KEYS), "default", before=keys["sddl"]))
    sql = facts.get("sql_server") or {}
    if sql.get("instances") and str(sql.get("usevsscopybackup") or "").upper() != "TRUE":
        fixes.append(GuestFix("set-registry", USEVSSCOPYBACKUP, "TRUE", before=sql.get("usevsscopybackup")))
    return fixes


def _linux(facts: Any) -> list[GuestFix]:
    fixes: list[GuestFix] = []
    conf = facts.get("waagent_conf") or {}
    if conf.get("present") is not False and (
            str(conf.get("Extensions.Enable") or "y").lower() != "y"
            or str(conf.get("Provisioning.Agent") or "auto").lower() != "auto"):
        fixes.append(GuestFix("waagent-conf", "/etc/waagent.conf", "Extensions.Enable=y Provisioning.Agent=auto",
                              before=f"Extensions.Enable={conf.get('Extensions.Enable')} "
                                     f"Provisioning.Agent={conf.get('Provisioning.Agent')}"))
    version = (facts.get("agent") or {}).get("version")
    if version and _version(version) < MIN_LINUX_AGENT:
        fixes.append(GuestFix("agent-update", "walinuxagent", before=version))
    return fixes


def plan_plugin_cleanup(probe: GuestProbe | None) -> tuple[GuestFix, ...]:
    """The removed VMSnapshot's leftovers to delete (Windows, read from the probe); none once clean."""
    if probe is None or not probe.ok or probe.os_family == "linux":
        return ()
    plugin = probe.facts.get("vmsnapshot_plugin") or {}
    fixes = [GuestFix("remove-item", BACKUP_PLUGIN_FOLDER, before=True)] if plugin.get("folder") else []
    for key in plugin.get("handler_state") or []:
        if str(key).casefold().startswith(HANDLER_STATE.casefold() + "\\"):
            fixes.append(GuestFix("remove-item", str(key), before=True))
    return tuple(fixes)


def plan_guest_fixes(probe: GuestProbe | None) -> tuple[GuestFix, ...]:
    """What the guides prescribe for what the probe saw (nothing when there is no usable probe)."""
    if probe is None or not probe.ok:
        return ()
    facts = probe.facts
    return tuple(_linux(facts) if probe.os_family == "linux" else _windows(facts))
