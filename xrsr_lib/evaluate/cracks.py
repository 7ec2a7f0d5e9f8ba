"""Study B's downstream crack segmentation and its pixel-wise scores.

:func:`segment_cracks` is a fixed pipeline (black top-hat, threshold, clean-up, pore exclusion;
settings :class:`~xrsr_lib.config.nanoct.CrackSegmentationConfig`) applied alike to the reference,
the bicubic input and every super-resolved slice; :func:`segmentation_scores` compares a mask with
the simulated crack mask.
"""

from __future__ import annotations

import numpy as np

from xrsr_lib.config.nanoct import CrackSegmentationConfig
from xrsr_lib.simulate.nanoct import check_image

__all__ = ["segment_cracks", "segmentation_scores"]


def segment_cracks(image: np.ndarray, config: CrackSegmentationConfig | None = None) -> np.ndarray:
    """Crack mask of a slice by a fixed pipeline (same parameters for every image).

    1. black top-hat with a disk of radius ``tophat_radius_px`` (closing minus image): dark
       structures narrower than the disk (cracks) respond with their depth below the local matrix
       level, wide pores do not;
    2. threshold: Otsu's threshold of the top-hat response by default (adapts to the lower
       contrast of blurred cracks, so degraded inputs get graded rather than zero scores), or a
       fixed grey-level difference (e.g. half the matrix/void contrast, the partial-volume
       criterion of the crack mask; this sends ×4 bicubic scores to about 0);
    3. removal of objects smaller than ``min_size_px`` (8-connectivity);
    4. removal of compact objects (small pores): major/minor axis ratio < ``pore_max_elongation``
       and solidity >= ``pore_min_solidity``.

    Returns
    -------
    ndarray, bool (H, W)
    """
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops
    from skimage.morphology import black_tophat, disk

    config = CrackSegmentationConfig() if config is None else config
    arr = check_image(image).astype(np.float32)
    response = black_tophat(arr, disk(config.tophat_radius_px))
    if config.threshold == "otsu":
        thr = float(threshold_otsu(response)) if np.ptp(response) > 0 else np.inf
    else:
        thr = float(config.threshold)
    mask = response >= thr
    labels = label(mask, connectivity=2)
    keep = np.zeros(labels.max() + 1, dtype=bool)
    for region in regionprops(labels):
        if region.area < config.min_size_px:
            continue
        minor = region.axis_minor_length
        elongation = region.axis_major_length / minor if minor > 0 else np.inf
        if elongation < config.pore_max_elongation and region.solidity >= config.pore_min_solidity:
            continue
        keep[region.label] = True
    return keep[labels]


def segmentation_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel-wise accuracy, precision, recall and F1 of a binary prediction.

    Zero divisions: with no predicted positives, precision is 1 if the truth has no positives
    either and 0 otherwise; with no true positives in the truth, recall is 1 if nothing is
    predicted and 0 otherwise; F1 = 2PR / (P + R) and 0 when P + R = 0. So two empty masks
    score 1 everywhere, and any mismatch with an empty side scores F1 = 0.

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``f1`` (floats) and the counts ``tp``, ``fp``,
        ``fn``, ``tn`` (as floats).
    """
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} differs from truth shape {t.shape}")
    if p.size == 0:
        raise ValueError("masks are empty arrays")
    p = p.astype(bool)
    t = t.astype(bool)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    tn = int(p.size - tp - fp - fn)
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "accuracy": (tp + tn) / p.size,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "tn": float(tn),
    }
