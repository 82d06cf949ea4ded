"""Networks: the EEG teacher and the video students, with one timm-like interface."""

from sacd.models.eeg import AttnSleep
from sacd.models.registry import create_student, list_students
from sacd.models.video import R2Plus1D, VideoStudent, X3D

__all__ = ["AttnSleep", "VideoStudent", "R2Plus1D", "X3D", "create_student", "list_students"]
