"""Guest probe results -> findings, each tied to its guide row with the guest's evidence (pure).

A probe that could not run, failed or was cut is reported as such (GuestChannelUnavailable,
GuestProbeFailed), never as a healthy guest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..models import Diagnosis, Finding, Severity, VmObservation
from ..models.guest import GuestProbe
from .catalogue import entry_for, finding_from_entry, rank_of
from .evidence import ev

__all__ = ["GUEST_ERROR_CODES", "guest_blockers", "guest_findings", "explained_outside_guest", "points_into_guest",
           "probe_command", "probe_suggestion", "with_guest_findings"]

# Job errors whose cause the guides place inside the guest (Run Command can read it while the agent is Ready).
GUEST_ERROR_CODES = frozenset(c.casefold() for c in (
    "ExtensionFailedVssWriterInBadState", "ExtensionSnapshotFailedCOM", "ExtensionInstallationFailedCOM",
    "ExtensionInstallationFailedMDTC", "ExtensionFailedSecureNetworkChannel", "GuestAgentSnapshotTaskStatusError",
    "ExtensionSnapshotFailedNoNetwork", "UserErrorGuestAgentStatusUnavailable", "UserErrorFsFreezeFailed",
    "ExtensionVCRedistInstallationFailure",  # msiserver disabled: the probe reads its start type
    "ExtensionConfigParsingFailure", "ExtensionSnapshotFailedBitLocker",
))
WIRESERVER = "168.63.129.16"
# Below this much free space under /var the snapshot extension cannot unpack or write its status. Our
# threshold: the guides give none; the handler's package and logs live in /var/lib/waagent and /var/log/azure.
MIN_VAR_FREE_MB = 100


def points_into_guest(observation: VmObservation) -> bool:
    """The current failed job's error is a guest cause, and the guest can be asked (running, agent Ready)."""
    job = observation.current_failed_job
    vm = observation.vm
    if job is None or vm is None or not vm.is_running or not vm.agent.is_ready:
        return False
    title = job.primary_error.error_title if job.primary_error else None
    return (title or "").casefold() in GUEST_ERROR_CODES


# Azure-side findings that explain a guest-pointing job error on their own: the guides fix the path first.
_PATH_CAUSES = ("StorageOutboundDenied", "StorageRoutedToAppliance")


def explained_outside_guest(diagnosis: Diagnosis) -> str | None:
    """The code of an error-level network finding (an NSG that denies storage, a route through an appliance)
    that already explains the job's error, else None: a fleet scan does not spend a Run Command on that
    guest (the probes cost ~30 s each, a few at once; docs/fleet.md), and says so."""
    return next((f.code for f in diagnosis.findings if f.code in _PATH_CAUSES and f.severity is Severity.ERROR),
                None)


def probe_suggestion(observation: VmObservation) -> tuple[Finding, ...]:
    if not points_into_guest(observation):
        return ()
    return (finding_from_entry("GuestProbeSuggested", severity=Severity.INFO,
                               title="the job's error points inside the guest and the agent is Ready: read the guest "
                                     f"with `{probe_command(observation.vm_ref.id)}` (Python: probe_guest=True; "
                                     "a fleet: scan --probe-guest)"),)


def probe_command(vm_id: str) -> str:
    """The command that reads this VM's guest (read-only Run Command), as findings and reports name it."""
    return f"azbackup-fix diagnose --vm {vm_id} --probe-guest"


def _problem(probe: GuestProbe) -> tuple[Finding, ...]:
    code = probe.problem_code or "GuestProbeFailed"
    what = "Run Command cannot reach the guest" if code == "GuestChannelUnavailable" else "the guest probe failed"
    return (finding_from_entry(code, severity=Severity.WARNING, title=f"{what}: {probe.problem}",
                               evidence=[ev("guest problem", probe.problem), ev("guest channel", probe.channel),
                                         ev("os type", probe.os_family)]),)


