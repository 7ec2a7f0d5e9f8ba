"""Scores of a result against a reference: on one grid, or on a registered scan's grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.scans import read_scan
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.recovery.state import VolumeLike

__all__ = ["Scores"]


class Scores:
    """Scoring results (a part of :class:`~xrsr_lib.recovery.Recovery`; static, no model needed)."""

    @staticmethod
    def evaluate(
        result: VolumeLike,
        reference: VolumeLike,
        mask: np.ndarray | None = None,
        data_range: float | None = None,
        voxel_size_um: float | None = None,
        pores: bool = False,
    ) -> dict[str, Any]:
        """Scores of a result against a reference of the same grid (what ``xrsr evaluate`` reports).

        Returns ``mse``, ``psnr`` (dB), ``ssim`` (Gaussian window σ = 1.5 voxels), ``ms_ssim`` (None
        for a masked or too small volume) and ``effective_blur_voxels``: the σ of the Gaussian blur of
        the reference that best matches the result (0 = as sharp as the reference;
        :func:`xrsr_lib.evaluate.gaussian_fit`). ``data_range`` defaults to the reference's
        max - min. With ``voxel_size_um``, also ``effective_blur_um``; with ``pores=True`` (needs
        it), pore statistics of both (:func:`xrsr_lib.evaluate.volume_scores.volume_scores`).
        """
        from xrsr_lib.evaluate.volume_scores import volume_scores

        r, _ = read_scan(result, "result", need_voxel=False)
        t, _ = read_scan(reference, "reference", need_voxel=False)
        if r.shape != t.shape:
            raise XrsrInputError(
                f"result and reference shapes differ: {r.shape} vs {t.shape}", parameter="reference"
            )
        dr = float(t.max() - t.min()) if data_range is None else float(data_range)
        if dr <= 0:
            raise XrsrInputError("the reference is constant: give data_range", parameter="data_range")
        if pores and voxel_size_um is None:
            raise XrsrInputError("pore statistics need voxel_size_um", parameter="voxel_size_um")
        return volume_scores(r, t, dr, mask=mask, voxel_size_um=voxel_size_um, pores=pores)

    @staticmethod
    def evaluate_on_scan(
        result: Any,
        reference: VolumeLike,
        pose: Pose | dict[str, Any],
        reference_voxel_um: float | None = None,
        data_range: float | None = None,
    ) -> dict[str, Any]:
        """Scores of a prediction against a scan of a region of its input, on that scan's grid.

        ``result`` is an OME-Zarr written by :meth:`predict_to_zarr` (or ``xrsr predict``; a whole
        volume or a ``roi``), which records where it lies in its input. ``pose`` places the reference
        scan in the input scan's frame (:func:`register_scans`, ``xrsr register``). Only the part of
        the result under the reference is read; it is resampled (cubic spline) onto the reference's
        grid and scored (:meth:`evaluate`) over the reference voxels it covers.

        Returns
        -------
        dict
            :meth:`evaluate`'s scores, ``voxels_scored`` and the grid's ``voxel_size_um``.

        Raises
        ------
        XrsrInputError
            A result that does not record its place in its input, or no overlap under ``pose``.
        """
        from xrsr_lib.io.lazy import LazyVolume, open_volume
        from xrsr_lib.prepare.resample import resample_region

        src = result if isinstance(result, LazyVolume) else open_volume(result)
        prov = src.metadata.get("xrsr", {})
        need = ("origin_um", "input_shape", "input_voxel_size_um", "voxel_size_um")
        if not all(k in prov for k in need):
            raise XrsrInputError(
                f"{src.path} does not record where it lies in its input; give an OME-Zarr "
                "written by xrsr predict",
                parameter="result",
            )
        pose = pose if isinstance(pose, Pose) else Pose.from_dict(pose)
        ref, v_ref = read_scan(reference, "reference", reference_voxel_um)
        on_grid, inside = resample_region(
            src,
            prov["origin_um"],
            float(prov["voxel_size_um"]),
            prov["input_shape"],
            float(prov["input_voxel_size_um"]),
            ref.shape,
            v_ref,
            pose,
        )
        if inside.sum() < 8:
            name = reference if isinstance(reference, str | Path) else "the reference"
            raise XrsrInputError(f"{name} lies outside {src.path} under the pose", parameter="pose")
        scores = Scores.evaluate(on_grid, ref, mask=inside, data_range=data_range, voxel_size_um=v_ref)
        return {**scores, "voxels_scored": int(inside.sum()), "voxel_size_um": v_ref}
