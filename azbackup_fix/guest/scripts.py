"""The guest scripts, shipped as package data (one probe and one fix script per OS family)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from ..models.guest import GuestFix

__all__ = ["fix_script", "probe_script", "script_text"]


@cache
def script_text(name: str) -> str:
    return resources.files(__package__).joinpath("scripts").joinpath(name).read_text(encoding="utf-8")


def probe_script(os_family: str, endpoints: tuple[str, ...] = ()) -> str:
    """The probe script. Linux reads ``endpoints`` from its ENDPOINTS parameter; the Windows script gets
    them as its -ENDPOINTS parameter and, for the sandbox's protocol, on its ``#azsandbox probe`` line."""
    if os_family == "linux":
        return script_text("probe-linux.sh")
    text = script_text("probe-windows.ps1")
    if endpoints:
        text = text.replace("#azsandbox probe\n", f"#azsandbox probe endpoints={','.join(endpoints)}\n", 1)
    return text


def _ps(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def fix_script(os_family: str, fixes: tuple[GuestFix, ...]) -> str:
    """The fix script with this run's fixes above it (Linux: FIXES words; Windows: $Fixes and directives)."""
    if os_family == "linux":
        words = " ".join(dict.fromkeys(f.action for f in fixes))
        body = script_text("fix-linux.sh")
        shebang, _, rest = body.partition("\n")
        restore = " ".join(f.value for f in fixes if f.action == "restore-waagent-conf")  # the undo's values
        extra = f"WAAGENT_RESTORE={json.dumps(restore)}\n" if restore else ""
        return f"{shebang}\nFIXES={json.dumps(words)}\n{extra}{rest}"
    items = ",\n".join(f"    @{{ action = {_ps(f.action)}; target = {_ps(f.target)}; value = {_ps(f.value)} }}"
                       for f in fixes)
    directives = [f"#azsandbox {f.action} " + " ".join(_shell_word(w) for w in _directive_args(f)) for f in fixes]
    return "$Fixes = @(\n" + items + "\n)\n" + "\n".join(directives) + "\n" + script_text("fix-windows.ps1")


def _directive_args(fix: GuestFix) -> list[str]:
    if fix.action == "set-service":
        name, _, key = fix.target.partition(".")
        return [name, f"{key}={fix.value}"]
    if fix.action in ("set-registry", "set-acl"):
        return [fix.target, fix.value]
    return [fix.target]


def _shell_word(word: str) -> str:
    # Directives split like a POSIX shell: single quotes keep paths with spaces and backslashes whole.
    return "'" + word.replace("'", "'\\''") + "'"
