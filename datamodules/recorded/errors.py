"""The one error type for files from outside (manifests, PSG recordings, hypnograms, videos) that cannot be used.

Every reader of outside input turns whatever goes wrong with a file (a damaged header, a wrong encoding, an
absurd number) into a subclass of :class:`InputFileError` whose message names the file, says what is wrong
with it and how to fix it, so a caller can catch one type and the user is never shown a bare ``IndexError``.
"""

from __future__ import annotations

__all__ = ["InputFileError"]


class InputFileError(ValueError):
    """A file from outside that cannot be used as given; the message names the file and the fix.

    A ``ValueError`` so that code that reports bad values (the CLI's one-line errors) reports it too.
    """
