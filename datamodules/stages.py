"""The five AASM sleep stages in label order: label ``i`` is ``STAGES[i]``.

R&K files score S3 and S4 separately; both map to N3. Movement and unscored epochs have no label
here and are dropped by the readers, never guessed. The tuple itself lives in ``sacd.stages`` so the
core and the datamodules share one definition.
"""

from sacd.stages import STAGES

__all__ = ["STAGES"]
