"""Windows Run Command: the sandbox runs no PowerShell. It answers the guest protocol that
docs/guest-protocol.md documents for any client: directive lines in the script, comments to PowerShell,

    #azsandbox restart-service <name>          stop and start a service (its VSS writers become Stable)
    #azsandbox start-service <name>            start a service (COMSysApp needs MSDTC to log on as NetworkService)
    #azsandbox set-service <name> <key>=<value> startType=Automatic|Manual|Disabled, account=<logon account>
    #azsandbox set-registry <key\\value> <data> a DWORD (digits) or a string
    #azsandbox add-defender-exclusion <path>   a Defender path exclusion
    #azsandbox delete-registry <key\\value>      remove a value (an undo: it did not exist before)
    #azsandbox remove-defender-exclusion <path> remove a Defender path exclusion
    #azsandbox set-acl <path> default|<SDDL>   a folder's security descriptor (default: the guide's, MachineKeys)
    #azsandbox remove-item <path>              delete a folder, or a registry key with everything under it
                                               (wildcards * ? in names)
    #azsandbox probe [endpoints=H:P,H:P]       report the guest's state (and whether TCP to each endpoint opens)

run in order against the guest model; the reply on StdOut is one JSON line of schema `azbackup-guest/v1`
({"schema", "os", "facts"?, "changes", "errors"}), the same line a real script following the protocol
prints. A script without directives gets StdErr saying so, as a guest without PowerShell would."""

from __future__ import annotations

import json
import shlex
from typing import Any

from .guest import (
    MACHINE_KEYS,
    MACHINE_KEYS_DEFAULT_SDDL,
    NETWORK_SERVICE,
    PLUGIN_FOLDERS,
    STRONG_CRYPTO_KEYS,
    USEVSSCOPYBACKUP,
    WIRESERVER,
    WIRESERVER_PORTS,
    GuestModel,
)
from .guest_linux import ScriptRun

__all__ = ["GUEST_SCHEMA", "run_protocol", "windows_facts"]

GUEST_SCHEMA = "azbackup-guest/v1"
_DIRECTIVE = "#azsandbox"
_WATCHED = ("COMSysApp", "MSDTC", "msiserver", "VSS", "WindowsAzureGuestAgent", "RdAgent")


def _endpoints(words: list[str]) -> list[tuple[str, int]] | None:
    """The `endpoints=H:P,H:P` argument of a probe directive (None: malformed)."""
    out: list[tuple[str, int]] = []
    for word in words:
        key, _, value = word.partition("=")
        if key != "endpoints":
            return None
        for item in value.replace(" ", ",").split(","):
            host, sep, port = item.strip().rpartition(":")
            if item.strip() and (not sep or not host or not port.isdigit()):
                return None
            if item.strip():
                out.append((host, int(port)))
    return out


def windows_facts(guest: GuestModel, endpoints: list[tuple[str, int]] | None = None,
                  storage_path: tuple[str, str] | None = None) -> dict[str, Any]:
    """The facts a probe reports (the `facts` object of the schema, Windows form)."""
    agent = guest.service("WindowsAzureGuestAgent")
    decision, rule = guest.applocker_decision()
    services = {}
    for name in _WATCHED:
        svc = guest.service(name)
        if svc is not None:
            services[name] = {"state": svc.state, "start_type": svc.start_type, "account": svc.account}
    return {
        "agent": {"service": agent.state if agent else "missing", "version": guest.agent_version},
        "services": services,
        "vss_writers": [{"name": w.name, "state": w.state, "last_error": w.last_error, "service": w.service}
                        for w in guest.vss_writers],
        "strong_crypto": {key: guest.registry.get(f"{key}\\SchUseStrongCrypto") for key in STRONG_CRYPTO_KEYS},
        "msiserver_start": guest.registry.get("HKLM\\SYSTEM\\CurrentControlSet\\Services\\msiserver\\Start"),
        "defender": {"realtime": guest.defender_realtime, "exclusions": list(guest.defender_exclusions),
                     "plugin_folders": list(PLUGIN_FOLDERS)},
        "extension_faults": sum(1 for e in guest.events if "IaaSBcdrExtension.exe" in e),
        "wireserver": {str(p): f"{WIRESERVER}:{p}" not in guest.blocked for p in WIRESERVER_PORTS},
        "dhcp": guest.dhcp,
        "endpoints": {f"{h}:{p}": guest.reaches(h, p, storage_path) for h, p in endpoints or []},
        "machine_keys": {"path": MACHINE_KEYS, "sddl": guest.acls.get(MACHINE_KEYS, MACHINE_KEYS_DEFAULT_SDDL)},
        "sql_server": {"instances": guest.sql_instances(), "usevsscopybackup": guest.registry.get(USEVSSCOPYBACKUP)},
        "applocker": {"enforced": guest.applocker_enforced, "decision": decision, "rule": rule},
        "bitlocker": [{"volume": v, "lock_status": state} for v, state in sorted(guest.bitlocker.items())],
        "pending_reboot": guest.pending_reboot(),
        "vmsnapshot_plugin": {"folder": PLUGIN_FOLDERS[0] in guest.folders,
                              "handler_state": [k for k in guest.plugin_leftovers() if k.startswith("HKLM")]},
    }


def _restart(guest: GuestModel, name: str, changes: list[dict[str, Any]], errors: list[str]) -> None:
    svc = guest.service(name)
    if svc is None:
        errors.append(f"service {name} was not found")
        return
    before = svc.state
    if name.casefold() == "comsysapp" and not _msdtc_ok(guest):
        errors.append("COMSysApp did not start: MSDTC does not log on as Network Service")
        return
    svc.state = "running"
    for writer in guest.vss_writers:
        if writer.service.casefold() == name.casefold():
            writer.state, writer.last_error = "Stable", "No error"
    changes.append({"action": "restart-service", "target": name, "before": before, "after": svc.state})


