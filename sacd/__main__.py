"""``python -m sacd`` is the ``sacd`` command."""

from sacd.entry_point import main

main()
