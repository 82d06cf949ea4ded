"""The ``sacd`` command: which module runs which command, imported only when it runs.

``sacd fit|validate|test|predict`` are the LightningCLI (:mod:`sacd.cli`); ``sacd synth``,
``check-data``, ``manifest``, ``sweep`` and ``report`` are small programs of their own. Nothing
heavy is imported here, so ``sacd synth`` does not wait for Lightning and a repeated ``--help`` is
printed from its kept copy (:mod:`sacd.help_cache`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from sacd.command_table import EXTRA_COMMANDS
from sacd.help_cache import is_plain_help, print_help
from sacd.user_errors import run_reporting_errors, take_debug_flag


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``sacd``: the LightningCLI, plus ``sacd synth`` and friends.

    A refusal from the project's own checks prints one line without a traceback (see
    :mod:`sacd.user_errors`; ``--debug`` keeps tracebacks).
    """
    words, debug = take_debug_flag(sys.argv[1:] if argv is None else argv)
    command = words[0] if words and not words[0].startswith("-") else "sacd"
    if command in EXTRA_COMMANDS:
        module = importlib.import_module(EXTRA_COMMANDS[command])
        raise SystemExit(run_reporting_errors(command, lambda: module.main(words[1:]), debug))

    def lightning_command() -> None:
        from sacd.cli import run_lightning_command

        run_lightning_command(words)

    if is_plain_help(words):
        run_reporting_errors(command, lambda: print_help(words, lightning_command), debug)
        return
    run_reporting_errors(command, lightning_command, debug)
