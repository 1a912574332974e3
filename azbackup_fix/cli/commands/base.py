"""What a command is: a name, help, its own arguments and a run function returning an exit code."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Command", "Io"]


@dataclass(frozen=True, slots=True)
class Io:
    """Where a command writes: report to ``out``, one-line problems to ``err``."""

    out: TextIO
    err: TextIO


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Io], int]
    description: str = ""
