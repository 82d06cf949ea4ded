"""How a command line error reaches a person: one short message, not a Python traceback.

The project's checks raise ``ValueError``, ``OSError`` and a few others with messages that name
the file or option and the fix. When such an error is raised by the project's own code, ``sacd``
prints ``sacd <command>: error: <message>`` and exits with status 1. An error raised elsewhere
(a bug, or a library's own failure) keeps its traceback. ``--debug`` anywhere on the command line,
or ``SACD_DEBUG=1``, shows every traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

#: the flag that keeps tracebacks, and the environment variable that does the same
DEBUG_FLAG, DEBUG_VARIABLE = "--debug", "SACD_DEBUG"
#: jsonargparse's own switch: parse errors raise instead of exiting
PARSER_DEBUG = "JSONARGPARSE_DEBUG"
#: exception types the project raises for input it refuses (checks, not bugs)
USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError, RuntimeError)
#: where the project's own code lives
PACKAGES = tuple(Path(__file__).resolve().parents[1] / name for name in ("sacd", "distillers", "datamodules"))


def take_debug_flag(words: Sequence[str]) -> tuple[list[str], bool]:
    """The command line without ``--debug``, and whether tracebacks are wanted."""
    words = list(words)
    debug = DEBUG_FLAG in words or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    if DEBUG_FLAG in words:
        words.remove(DEBUG_FLAG)
    return words, debug


def raised_by_a_check(error: BaseException) -> bool:
    """Whether ``error`` is one of the project's refusals: a user-error type raised in its own code."""
    if not isinstance(error, USER_ERRORS) or error.__traceback__ is None:
        return False
    where = Path(traceback.extract_tb(error.__traceback__)[-1].filename).resolve()
    return any(where.is_relative_to(package) for package in PACKAGES)


def run_reporting_errors(command: str, run: Callable[[], object], debug: bool) -> object:
    """Run ``run``; a refusal raised by the project's checks prints one line and exits 1. With ``debug``,
    parse errors raise too (jsonargparse's debug mode), so every error shows where it came from."""
    previous = os.environ.get(PARSER_DEBUG)
    if debug:
        os.environ[PARSER_DEBUG] = "true"
    try:
        return run()
    except Exception as error:
        if debug or not raised_by_a_check(error):
            raise
        print(f"sacd {command}: error: {error}", file=sys.stderr)
        print(f"(add {DEBUG_FLAG} to the command to see where it was raised)", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if previous is None:
            os.environ.pop(PARSER_DEBUG, None)
        else:
            os.environ[PARSER_DEBUG] = previous
