"""Linux Run Command: the script really runs under bash, against a fake root built from the guest model.

The sandbox documents the contract (docs/guest-protocol.md): the guest's file system is the directory in
`$GUEST_ROOT` (scripts that read `${GUEST_ROOT:-}/etc/waagent.conf` work on a real VM too), and the guest's
own commands are shims on `PATH`: `systemctl`, `service`, `waagent`, `curl`, `apt-get`, `getenforce`,
`tune2fs` and `df`, which read and change the guest model (services, the agent's version, the guest
firewall in front of 168.63.129.16, SELinux's mode, file-system states, the space under /var). `curl`
to a storage host answers from the network path the sandbox models (NSG, routes, DNS: `reach`).
Files the script writes under the root are the guest's afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .guest import STORAGE_SUFFIXES, WIRESERVER, GuestModel, GuestService

__all__ = ["ScriptRun", "run_bash"]

_MAX_FILE = 1 << 20  # files bigger than this are not taken back into the model
_REAL_TIMEOUT = 120.0  # seconds of real time a sandbox script may take
_COMMANDS = ("systemctl", "service", "waagent", "curl", "apt-get", "getenforce", "tune2fs", "df")
_SCRATCH = ("tmp", "root")  # the script's scratch space, not guest state


@dataclass(frozen=True)
class ScriptRun:
    stdout: str
    stderr: str
    exit_code: int


_SHIM = r'''
import json, os, sys
STATE = os.environ["SANDBOX_GUEST_STATE"]
def load():
    with open(STATE) as f:
        return json.load(f)
def save(state):
    with open(STATE, "w") as f:
        json.dump(state, f)
name = sys.argv[1]
args = sys.argv[2:]
state = load()
services = state["services"]
def svc(unit):
    unit = unit[:-8] if unit.endswith(".service") else unit
    for key in services:
        if key.lower() == unit.lower():
            return key
    return None
if name in ("systemctl", "service"):
    if name == "service" and len(args) >= 2:
        args = [args[1], args[0]]
    verbs = [a for a in args if not a.startswith("-")]
    if not verbs:
        sys.exit(0)
    verb, units = verbs[0], verbs[1:]
    code = 0
    for unit in units or [""]:
        key = svc(unit)
        if key is None:
            print(f"Unit {unit}.service could not be found.", file=sys.stderr)
            code = 4
            continue
        if verb == "is-active":
            print("active" if services[key]["state"] == "running" else "inactive")
            code = code or (0 if services[key]["state"] == "running" else 3)
        elif verb in ("start", "restart"):
            services[key]["state"] = "running"
            state.setdefault("restarted", []).append(key)
        elif verb == "stop":
            services[key]["state"] = "stopped"
        elif verb == "status":
            running = services[key]["state"] == "running"
            print(f"* {key}.service - {key}\n     Active: " + ("active (running)" if running else "inactive (dead)"))
            code = code or (0 if running else 3)
        elif verb == "show":
            print("ActiveState=" + ("active" if services[key]["state"] == "running" else "inactive"))
    save(state)
    sys.exit(code)
if name == "waagent":
    if any(a.lstrip("-") == "version" for a in args):
        v = state["agent_version"]
        print(f"WALinuxAgent-{v} running on ubuntu 22.04\nPython: 3.10.12\nGoal state agent: {v}")
        sys.exit(0)
    sys.exit(0)
if name == "apt-get":
    wanted = [a for a in args if not a.startswith("-")]
    if wanted[:1] == ["update"]:
        print("Reading package lists... Done")
        sys.exit(0)
    if wanted[:1] == ["install"] and any(a.lower() == "walinuxagent" for a in wanted[1:]):
        old, new = state["agent_version"], state["repository_agent_version"]
        if old == new:
            print("walinuxagent is already the newest version (" + new + ").")
        else:
            state["agent_version"] = new
            key = svc("walinuxagent")
            if key:
                state.setdefault("restarted", []).append(key)
            print(f"Unpacking walinuxagent ({new}) over ({old}) ...\nSetting up walinuxagent ({new}) ...")
        save(state)
        sys.exit(0)
    print("E: Unable to locate package " + " ".join(wanted[1:]), file=sys.stderr)
    sys.exit(100)
if name == "curl":
    url, out, fmt, i = None, None, None, 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "--output", "-w", "--write-out", "-m", "--max-time", "--connect-timeout", "-H", "--header",
                 "--noproxy", "-x", "--proxy"):
            value = args[i + 1] if i + 1 < len(args) else ""
            if a in ("-o", "--output"):
                out = value
            if a in ("-w", "--write-out"):
                fmt = value
            i += 2
            continue
        if not a.startswith("-"):
            url = a
        i += 1
    if url is None:
        print("curl: no URL specified", file=sys.stderr)
        sys.exit(2)
    scheme, _, rest = url.partition("://")
    hostport = rest.split("/", 1)[0]
    host, _, port = hostport.partition(":")
    port = port or ("443" if scheme == "https" else "80")
    storage = any(host.lower().endswith(s) for s in state.get("storage_suffixes", []))
    path = state.get("storage_path") if storage and host != state.get("wireserver") else None
    if path and path[0] == "dns":
        print(f"curl: (6) Could not resolve host: {host}", file=sys.stderr)
        if fmt:
            sys.stdout.write(fmt.replace("%{http_code}", "000"))
        sys.exit(6)
    if f"{host}:{port}" in state["blocked"] or path:
        print(f"curl: (28) Failed to connect to {host} port {port} after 5001 ms: Timeout was reached", file=sys.stderr)
        if fmt:
            sys.stdout.write(fmt.replace("%{http_code}", "000"))
        sys.exit(28)
    body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Versions><Preferred><Version>2015-04-05</Version></Preferred></Versions>"
    if out and out != "-":
        with open(out, "w") as f:
            f.write(body)
    else:
        sys.stdout.write(body)
    if fmt:
        sys.stdout.write(fmt.replace("%{http_code}", "200"))
    sys.exit(0)
if name == "getenforce":
    if not state.get("selinux"):
        print("getenforce: command not found", file=sys.stderr)
        sys.exit(127)
    print(state["selinux"])
    sys.exit(0)
if name == "tune2fs":
    device = next((a for a in args if a.startswith("/dev/")), None)
    if "-l" not in args or device is None:
        print("Usage: tune2fs [-l] device", file=sys.stderr)
        sys.exit(1)
    print("tune2fs 1.46.5 (30-Dec-2021)")
    print("Filesystem volume name:   <none>")
    print("Filesystem state:         " + state.get("fs_state", {}).get(device, "clean"))
    print("Errors behavior:          Continue")
    sys.exit(0)
if name == "df":
    free = int(state.get("var_free_mb", 20480)) * 1024
    target = next((a for a in args if not a.startswith("-")), "/")
    print("Filesystem     1024-blocks      Used Available Capacity Mounted on")
    size = max(free * 2, 30 * 1024 * 1024)
    print(f"/dev/sda1      {size} {size - free} {free} {100 * (size - free) // size}% {target}")
    sys.exit(0)
sys.exit(127)
'''


def _build_root(root: Path, guest: GuestModel) -> None:
    for path, content in guest.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    for folder in ("var/lib/waagent", "var/log", "tmp", "root"):
        (root / folder).mkdir(parents=True, exist_ok=True)


def _read_root(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in _SCRATCH:
            continue
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= _MAX_FILE:
            try:
                files["/" + rel.as_posix()] = path.read_text()
            except UnicodeDecodeError:
                continue
    return files


def run_bash(guest: GuestModel, script: str, parameters: dict[str, str] | None = None, *,
             storage_path: tuple[str, str] | None = None) -> ScriptRun:
    """Run `script` under bash against the guest; the model takes the changes back afterwards.
    ``storage_path``: why the VM's network path does not reach storage on 443 ((reason, detail)), or None."""
    with tempfile.TemporaryDirectory(prefix="sandbox-guest-") as tmp:
        base = Path(tmp)
        root, shims, state_file = base / "root", base / "bin", base / "state.json"
        root.mkdir()
        shims.mkdir()
        _build_root(root, guest)
        shim = base / "shim.py"
        shim.write_text(_SHIM)
        for name in _COMMANDS:  # each command runs the one shim, told its name
            launcher = shims / name
            launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{shim}' {name} \"$@\"\n")
            launcher.chmod(0o755)
        state = {
            "services": {n: {"state": s.state} for n, s in guest.services.items()},
            "agent_version": guest.agent_version,
            "repository_agent_version": guest.repository_agent_version,
            "blocked": list(guest.blocked),
            "selinux": guest.selinux,
            "fs_state": dict(guest.fs_state),
            "var_free_mb": guest.var_free_mb,
            "wireserver": WIRESERVER,
            "storage_suffixes": list(STORAGE_SUFFIXES),
            "storage_path": list(storage_path) if storage_path else None,
        }
        state_file.write_text(json.dumps(state))
        env = {
            "PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin",
            "GUEST_ROOT": str(root),
            "SANDBOX_GUEST_STATE": str(state_file),
            "HOME": str(root / "root"),
            "TMPDIR": str(root / "tmp"),
            "LC_ALL": "C",
        }
        for name, value in (parameters or {}).items():  # Run Command parameters arrive as variables
            env[name] = value
        try:
            done = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, env=env,
                                  cwd=root / "root", timeout=_REAL_TIMEOUT, check=False)
            run = ScriptRun(done.stdout, done.stderr, done.returncode)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            run = ScriptRun(out, "the script did not finish in time\n", 124)
        after = json.loads(state_file.read_text())
        for name, svc in after["services"].items():
            current = guest.services.get(name) or GuestService()
            current.state = svc["state"]
            guest.services[name] = current
        guest.agent_version = after["agent_version"]
        guest.files = _read_root(root)
        return run
