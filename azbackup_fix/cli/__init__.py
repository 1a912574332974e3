"""The ``azbackup-fix`` command line: argparse wiring and renderers only, no business logic.

Add a command by writing a module in :mod:`azbackup_fix.cli.commands` with a ``COMMAND``
(:class:`~azbackup_fix.cli.commands.base.Command`) and listing it in ``commands.COMMANDS``;
it receives the common options (``--sandbox``, ``--arm-endpoint``, ``--output``, ...) for free.
"""

from .main import main

__all__ = ["main"]
