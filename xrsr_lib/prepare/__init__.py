"""Preparing volumes for training and inference: masks of measured data, intensity normalization.

Registration and resampling of scans at different voxel sizes will live here too (see the
multiscale workflow in ``../shared/design.md``).
"""

from xrsr_lib.prepare.masks import LOSS_MASKS, cylinder_mask, disc_mask, fov_mask, loss_mask
from xrsr_lib.prepare.normalization import Normalization

__all__ = ["LOSS_MASKS", "Normalization", "cylinder_mask", "disc_mask", "fov_mask", "loss_mask"]
