"""Hardening suite: counts the fault cases run and prints them at the end of the session."""

from __future__ import annotations

from typing import Any

import pytest

FAULT_CASES: list[str] = []  # one entry per faulted run, appended by the matrix tests


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FAULT_CASES:
        terminalreporter.write_line(f"azbackup-fix hardening: {len(FAULT_CASES)} fault cases run")


@pytest.fixture
def count_fault_case() -> Any:
    return FAULT_CASES.append
