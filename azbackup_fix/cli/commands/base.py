"""What a command is: a name, help, its own arguments and a run function returning an exit code."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Command", "Io"]


@dataclass(frozen=True, slots=True)
class Io:
    """Where a command writes: report to ``out``, one-line problems to ``err``; ``prompt`` is the terminal
    for showing a plan and asking before apply when ``out`` is captured (``--query``, ``-o table``)."""

    out: TextIO
    err: TextIO
    prompt: TextIO | None = None

    @property
    def terminal(self) -> TextIO:
        return self.prompt if self.prompt is not None else self.out


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Io], int]
    description: str = ""
