"""Registering a fine interior scan to a coarse scan of the same sample (different voxel sizes).

Three steps, each on data a user has:

1. **Coarse placement** from the recorded stage pose and the two voxel sizes (the scale is known,
   so no Fourier-Mellin search): the coarse scan is resampled onto the fine grid.
2. **FFT translation**: 3D phase correlation (scikit-image ``phase_cross_correlation``, sub-voxel)
   between the fine scan, blurred to the coarse resolution, and that resampled coarse scan, both
   windowed; the peak's height against the next-highest peak is the *peak ratio*.
3. **Rigid refinement** with SimpleITK (images carry spacing and origin, so the voxel sizes are
   native): a turn about the rotation axis and a translation, normalized correlation (the scans
   differ in grey scale), multi-resolution.

:func:`register` reports the pose, the correlation of the two images after registration, the
peak ratio, the refinement's final metric and a checkerboard of the central slice. A registration
that cannot be trusted is an error (:class:`RegistrationError`): fine and coarse fields of view
that do not overlap, or a peak no better than noise (peak ratio or correlation below the
thresholds). None of CAREamics, CSBDeep or MONAI registers such pairs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.signal.windows import tukey

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.validate import check_array, check_real
from xrsr_lib.prepare.pose import Pose, grid_points
from xrsr_lib.prepare.resample import resample

log = logging.getLogger(__name__)

__all__ = ["Registration", "RegistrationError", "checkerboard", "register"]


class RegistrationError(XrsrInputError):
    """The scans could not be registered (no overlap, or no reliable match).

    Bad input (the scans or the recorded offset): a :class:`~xrsr_lib.io.errors.XrsrInputError` (so
    also a ``ValueError``).
    """

    def __init__(self, message: str, parameter: str | None = "offset_um") -> None:
        super().__init__(message, parameter)


@dataclass
class Registration:
    """Result of :func:`register`.

    Attributes
    ----------
    pose : Pose
        The fine scan's pose in the coarse scan's sample frame.
    initial : Pose
        The recorded pose it started from.
    fft_shift_um : tuple of float
        Translation found by phase correlation, fine-scan frame ``(z, y, x)``, µm.
    peak_ratio : float
        Phase-correlation peak over the next-highest peak (1 = no distinct match).
    correlation : float
        Pearson correlation of the blurred fine scan and the coarse scan resampled with ``pose``.
    correlation_initial : float
        The same with the recorded pose.
    metric : float
        SimpleITK's final metric value (negative normalized correlation).
    checkerboard : ndarray (y, x)
        Central slice alternating fine and registered coarse blocks (each standardized).
    """

    pose: Pose
    initial: Pose
    fft_shift_um: tuple[float, float, float]
    peak_ratio: float
    correlation: float
    correlation_initial: float
    metric: float
    checkerboard: np.ndarray = field(repr=False)

    def report(self) -> dict[str, Any]:
        """Return the numbers as a flat dict (for a JSON report or a table)."""
        return {
            "angle_deg": self.pose.angle_deg,
            "center_z_um": self.pose.center_um[0],
            "center_y_um": self.pose.center_um[1],
            "center_x_um": self.pose.center_um[2],
            "fft_shift_um": list(self.fft_shift_um),
            "peak_ratio": self.peak_ratio,
            "correlation": self.correlation,
            "correlation_initial": self.correlation_initial,
            "metric": self.metric,
        }


def _standardize(a: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    sel = a if mask is None else a[mask]
    return (a - sel.mean()) / (sel.std() or 1.0)


def _pearson(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / math.sqrt((x * x).sum() * (y * y).sum() + 1e-30))


def checkerboard(a: np.ndarray, b: np.ndarray, block: int = 8) -> np.ndarray:
    """Make a 2-D image alternating ``block``-sized squares of ``a`` and ``b`` (each standardized)."""
    a, b = _standardize(np.asarray(a, float)), _standardize(np.asarray(b, float))
    yy, xx = np.indices(a.shape)
    return np.where(((yy // block) + (xx // block)) % 2 == 0, a, b).astype(np.float32)


def _window(shape: tuple[int, ...], alpha: float = 0.4) -> np.ndarray:
    w = np.ones(shape)
    for axis, n in enumerate(shape):
        s = [1] * len(shape)
        s[axis] = n
        w = w * tukey(n, alpha).reshape(s)
    return w


def _peak_ratio(a: np.ndarray, b: np.ndarray, separation: int) -> float:
    """Return the ratio of the cross-correlation surface's highest peak to its runner-up.

    The runner-up is the next local maximum at least ``separation`` voxels away (surfaces of
    band-limited images are smooth: their peaks are broad).
    """
    surface = np.real(np.fft.ifftn(np.fft.fftn(a) * np.conj(np.fft.fftn(b))))
    surface = surface - np.median(surface)
    size = 2 * separation + 1
    peaks = np.sort(surface[surface == maximum_filter(surface, size=size, mode="wrap")])[::-1]
    return float(peaks[0] / peaks[1]) if len(peaks) > 1 and peaks[1] > 0 else math.inf


def register(
    fine: np.ndarray,
    fine_voxel_um: float,
    coarse: np.ndarray,
    coarse_voxel_um: float,
    recorded: Pose,
    coarse_pose: Pose | None = None,
    *,
    min_overlap: float = 0.9,
    min_peak_ratio: float = 1.5,
    min_correlation: float = 0.3,
    max_angle_deg: float = 3.0,
) -> Registration:
    """Find the fine scan's pose in the coarse scan's frame.

    Parameters
    ----------
    fine : ndarray (z, y, x)
        The fine (interior) scan, on its own grid centred on the rotation axis.
    fine_voxel_um : float
        Its voxel size, µm.
    coarse : ndarray (z, y, x)
        The coarse scan that contains the fine one's field of view.
    coarse_voxel_um : float
        Its voxel size, µm.
    recorded : Pose
        The fine scan's pose as the stage recorded it (sample frame).
    coarse_pose : Pose, optional
        The coarse scan's pose in the sample frame (default: it is the sample frame).
    min_overlap : float
        Fraction of the fine grid that must lie inside the coarse grid under ``recorded``.
    min_peak_ratio, min_correlation : float
        Below either, the match is no better than noise and an error is raised.
    max_angle_deg : float
        A refined turn beyond this is an error (the stage turns the sample by far less).

    Returns
    -------
    Registration

    Raises
    ------
    RegistrationError
        No overlap, a peak no better than noise, or an implausible result.
    """
    import SimpleITK as sitk

    f = check_array(fine, "fine", 3)
    c = check_array(coarse, "coarse", 3)
    vf = check_real(fine_voxel_um, "fine_voxel_um", 0.0, strict=True, unit=" µm")
    vc = check_real(coarse_voxel_um, "coarse_voxel_um", 0.0, strict=True, unit=" µm")
    coarse_pose = coarse_pose or Pose()
    initial = recorded
    rel = recorded.relative_to(coarse_pose)  # the fine pose in the coarse scan's own frame

    # 1. coarse placement
    on_fine, inside = resample(c, vc, f.shape, vf, rel, order=1)
    overlap = float(inside.mean())
    if overlap < min_overlap:
        raise RegistrationError(
            f"the fine scan's field of view lies {100 * (1 - overlap):.0f} % outside the "
            f"coarse scan under the recorded pose {recorded.as_dict()}: no overlap to "
            "register (check the stage position and the voxel sizes)"
        )
    sigma = max(0.5, 0.5 * vc / vf)  # fine voxels: the fine scan brought to the coarse resolution
    f_low = gaussian_filter(f, sigma, mode="nearest")

    # 2. FFT translation
    from skimage.registration import phase_cross_correlation

    win = _window(f.shape)
    a, b = _standardize(f_low) * win, _standardize(on_fine) * win
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=10, normalization=None)
    ratio = _peak_ratio(a, b, max(2, int(round(vc / vf))))
    # the coarse content lies -shift from where assumed
    shift_um = cast(tuple[float, float, float], tuple(float(-s * vf) for s in shift))
    fft_centre = rel.to_sample(np.asarray(shift_um))  # the recorded pose moved by the FFT shift
    fft_pose = Pose(rel.angle_deg, tuple(float(v) for v in fft_centre))  # type: ignore[arg-type]
    log.info("registration: FFT shift %s µm (fine frame), peak ratio %.2f", np.round(shift_um, 2), ratio)
    if ratio < min_peak_ratio:
        raise RegistrationError(
            f"phase correlation has no distinct peak (peak ratio {ratio:.2f} < "
            f"{min_peak_ratio}): the scans do not match (noise, or another sample)"
        )

    # 3. rigid refinement (SimpleITK: fixed = blurred fine scan, moving = coarse scan, own frames)
    def image(arr: np.ndarray, spacing: float) -> Any:
        img = sitk.GetImageFromArray(arr.astype(np.float32))
        img.SetSpacing((spacing,) * 3)
        img.SetOrigin(tuple(float(g[0]) for g in grid_points(arr.shape, spacing))[::-1])
        return img

    fixed, moving = image(f_low, vf), image(c, vc)
    tx = sitk.Euler3DTransform()
    tx.SetCenter((0.0, 0.0, 0.0))
    tx.SetRotation(0.0, 0.0, math.radians(fft_pose.angle_deg))
    tx.SetTranslation(tuple(fft_pose.center_um[::-1]))
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsCorrelation()
    reg.SetMetricSamplingStrategy(reg.NONE)  # every voxel: the turn is a sub-voxel effect at the edges
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=0.5 * vf,
        minStep=1e-5 * vf,
        numberOfIterations=500,
        relaxationFactor=0.7,
        gradientMagnitudeTolerance=1e-10,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetOptimizerWeights([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])  # turn about the axis and translation only
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1.0, 0.0])
    reg.SetInitialTransform(tx, inPlace=True)
    reg.Execute(fixed, moving)
    angle = math.degrees(tx.GetAngleZ())
    refined = Pose(angle, tuple(float(v) for v in tx.GetTranslation()[::-1]))  # type: ignore[arg-type]
    if abs(angle) > max_angle_deg:
        raise RegistrationError(
            f"refinement turned the scan by {angle:.2f}° (> {max_angle_deg}°): no reliable match"
        )
    final, ok = resample(c, vc, f.shape, vf, refined, order=1)
    corr = _pearson(f_low, final, ok)
    corr0 = _pearson(f_low, on_fine, inside)
    log.info(
        "registration: turn %.3f°, centre %s µm, correlation %.3f (recorded pose: %.3f)",
        angle,
        np.round(refined.center_um, 2),
        corr,
        corr0,
    )
    if corr < min_correlation:
        raise RegistrationError(
            f"after registration the scans correlate by only {corr:.2f} (< "
            f"{min_correlation}): no reliable match"
        )
    mid = f.shape[0] // 2
    return Registration(
        pose=coarse_pose.compose(refined),
        initial=initial,
        fft_shift_um=shift_um,
        peak_ratio=ratio,
        correlation=corr,
        correlation_initial=corr0,
        metric=float(reg.GetMetricValue()),
        checkerboard=checkerboard(f_low[mid], final[mid]),
    )
