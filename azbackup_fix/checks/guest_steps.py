"""Guest-side instructions from the guides, per OS: what Azure's API cannot do for you.

Condensed from guide 000 ("the agent is installed in the VM but it's unresponsive
(Windows)", "the agent installed in the VM is out of date (Linux)", "VM agent
configuration options are not set (Linux)", "application control solution is
blocking IaaSBcdrExtension.exe", step 4's antivirus and network notes).
"""

from __future__ import annotations

__all__ = ["agent_steps", "extension_steps", "network_steps"]

_WINDOWS_AGENT = (
    "Windows: in services.msc check that the 'Windows Azure Guest Agent' service is running; restart it.",
    "Windows: if the agent is missing or stays unresponsive, uninstall it from Programs and Features and "
    "install the latest agent MSI (https://go.microsoft.com/fwlink/?LinkID=394789) as an administrator.",
    "Windows: confirm .NET Framework 4.5 or later is installed (the agent needs it).",
)
_LINUX_AGENT = (
    "Linux: run 'ps -e' and check that waagent is running; start it with 'service walinuxagent start' "
    "(Ubuntu) or 'service waagent start' (other distributions).",
    "Linux: update the VM agent from the distribution's package repository, not from GitHub.",
    "Linux: in /etc/waagent.conf set Extensions.Enable=y and Provisioning.Agent=auto, then restart the agent.",
    "Linux: if it still fails, collect /var/lib/waagent/*.xml, /var/log/waagent.log and /var/log/azure/*.",
)
_NETWORK = (
    "Allow outbound access to 168.63.129.16 on ports 80, 443 and 32526 (guest firewall or proxy).",
    "Keep DHCP enabled inside the guest; set a static private IP through Azure, not in the guest.",
)
_WINDOWS_EXTENSION = (
    "Windows: exclude C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot and "
    "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot from antivirus scanning.",
    "Windows: if AppLocker or another application control tool runs, allow IaaSBcdrExtension.exe.",
)


def _for(os_family: str | None, windows: tuple[str, ...], linux: tuple[str, ...]) -> tuple[str, ...]:
    if os_family == "windows":
        return windows
    if os_family == "linux":
        return linux
    return windows + linux  # OS unknown (e.g. no instance view): give both


def agent_steps(os_family: str | None) -> tuple[str, ...]:
    """Restart/reinstall/update the guest agent, then the network prerequisites."""
    return _for(os_family, _WINDOWS_AGENT, _LINUX_AGENT) + _NETWORK


def network_steps(os_family: str | None) -> tuple[str, ...]:
    del os_family  # the same for both families
    return _NETWORK


def extension_steps(os_family: str | None) -> tuple[str, ...]:
    """Guest causes of a failing VMSnapshot extension."""
    return _for(os_family, _WINDOWS_EXTENSION, ()) + _NETWORK
