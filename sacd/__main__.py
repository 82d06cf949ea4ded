"""``python -m sacd`` is the ``sacd`` command."""

from sacd.cli import main

main()