def _windows(facts: Any) -> list[Finding]:
    out: list[Finding] = []
    for writer in facts.get("vss_writers") or []:
        if str(writer.get("state", "")).casefold() != "stable":
            out.append(finding_from_entry(
                "ExtensionFailedVssWriterInBadState", severity=Severity.ERROR,
                title=f"VSS writer '{writer.get('name')}' is {writer.get('state')}: restart service "
                      f"{writer.get('service') or '(unknown)'}",
                evidence=[ev("guest vss writer", writer.get("name")), ev("guest writer state", writer.get("state")),
                          ev("guest writer last error", writer.get("last_error")),
                          ev("guest writer service", writer.get("service"))]))
    services = facts.get("services") or {}
    com, msdtc = services.get("COMSysApp") or {}, services.get("MSDTC") or {}
    if com and com.get("state") != "running":
        out.append(finding_from_entry(
            "ExtensionSnapshotFailedCOM", severity=Severity.ERROR,
            title=f"COM+ System Application is {com.get('state')}; MSDTC logs on as {msdtc.get('account')}",
            evidence=[ev("guest comsysapp state", com.get("state")), ev("guest msdtc state", msdtc.get("state")),
                      ev("guest msdtc account", msdtc.get("account"))]))
    missing = [k for k, v in (facts.get("strong_crypto") or {}).items() if v != 1]
    if missing:
        out.append(finding_from_entry(
            "ExtensionFailedSecureNetworkChannel", severity=Severity.ERROR,
            title=f"SchUseStrongCrypto is not 1 under {len(missing)} .NET Framework key(s)",
            evidence=[ev("guest registry key", k) for k in missing]))
    if facts.get("msiserver_start") == 4:
        out.append(finding_from_entry(
            "ExtensionVCRedistInstallationFailure", severity=Severity.ERROR,
            title="the Windows Installer service (msiserver) is disabled (Start=4): the VC++ redistributable "
                  "the extension needs cannot install; the guide sets it to 3 (manual)",
            evidence=[ev("guest msiserver start", 4)]))
    defender = facts.get("defender") or {}
    have = {str(e).rstrip("\\").casefold() for e in defender.get("exclusions") or []}
    unexcluded = [f for f in defender.get("plugin_folders") or [] if str(f).casefold() not in have]
    if defender.get("realtime") and unexcluded:
        out.append(finding_from_entry(
            "AntivirusBlockingBackupExtension", severity=Severity.ERROR,
            title=f"Defender real-time protection scans the VMSnapshot plugin folders ({len(unexcluded)} not "
                  f"excluded); IaaSBcdrExtension.exe faults in the Application log: {facts.get('extension_faults', 0)}",
            evidence=[*(ev("guest folder not excluded", f) for f in unexcluded),
                      ev("guest extension faults", facts.get("extension_faults"))]))
    out += _windows_more(facts)
    return out


def _windows_more(facts: Any) -> list[Finding]:
    """Guide 001's remaining Windows rows (issue 14): MachineKeys, ..."""
    from ..guest.fixes import acl_is_default

    out: list[Finding] = []
    keys = facts.get("machine_keys") or {}
    if keys.get("sddl") and not acl_is_default(keys["sddl"]):
        out.append(finding_from_entry(
            "ExtensionConfigParsingFailure", severity=Severity.ERROR,
            title="the MachineKeys folder's permissions differ from the default (Everyone: R,W; BUILTIN\\"
                  "Administrators: F): reset them; if the backup still fails, delete the certificates issued "
                  "by Windows Azure CRP Certificate Generator (guide 001)",
            evidence=[ev("guest acl path", keys.get("path")), ev("guest acl sddl", keys["sddl"])]))
    sql = facts.get("sql_server") or {}
    if sql.get("instances") and str(sql.get("usevsscopybackup") or "").upper() != "TRUE":
        out.append(finding_from_entry(
            "SqlServerVssCopyBackupNotSet", severity=Severity.ERROR,
            title=f"SQL Server runs ({', '.join(map(str, sql['instances']))}) and the VSS full backup delays the "
                  "snapshot: set USEVSSCOPYBACKUP=TRUE under HKLM\\SOFTWARE\\Microsoft\\BcdrAgent",
            evidence=[*(ev("guest sql instance", i) for i in sql["instances"]),
                      ev("guest usevsscopybackup", sql.get("usevsscopybackup"))]))
    return out + _windows_report_only(facts)


