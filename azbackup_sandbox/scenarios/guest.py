"""The `guest:` mapping of a VM in an estate: what runs inside it (docs/estate-files.md, "guest").

Validated here into a plain mapping in the estate's own spelling; the Compute provider lays it over a
clean guest of the VM's OS family (`providers/compute/guest.py`)."""

from __future__ import annotations

from typing import Any

from .reader import EstateError, Fields, describe, join_path

__all__ = ["GUEST_KEYS", "parse_guest"]

GUEST_KEYS: dict[str, tuple[str, ...]] = {
    "guest": ("agentVersion", "services", "vssWriters", "registry", "files", "firewall", "dhcp", "defender",
              "repositoryAgentVersion", "events", "selinux", "fileSystemState", "varFreeMB", "acls",
              "appLocker", "bitLocker", "folders", "vmSnapshotPlugin"),
    "vmSnapshotPlugin": ("stale",),
    "appLocker": ("enforced", "rules"),
    "appLockerRule": ("name", "action", "path"),
    "service": ("state", "startType", "account"),
    "vssWriter": ("name", "service", "state", "lastError"),
    "firewall": ("blocked",),
    "defender": ("realTimeProtection", "exclusions"),
}
SERVICE_STATES = ("running", "stopped")
START_TYPES = ("Automatic", "Manual", "Disabled")
WRITER_STATES = ("Stable", "Failed", "Waiting for completion", "Retryable error")
SELINUX_MODES = ("", "Enforcing", "Permissive", "Disabled")  # "": not installed
FS_STATES = ("clean", "not clean")