def _msdtc_ok(guest: GuestModel) -> bool:
    msdtc = guest.service("MSDTC")
    return msdtc is None or msdtc.account.casefold() in (NETWORK_SERVICE.casefold(), "networkservice",
                                                         "nt authority\\network service")


def _apply(guest: GuestModel, verb: str, args: list[str], changes: list[dict[str, Any]], errors: list[str]) -> None:
    if verb == "restart-service" and len(args) == 1:
        _restart(guest, args[0], changes, errors)
    elif verb == "start-service" and len(args) == 1:
        svc = guest.service(args[0])
        if svc is not None and svc.state == "running":
            changes.append({"action": "start-service", "target": args[0], "before": "running", "after": "running"})
        else:
            _restart(guest, args[0], changes, errors)
            if changes and changes[-1]["target"] == args[0]:
                changes[-1]["action"] = "start-service"
    elif verb == "set-service" and len(args) == 2 and "=" in args[1]:
        svc = guest.service(args[0])
        key, _, value = args[1].partition("=")
        attr = {"starttype": "start_type", "account": "account"}.get(key.casefold())
        if svc is None or attr is None:
            errors.append(f"set-service {args[0]} {key}: no such service or setting")
            return
        before = getattr(svc, attr)
        setattr(svc, attr, value)
        changes.append({"action": "set-service", "target": f"{args[0]}.{key}", "before": before, "after": value})
    elif verb == "set-registry" and len(args) == 2:
        data: Any = int(args[1]) if args[1].isdigit() else args[1]
        before = guest.registry.get(args[0])
        guest.registry[args[0]] = data
        changes.append({"action": "set-registry", "target": args[0], "before": before, "after": data})
    elif verb == "add-defender-exclusion" and len(args) == 1:
        present = any(e.casefold() == args[0].casefold() for e in guest.defender_exclusions)
        if not present:
            guest.defender_exclusions.append(args[0])
        changes.append({"action": "add-defender-exclusion", "target": args[0], "before": present, "after": True})
    elif verb == "delete-registry" and len(args) == 1:
        before = guest.registry.pop(args[0], None)
        changes.append({"action": "delete-registry", "target": args[0], "before": before, "after": None})
    elif verb == "remove-defender-exclusion" and len(args) == 1:
        kept = [e for e in guest.defender_exclusions if e.rstrip("\\").casefold() != args[0].rstrip("\\").casefold()]
        present = len(kept) != len(guest.defender_exclusions)
        guest.defender_exclusions[:] = kept
        changes.append({"action": "remove-defender-exclusion", "target": args[0], "before": present, "after": False})
    elif verb == "remove-item" and len(args) == 1:
        gone = guest.remove(args[0])
        changes.append({"action": "remove-item", "target": args[0], "before": "; ".join(gone) or None,
                        "after": None})
    elif verb == "set-acl" and len(args) == 2:
        _set_acl(guest, args[0], args[1], changes, errors)
    else:
        errors.append(f"unknown directive: {verb} {' '.join(args)}".strip())


def _set_acl(guest: GuestModel, path: str, sddl: str, changes: list[dict[str, Any]], errors: list[str]) -> None:
    folder = next((p for p in guest.acls if p.casefold() == path.casefold()), None)
    if sddl.casefold() == "default":
        if folder is None or folder.casefold() != MACHINE_KEYS.casefold():
            errors.append(f"set-acl {path}: the sandbox knows a default only for {MACHINE_KEYS}")
            return
        sddl = MACHINE_KEYS_DEFAULT_SDDL
    if folder is None:
        errors.append(f"set-acl {path}: no such folder")
        return
    if not sddl.startswith(("O:", "G:", "D:")):
        errors.append(f"set-acl {path}: not an SDDL string: {sddl}")
        return
    before = guest.acls[folder]
    guest.acls[folder] = sddl
    changes.append({"action": "set-acl", "target": folder, "before": before, "after": sddl})



def run_protocol(guest: GuestModel, script: str, *, storage_path: tuple[str, str] | None = None) -> ScriptRun:
    """Carry out the script's directives in order; one JSON line back. ``storage_path``: why the VM's network
    path does not reach storage on 443, or None."""
    changes: list[dict[str, Any]] = []
    errors: list[str] = []
    probed = False
    endpoints: list[tuple[str, int]] = []
    seen = False
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped.lower().startswith(_DIRECTIVE):
            continue
        try:
            words = shlex.split(stripped[len(_DIRECTIVE):], posix=True)
        except ValueError as exc:
            errors.append(f"unreadable directive: {exc}")
            continue
        if not words:
            continue
        seen = True
        if words[0] == "probe":
            probed = True
            asked = _endpoints(words[1:])
            if asked is None:
                errors.append("unknown directive: " + " ".join(words) + " (probe takes endpoints=HOST:PORT,...)")
            else:
                endpoints.extend(asked)
            continue
        _apply(guest, words[0], words[1:], changes, errors)
    if not seen:
        return ScriptRun("", "The sandbox runs no PowerShell: use the #azsandbox directives "
                             "(docs/guest-protocol.md).\n", 1)
    reply: dict[str, Any] = {"schema": GUEST_SCHEMA, "os": "windows"}
    if probed:
        reply["facts"] = windows_facts(guest, endpoints, storage_path)
    reply["changes"] = changes
    reply["errors"] = errors
    return ScriptRun(json.dumps(reply, separators=(",", ":")) + "\n", "", 1 if errors else 0)