def _windows_report_only(facts: Any) -> list[Finding]:
    """Rows the issue gives no fix: each says what the operator must do."""
    out: list[Finding] = []
    applocker = facts.get("applocker") or {}
    if applocker.get("decision") not in (None, "Allowed"):
        out.append(finding_from_entry(
            "ApplicationControlBlockingBackupExtension", severity=Severity.ERROR,
            title=f"AppLocker {applocker['decision']} IaaSBcdrExtension.exe"
                  + (f" (rule {applocker['rule']})" if applocker.get("rule") else "")
                  + ": exclude the path C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot\\* or "
                    "the executable from the rules (an Allow rule), then retry the backup; azbackup-fix does not "
                    "edit application control policy",
            evidence=[ev("guest applocker decision", applocker["decision"]),
                      ev("guest applocker rule", applocker.get("rule")),
                      ev("guest applocker enforced", applocker.get("enforced"))]))
    locked = [str(v.get("volume")) for v in facts.get("bitlocker") or []
              if str(v.get("lock_status", "")).casefold() == "locked"]
    if locked:
        out.append(finding_from_entry(
            "ExtensionSnapshotFailedBitLocker", severity=Severity.ERROR,
            title=f"BitLocker has locked volume(s) {', '.join(locked)}: VSS cannot snapshot them; unlock them "
                  "(the guide: turn BitLocker off on every drive) and retry the backup",
            evidence=[ev("guest locked volume", v) for v in locked]))
    reasons = [str(r) for r in facts.get("pending_reboot") or []]
    if reasons:
        out.append(finding_from_entry(
            "GuestRebootPending", severity=Severity.WARNING,
            title=f"a restart of the guest is pending ({', '.join(reasons)}): restart the VM in a maintenance "
                  "window before retrying a failing backup (the guide's COM+ and VC++ rows restart it)",
            evidence=[ev("guest pending reboot", r) for r in reasons]))
    return out


def _linux(facts: Any) -> list[Finding]:
    out: list[Finding] = []
    conf = facts.get("waagent_conf") or {}
    enable, agent_mode = conf.get("Extensions.Enable"), conf.get("Provisioning.Agent")
    if str(enable or "y").lower() != "y" or str(agent_mode or "auto").lower() != "auto":
        out.append(finding_from_entry(
            "AgentConfigurationNotSet", severity=Severity.ERROR,
            title=f"waagent.conf sets Extensions.Enable={enable or '(unset)'} and "
                  f"Provisioning.Agent={agent_mode or '(unset)'}; the guide needs y and auto",
            evidence=[ev("guest extensions enable", enable), ev("guest provisioning agent", agent_mode)]))
    agent = facts.get("agent") or {}
    from ..guest.fixes import MIN_LINUX_AGENT, _version  # the one threshold fixes and findings share

    if agent.get("version") and _version(agent["version"]) < MIN_LINUX_AGENT:
        out.append(finding_from_entry(
            "GuestAgentOutOfDate", severity=Severity.ERROR,
            title=f"WALinuxAgent {agent['version']} in the guest is older than "
                  f"{'.'.join(map(str, MIN_LINUX_AGENT))}: update it from the distribution's repository",
            evidence=[ev("guest agent version", agent["version"]), ev("guest agent service", agent.get("service"))]))
    out.extend(_linux_system(facts))
    return out


def _linux_system(facts: Any) -> list[Finding]:
    """DHCP, proxy, SELinux, file systems and /var space (issue 14's Linux probes)."""
    out: list[Finding] = []
    dhcp = facts.get("dhcp") or {}
    if dhcp.get("configured") is False:
        out.append(finding_from_entry(
            "GuestDhcpDisabled", severity=Severity.WARNING,
            title=f"{dhcp.get('source') or 'the network configuration'} turns DHCP off on "
                  f"{dhcp.get('interface') or 'eth0'}: the next boot leaves the agent without its fabric address; "
                  "keep DHCP on in the guest and set a static IP in Azure instead",
            evidence=[ev("guest dhcp source", dhcp.get("source")), ev("guest interface", dhcp.get("interface"))]))
    proxy = facts.get("proxy") or {}
    used = proxy.get("https_proxy") or proxy.get("http_proxy")
    bypass = [w.strip() for w in str(proxy.get("no_proxy") or "").split(",")]
    if used and WIRESERVER not in bypass:
        out.append(finding_from_entry(
            "ProxyNotBypassingWireServer", severity=Severity.ERROR,
            title=f"/etc/environment sends traffic through proxy {used} and no_proxy does not list {WIRESERVER}: "
                  "the extensions cannot reach it; add it to no_proxy",
            evidence=[ev("guest proxy", used), ev("guest no proxy", proxy.get("no_proxy") or None),
                      ev("guest agent proxy host", proxy.get("agent_host") or None)]))
    selinux = facts.get("selinux") or {}
    denials = selinux.get("waagent_denials") or 0
    if str(selinux.get("mode") or "").lower() == "enforcing" and denials:
        out.append(finding_from_entry(
            "SELinuxDeniesAgent", severity=Severity.ERROR,
            title=f"SELinux enforces and the audit log holds {denials} AVC denial(s) naming waagent: exclude "
                  "/var/lib/waagent from the security policy (guide 001)",
            evidence=[ev("guest selinux mode", selinux.get("mode")), ev("guest waagent denials", denials)]))
    mounts = facts.get("mounts") or {}
    for device in mounts.get("not_clean") or []:
        out.append(finding_from_entry(
            "UserErrorFsFreezeFailed", severity=Severity.ERROR,
            title=f"the file system on {device} is not clean: unmount it, run fsck, remount it (guide 001)",
            evidence=[ev("guest file system not clean", device)]))
    for item in mounts.get("duplicates") or []:
        out.append(finding_from_entry(
            "UserErrorFsFreezeFailed", severity=Severity.ERROR,
            title=f"{item} is mounted twice in /proc/mounts: fsfreeze cannot freeze it; unmount the duplicate",
            evidence=[ev("guest mounted twice", item)]))
    free = (facts.get("var") or {}).get("free_mb")
    if isinstance(free, int) and free < MIN_VAR_FREE_MB:
        out.append(finding_from_entry(
            "GuestVarLowOnSpace", severity=Severity.ERROR,
            title=f"/var has {free} MB free (below {MIN_VAR_FREE_MB} MB): the snapshot extension cannot unpack or "
                  "write its status; free space under /var",
            evidence=[ev("guest var free mb", free)]))
    return out


