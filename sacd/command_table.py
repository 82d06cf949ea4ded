"""The commands of ``sacd`` besides Lightning's four, and the module whose ``main`` runs each."""

from __future__ import annotations

#: command -> module with ``main(argv) -> int``
EXTRA_COMMANDS = {
    "synth": "sacd.synth_cli",
    "check-data": "sacd.check_data",
    "manifest": "sacd.manifest_cli",
    "sweep": "sacd.sweep_cli",
    "report": "sacd.report_cli",
}
