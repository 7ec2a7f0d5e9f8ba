"""Preparing volumes for training and inference.

Masks of measured data, intensity normalization, poses of scans in the sample, resampling between
grids, and registration of scans taken at different voxel sizes (:func:`register`; it imports
SimpleITK when called).
"""

from xrsr_lib.prepare.masks import LOSS_MASKS, cylinder_mask, disc_mask, fov_mask, loss_mask
from xrsr_lib.prepare.normalization import Normalization
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.prepare.registration import Registration, RegistrationError, register
from xrsr_lib.prepare.resample import resample

__all__ = [
    "LOSS_MASKS",
    "Normalization",
    "Pose",
    "Registration",
    "RegistrationError",
    "cylinder_mask",
    "disc_mask",
    "fov_mask",
    "loss_mask",
    "register",
    "resample",
]
