"""Whether output goes to a terminal: live bars redraw in place there, and print whole lines elsewhere."""

from __future__ import annotations

import os
import sys


def interactive_output() -> bool:
    """Whether stdout and stderr are a terminal that can redraw a bar in place (not a file, pipe or CI log)."""
    return sys.stdout.isatty() and sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"
