"""The layer rule of DESIGN.md section 2, checked on the source (imports read with ast):

cli, runbook -> runner -> playbooks, steps, checks, fleet -> gateway -> azure.mgmt.*;
only gateway imports azure.mgmt; models, ids and errors import nothing else of ours;
playbooks and steps never import azure; the library never imports the sandbox except the
CLI's --sandbox/demo path; the sandbox (its own package, azbackup_sandbox) imports nothing of the library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import azbackup_fix
import azbackup_sandbox

PACKAGE = Path(azbackup_fix.__file__).parent
SANDBOX_PACKAGE = Path(azbackup_sandbox.__file__).parent
ROOT = "azbackup_fix"
SANDBOX_ROOT = "azbackup_sandbox"
# The one place the library may reach into the emulator: `--sandbox NAME` and `demo`.
SANDBOX_DOORS = {"azbackup_fix.cli.connection"}


def _module_name(path: Path) -> str:
    # Both packages sit side by side in the distribution's root.
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from . import x` may import a submodule x.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES: dict[str, set[str]] = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}
SANDBOX_MODULES: dict[str, set[str]] = {
    _module_name(p): _imports(p) for p in sorted(SANDBOX_PACKAGE.rglob("*.py"))
}


def _ours(imports: set[str]) -> set[str]:
    return {i for i in imports if i == ROOT or i.startswith(ROOT + ".")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _top_modules(imports: set[str]) -> set[str]:
    return {_layer(i) for i in _ours(imports)}


def test_the_walk_sees_the_package() -> None:
    assert "azbackup_fix.gateway.gateway" in MODULES and "azbackup_fix.cli.main" in MODULES
    assert "azure.mgmt.recoveryservicesbackup.models" in MODULES["azbackup_fix.gateway.gateway"]


def test_sdk_clients_are_built_only_in_the_gateway() -> None:
    # The management clients are imported by name on first use (gateway/clients.py): only from the gateway.
    from azbackup_fix.gateway.clients import SdkClient

    users = {m for m, imports in MODULES.items() if "azbackup_fix.gateway.clients.SdkClient" in imports}
    assert users and {_layer(m) for m in users} == {"gateway"}
    from azbackup_fix.gateway.gateway import Gateway

    modules = {v.module for v in vars(Gateway).values() if isinstance(v, SdkClient)}
    assert modules and all(m.startswith("azure.mgmt.") for m in modules)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_gateway_imports_azure_mgmt(module: str) -> None:
    if _layer(module) == "gateway":
        return
    offending = {i for i in MODULES[module] if i == "azure.mgmt" or i.startswith("azure.mgmt.")}
    assert not offending, f"{module} imports {offending}; go through azbackup_fix.gateway"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in ("models", "ids", "errors")))
def test_models_ids_errors_import_nothing_else_of_ours(module: str) -> None:
    others = _top_modules(MODULES[module]) - {"models", "ids", "errors", ""}
    assert not others, f"{module} imports {others}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in ("playbooks", "steps")))
def test_playbooks_and_steps_never_import_azure(module: str) -> None:
    offending = {i for i in MODULES[module] if i == "azure" or i.startswith("azure.")}
    assert not offending, f"{module} imports {offending}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_library_never_imports_the_sandbox(module: str) -> None:
    if module in SANDBOX_DOORS:
        return
    offending = {i for i in MODULES[module] if i == SANDBOX_ROOT or i.startswith(SANDBOX_ROOT + ".")}
    assert not offending, f"{module} imports the sandbox ({offending})"


def test_the_sandbox_is_its_own_package() -> None:
    assert "azbackup_sandbox.core.sandbox" in SANDBOX_MODULES
    assert not any(m == "azbackup_fix.sandbox" or m.startswith("azbackup_fix.sandbox.") for m in MODULES)


@pytest.mark.parametrize("module", sorted(SANDBOX_MODULES))
def test_sandbox_imports_nothing_of_the_library(module: str) -> None:
    offending = _ours(SANDBOX_MODULES[module])
    assert not offending, f"{module} imports {offending}"


LOWER_LAYERS = {
    # layer: layers it must not import (nothing above it)
    "gateway": {"cli", "runbook", "runner", "playbooks", "steps", "checks", "fleet", "remediator"},
    "checks": {"cli", "runbook", "runner", "playbooks", "steps", "fleet", "gateway", "remediator"},
    "guest": {"cli", "runbook", "runner", "playbooks", "steps", "checks", "fleet", "remediator"},
    "remediator": {"cli", "runbook"},
    # Below the runner: playbooks, steps and fleet never drive a run themselves.
    "playbooks": {"cli", "runbook", "runner", "scanner", "remediator"},
    "steps": {"cli", "runbook", "runner", "scanner", "playbooks", "remediator"},
    "fleet": {"cli", "runbook", "runner", "scanner", "remediator"},
    "runner": {"cli", "runbook", "scanner", "remediator"},
    "scanner": {"cli", "runbook"},
    "settings": {"cli", "runbook", "runner", "gateway", "remediator"},
}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in LOWER_LAYERS))
def test_layers_point_downwards(module: str) -> None:
    upward = _top_modules(MODULES[module]) & LOWER_LAYERS[_layer(module)]
    assert not upward, f"{module} imports {upward}, a layer above it"


def test_public_api_is_explicit_and_importable() -> None:
    names = azbackup_fix.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(azbackup_fix, name), name
    assert "Remediator" in names and "Diagnosis" in names