def _endpoint_findings(probe: GuestProbe) -> list[Finding]:
    """TCP to the storage endpoint on 443 (both OS families), or that it was not tested."""
    tested = probe.facts.get("endpoints")
    if not probe.endpoints or not isinstance(tested, dict):
        why = ("the probe script reported no endpoint results" if probe.endpoints else
               "the VM has no boot-diagnostics storage account and no --guest-storage-endpoint was given")
        return [finding_from_entry(
            "StorageReachabilityNotChecked", severity=Severity.INFO,
            title=f"storage reachability on 443 was not checked: {why}",
            evidence=[ev("guest endpoint source", probe.endpoint_source or None)])]
    blocked = [e for e in probe.endpoints if tested.get(e) is not True]
    if not blocked:
        return []
    return [finding_from_entry(
        "StorageUnreachableFromGuest", severity=Severity.WARNING,
        title=f"the guest cannot open TCP to {', '.join(blocked)} ({probe.endpoint_source}): a guest firewall, "
              "an NSG, a route or DNS stops the way to storage",
        evidence=[*(ev("guest unreachable endpoint", e) for e in blocked),
                  ev("guest endpoint source", probe.endpoint_source)])]


def guest_findings(probe: GuestProbe) -> tuple[Finding, ...]:
    if not probe.ok:
        return _problem(probe)
    facts = probe.facts
    found = _linux(facts) if probe.os_family == "linux" else _windows(facts)
    blocked = [p for p, ok in (facts.get("wireserver") or {}).items() if ok is False]
    if blocked:
        found.append(finding_from_entry(
            "WireServerUnreachable", severity=Severity.WARNING,
            title=f"the guest cannot reach 168.63.129.16 on port(s) {', '.join(blocked)}",
            evidence=[ev("guest blocked port", p) for p in blocked]))
    found.extend(_endpoint_findings(probe))
    return tuple(replace(f, evidence=(*f.evidence, ev("guest channel", probe.channel))) for f in found)


def with_guest_findings(diagnosis: Diagnosis, findings: Iterable[Finding]) -> Diagnosis:
    """The diagnosis plus the probe's findings; one per code where the job already named it (evidence joined)."""
    merged = list(diagnosis.findings)
    for finding in findings:
        entry = entry_for(finding.code)
        same = next((i for i, f in enumerate(merged) if f.code == finding.code
                     or (entry is not None and entry_for(f.code) is entry)), None)
        if same is None:
            merged.append(finding)
        else:
            old = merged[same]
            merged[same] = replace(old, evidence=tuple(dict.fromkeys((*old.evidence, *finding.evidence))),
                                   title=finding.title, severity=min(old.severity, finding.severity, key=lambda s: s.rank))
    return replace(diagnosis, findings=tuple(sorted(merged, key=lambda f: rank_of(f.code))))


def guest_blockers(observation: VmObservation) -> tuple[Finding, ...]:
    """What the last guest probe says makes a backup fail now: its error findings, or, when the failed job
    points inside the guest and the probe could not read it, that unknown (nothing says it is fixed)."""
    probe = observation.guest_probe
    if probe is None:
        return ()
    if probe.ok:
        return tuple(f for f in guest_findings(probe) if f.severity is Severity.ERROR)
    if not points_into_guest(observation) and observation.current_failed_job is None:
        return ()
    return tuple(replace(f, severity=Severity.ERROR) for f in _problem(probe))
