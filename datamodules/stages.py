"""The five AASM sleep stages in label order: label ``i`` is ``STAGES[i]``.

R&K files score S3 and S4 separately; both map to N3. Movement and unscored epochs of a scored night
have no stage and are dropped by the readers, never guessed; an item of a night nobody scored
carries the label ``UNSCORED``. The tuple itself lives in ``sacd.stages`` so the
core and the datamodules share one definition.
"""

from sacd.stages import STAGES, UNSCORED

__all__ = ["STAGES", "UNSCORED"]
