"""Every Azure SDK import made after start-up (inside a function) holds ``SDK_IMPORT_LOCK``
(azbackup_fix/sdk_imports.py): two threads importing a package and its ``.models`` at once deadlock
Python 3.10's per-module import locks (``_DeadlockError``; seen in CI on ``diagnose --probe-guest``)."""

from __future__ import annotations

import ast
from pathlib import Path

import azbackup_fix

PACKAGE = Path(azbackup_fix.__file__).parent


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [] if node.level else [node.module or ""]
    return [alias.name for alias in node.names]


def _unlocked_sdk_imports(path: Path) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool, locked: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # never executed
            function = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            held = locked or (isinstance(child, ast.With)
                              and any(ast.unparse(item.context_expr) == "SDK_IMPORT_LOCK" for item in child.items))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and function and not held:
                if any(name == "azure" or name.startswith("azure.") for name in _imported(child)):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{child.lineno}")
            visit(child, function, held)

    visit(ast.parse(path.read_text(encoding="utf-8")), False, False)
    return found


def test_every_function_level_sdk_import_holds_the_lock() -> None:
    unlocked = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _unlocked_sdk_imports(path)]
    assert not unlocked, f"take SDK_IMPORT_LOCK around these imports: {unlocked}"


def test_the_check_sees_an_unlocked_import(tmp_path: Path) -> None:
    probe = PACKAGE / "_probe_for_test_sdk_imports.py"
    probe.write_text("def f():\n    from azure.mgmt.compute.models import X\n"
                     "def g():\n    with SDK_IMPORT_LOCK:\n        import azure.mgmt.network\n", encoding="utf-8")
    try:
        assert _unlocked_sdk_imports(probe) == [f"azbackup_fix/{probe.name}:2"]
    finally:
        probe.unlink()
