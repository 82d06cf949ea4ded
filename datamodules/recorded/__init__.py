"""Real recordings: PSG files, infrared videos and scored hypnograms, listed in a manifest."""

from datamodules.recorded.datamodule import RecordedNights, prepare_night
from datamodules.recorded.discover import discover_nights
from datamodules.recorded.manifest import ManifestError, NightEntry, read_manifest

__all__ = ["ManifestError", "NightEntry", "RecordedNights", "discover_nights", "prepare_night", "read_manifest"]