def _strings(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EstateError(path, f"expected a list of strings, got {describe(value)}")
    return list(value)


def parse_guest(raw: Any, path: str, os_type: str) -> dict[str, Any]:
    f = Fields(raw, path, GUEST_KEYS["guest"])
    out: dict[str, Any] = {}
    for key in ("agentVersion", "repositoryAgentVersion"):
        if f.has(key):
            out[key] = f.text(key)
    services: dict[str, Any] = {}
    for name, svc in f.mapping("services").items():
        s = Fields(svc, join_path(f.at("services"), name), GUEST_KEYS["service"])
        entry: dict[str, Any] = {}
        if s.has("state"):
            entry["state"] = s.choice("state", SERVICE_STATES)
        if s.has("startType"):
            entry["startType"] = s.choice("startType", START_TYPES)
        if s.has("account"):
            entry["account"] = s.text("account")
        services[name] = entry
    if services:
        out["services"] = services
    if f.has("vssWriters"):
        if os_type != "Windows":
            raise EstateError(f.at("vssWriters"), "expected no VSS writers on a Linux VM")
        writers = []
        for index, raw_writer in enumerate(f.items("vssWriters")):
            w = Fields(raw_writer, join_path(f.at("vssWriters"), index), GUEST_KEYS["vssWriter"])
            writers.append({"name": w.text("name"), "service": w.text("service", "VSS"),
                            "state": w.choice("state", WRITER_STATES, "Stable"),
                            "lastError": w.text("lastError", "No error")})
        out["vssWriters"] = writers
    registry = f.mapping("registry")
    for key, value in registry.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            raise EstateError(join_path(f.at("registry"), key), f"expected a DWORD, a string or null, got {describe(value)}")
    if registry:
        out["registry"] = registry
    files = f.mapping("files")
    for name, content in files.items():
        if not name.startswith("/"):
            raise EstateError(join_path(f.at("files"), name), "expected an absolute path")
        if content is not None and not isinstance(content, str):
            raise EstateError(join_path(f.at("files"), name), f"expected the file's text or null, got {describe(content)}")
    if files:
        if os_type != "Linux":
            raise EstateError(f.at("files"), "expected files only on a Linux VM")
        out["files"] = files
    if f.has("firewall"):
        fw = Fields(f.raw("firewall"), f.at("firewall"), GUEST_KEYS["firewall"])
        blocked = _strings(fw.raw("blocked", []), fw.at("blocked"))
        for index, item in enumerate(blocked):
            host, sep, port = item.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise EstateError(join_path(fw.at("blocked"), index), f"expected host:port, got '{item}'")
        out["firewall"] = {"blocked": blocked}
    if f.has("dhcp"):
        out["dhcp"] = f.flag("dhcp", True)
    if f.has("defender"):
        d = Fields(f.raw("defender"), f.at("defender"), GUEST_KEYS["defender"])
        defender: dict[str, Any] = {}
        if d.has("realTimeProtection"):
            defender["realTimeProtection"] = d.flag("realTimeProtection", True)
        if d.has("exclusions"):
            defender["exclusions"] = _strings(d.raw("exclusions"), d.at("exclusions"))
        out["defender"] = defender
    if f.has("events"):
        out["events"] = _strings(f.raw("events"), f.at("events"))
    linux_only = [k for k in ("selinux", "fileSystemState", "varFreeMB") if f.has(k)]
    if linux_only and os_type != "Linux":
        raise EstateError(f.at(linux_only[0]), "expected only on a Linux VM")
    if f.has("selinux"):
        out["selinux"] = f.choice("selinux", SELINUX_MODES)
    if f.has("fileSystemState"):
        states = f.mapping("fileSystemState")
        for device, state in states.items():
            if not str(device).startswith("/dev/") or state not in FS_STATES:
                raise EstateError(join_path(f.at("fileSystemState"), device),
                                  f"expected a /dev/ device mapped to one of {', '.join(FS_STATES)}, got {describe(state)}")
        out["fileSystemState"] = states
    if f.has("varFreeMB"):
        out["varFreeMB"] = f.integer("varFreeMB", minimum=0)
    acls = f.mapping("acls")
    for folder, sddl in acls.items():
        if not isinstance(sddl, str) or not sddl.startswith(("O:", "G:", "D:")):
            raise EstateError(join_path(f.at("acls"), folder), f"expected an SDDL string, got {describe(sddl)}")
    if acls:
        if os_type != "Windows":
            raise EstateError(f.at("acls"), "expected folder ACLs only on a Windows VM")
        out["acls"] = acls
    if f.has("appLocker"):
        if os_type != "Windows":
            raise EstateError(f.at("appLocker"), "expected AppLocker only on a Windows VM")
        a = Fields(f.raw("appLocker"), f.at("appLocker"), GUEST_KEYS["appLocker"])
        rules = []
        for index, raw_rule in enumerate(a.items("rules")):
            r = Fields(raw_rule, join_path(a.at("rules"), index), GUEST_KEYS["appLockerRule"])
            rules.append({"name": r.text("name", ""), "action": r.choice("action", ("Allow", "Deny")),
                          "path": r.text("path")})
        out["appLocker"] = {"enforced": a.flag("enforced", False), "rules": rules}
    volumes = f.mapping("bitLocker")
    for volume, state in volumes.items():
        if state not in ("Locked", "Unlocked"):
            raise EstateError(join_path(f.at("bitLocker"), volume), f"expected Locked or Unlocked, got {describe(state)}")
    if volumes:
        if os_type != "Windows":
            raise EstateError(f.at("bitLocker"), "expected BitLocker volumes only on a Windows VM")
        out["bitLocker"] = volumes
    if f.has("folders") or f.has("vmSnapshotPlugin"):
        if os_type != "Windows":
            raise EstateError(f.at("folders"), "expected folders and the VMSnapshot plugin only on a Windows VM")
    if f.has("folders"):
        out["folders"] = _strings(f.raw("folders"), f.at("folders"))
    if f.has("vmSnapshotPlugin"):
        v = Fields(f.raw("vmSnapshotPlugin"), f.at("vmSnapshotPlugin"), GUEST_KEYS["vmSnapshotPlugin"])
        out["vmSnapshotPlugin"] = {"stale": v.flag("stale", False)}
    return out
