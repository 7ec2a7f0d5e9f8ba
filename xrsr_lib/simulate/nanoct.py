"""Simulated synchrotron nano-CT slices with pores and thin branching cracks (study B).

Study B pre-trains a super-resolution network on natural images and fine-tunes it on nano-CT
slices of a dense material with pores and thin branching cracks; a fixed crack segmentation is
then scored against the crack mask on the bicubic input, each SR output and the reference. No
data can be downloaded, so this module provides everything offline:

* :func:`simulate_crack_slice` – a high-quality reference slice (dense textured matrix, elliptical
  pores, cracks grown as persistent random walks with branching), rasterized at ``supersampling``×
  and block-averaged so edges carry partial-volume grey values, with the crack and pore masks;
* :func:`degrade_slice` / :func:`bicubic_upsample` – the low-resolution input and the baseline;
* :func:`make_split` / :data:`SPLIT_SEEDS` – train / val / test sets that never share a seed;
* :func:`natural_images` / :func:`random_crops` – pre-training images bundled with installed
  packages (scikit-image's data folder, matplotlib's sample data), never fetched;
* :func:`segment_cracks` / :func:`segmentation_scores` – the downstream crack segmentation.

Conventions: images are float32 ``(H, W)``; pixel ``(r, c)`` covers ``[r, r+1) × [c, c+1)`` in
continuous coordinates (rows, columns), all lengths are in reference (high-resolution) pixels.

Examples
--------
>>> from xrsr_lib.simulate.nanoct import CrackSliceConfig, simulate_crack_slice
>>> s = simulate_crack_slice(CrackSliceConfig(size=128), seed=0)
>>> s.image.shape, s.image.dtype, bool(s.crack_mask.any())
((128, 128), dtype('float32'), True)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.ndimage import gaussian_filter, zoom

logger = logging.getLogger(__name__)

Seed = int | Sequence[int] | np.random.SeedSequence

#: Base seeds of the three splits. Image ``i`` of a split with base seed ``b`` is simulated with
#: ``np.random.default_rng((b, i, 0))`` and its noise drawn with ``(b, i, 1)`` (see
#: :func:`split_image_seeds`): the seed tuples of different splits differ in their first entry,
#: so no two splits ever share a realization, whatever their sizes.
SPLIT_SEEDS: dict[str, int] = {"train": 20_231, "val": 20_232, "test": 20_233}

#: Default degradation (σ of the Gaussian blur in reference pixels, noise std in grey levels).
DEFAULT_BLUR_SIGMA_PX = 1.0
DEFAULT_NOISE_STD = 0.02

_VALID_SCALES = (1, 2, 4)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


class CrackSliceConfig(_Frozen):
    """Geometry and grey levels of a simulated nano-CT slice (lengths in pixels)."""

    size: int = Field(default=256, ge=16, le=4096, description="image side H = W, pixels")
    pixel_size_nm: float = Field(default=50.0, gt=0, description="reference pixel size, nm (metadata)")
    supersampling: int = Field(
        default=4, ge=1, le=8, description="sub-pixels per pixel side when rasterizing (partial volume)"
    )
    n_pores: int = Field(default=10, ge=0, description="number of elliptical pores")
    pore_radius_range_px: tuple[float, float] = Field(
        default=(2.5, 8.0), description="range of the pores' semi-major axis, pixels"
    )
    pore_aspect_range: tuple[float, float] = Field(
        default=(1.0, 1.5), description="range of the pores' major / minor axis ratio (1 = round)"
    )
    n_cracks: int = Field(default=4, ge=0, description="number of crack seeds (main cracks)")
    crack_length_range_px: tuple[float, float] = Field(
        default=(80.0, 200.0), description="range of a main crack's path length, pixels"
    )
    crack_width_range_px: tuple[float, float] = Field(
        default=(1.0, 3.0), description="range of the local crack opening (full width), pixels"
    )
    width_jitter_px: float = Field(
        default=0.15, ge=0, description="std of the per-step random change of the crack width, pixels"
    )
    step_px: float = Field(default=1.5, gt=0, le=8, description="random-walk step length, pixels")
    tortuosity_rad: float = Field(
        default=0.15, ge=0, le=1.5, description="std of the per-step direction change, radians (persistence)"
    )
    branch_probability: float = Field(
        default=0.015, ge=0, le=0.5, description="probability per step that a branch starts"
    )
    branch_angle_range_deg: tuple[float, float] = Field(
        default=(20.0, 60.0), description="range of a branch's angle to its parent, degrees"
    )
    branch_length_fraction: tuple[float, float] = Field(
        default=(0.3, 0.8), description="range of a branch's length as a fraction of the parent's rest"
    )
    max_branch_depth: int = Field(default=2, ge=0, le=5, description="branches of branches allowed, levels")
    tip_taper_fraction: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="final fraction of each crack over which it narrows to the minimum",
    )
    material_level: float = Field(default=0.7, ge=0, le=1, description="grey level of the dense matrix")
    void_level: float = Field(default=0.05, ge=0, le=1, description="grey level of pores and cracks")
    texture_amplitude: float = Field(
        default=0.03, ge=0, le=0.5, description="std of the smooth grain texture of the matrix, grey levels"
    )
    texture_sigma_px: float = Field(
        default=2.0, gt=0, description="correlation length (Gaussian σ) of the grain texture, pixels"
    )

    @model_validator(mode="after")
    def _check(self) -> CrackSliceConfig:
        for name in (
            "pore_radius_range_px",
            "pore_aspect_range",
            "crack_length_range_px",
            "crack_width_range_px",
            "branch_angle_range_deg",
            "branch_length_fraction",
        ):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
                raise ValueError(f"{name} must be finite with 0 < low <= high, got {(lo, hi)}")
        if self.pore_aspect_range[0] < 1:
            raise ValueError(f"pore_aspect_range must be >= 1, got {self.pore_aspect_range}")
        if self.branch_length_fraction[1] > 1:
            raise ValueError(f"branch_length_fraction must be <= 1, got {self.branch_length_fraction}")
        if self.material_level <= self.void_level:
            raise ValueError("material_level must be brighter than void_level (dark pores and cracks)")
        if (
            self.material_level + 3 * self.texture_amplitude > 1
            or self.material_level - 3 * self.texture_amplitude < 0
        ):
            raise ValueError("material_level ± 3·texture_amplitude must stay within [0, 1]")
        return self

    @property
    def contrast(self) -> float:
        """Grey-level difference between matrix and voids."""
        return self.material_level - self.void_level


@dataclass(frozen=True)
class CrackSlice:
    """A reference slice and its ground truth.

    Attributes
    ----------
    image : ndarray, float32 (H, W)
        High-quality reference in [0, 1] (partial-volume edges, grain texture, no noise).
    crack_mask : ndarray, bool (H, W)
        Pixels at least half covered by crack, excluding pore pixels.
    pore_mask : ndarray, bool (H, W)
        Pixels at least half covered by pores.
    """

    image: np.ndarray
    crack_mask: np.ndarray
    pore_mask: np.ndarray


def _grow_cracks(config: CrackSliceConfig, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Persistent random walks with branching; returns (vertices (n, 2), full widths (n,)) polylines."""
    n = config.size
    wmin, wmax = config.crack_width_range_px
    step = config.step_px
    margin = 4 * step + wmax
    polylines: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(config.n_cracks):
        start = rng.uniform(0.1 * n, 0.9 * n, size=2)
        stack = [
            (
                start,
                rng.uniform(0, 2 * np.pi),
                rng.uniform(*config.crack_length_range_px),
                rng.uniform(wmin, wmax),
                0,
            )
        ]
        while stack:
            p, theta, length, w, depth = stack.pop()
            n_steps = max(1, math.ceil(length / step))
            dtheta = rng.normal(0.0, config.tortuosity_rad, n_steps)
            dw = rng.normal(0.0, config.width_jitter_px, n_steps)
            branch_u = rng.random(n_steps)
            pts = [p]
            ws = [w]
            for k in range(n_steps):
                theta += dtheta[k]
                p = p + step * np.array([math.sin(theta), math.cos(theta)])
                w = min(max(w + dw[k], wmin), wmax)
                pts.append(p)
                ws.append(w)
                if not (-margin <= p[0] <= n + margin and -margin <= p[1] <= n + margin):
                    break
                if depth < config.max_branch_depth and branch_u[k] < config.branch_probability:
                    side = 1.0 if rng.random() < 0.5 else -1.0
                    angle = math.radians(rng.uniform(*config.branch_angle_range_deg))
                    rest = (n_steps - k - 1) * step
                    stack.append(
                        (
                            p.copy(),
                            theta + side * angle,
                            max(step, rest * rng.uniform(*config.branch_length_fraction)),
                            max(wmin, w * rng.uniform(0.6, 0.9)),
                            depth + 1,
                        )
                    )
            verts = np.array(pts)
            widths = np.array(ws)
            m = len(widths)
            n_taper = config.tip_taper_fraction * m
            if n_taper >= 1:
                taper = np.clip((m - 1 - np.arange(m)) / n_taper, 0.0, 1.0)
                widths = wmin + (widths - wmin) * taper
            polylines.append((verts, widths))
    return polylines


def _rasterize_polylines(
    polylines: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int], s: int
) -> np.ndarray:
    """Boolean super-sampled map of the union of capsules (linearly varying half-width) along polylines."""
    out = np.zeros(shape, dtype=bool)
    for verts, widths in polylines:
        v = verts * s
        h = widths * (s / 2.0)
        for a, b, ha, hb in zip(v[:-1], v[1:], h[:-1], h[1:], strict=True):
            hm = max(ha, hb)
            r0 = max(int(math.floor(min(a[0], b[0]) - hm - 0.5)), 0)
            r1 = min(int(math.ceil(max(a[0], b[0]) + hm + 0.5)), shape[0])
            c0 = max(int(math.floor(min(a[1], b[1]) - hm - 0.5)), 0)
            c1 = min(int(math.ceil(max(a[1], b[1]) + hm + 0.5)), shape[1])
            if r0 >= r1 or c0 >= c1:
                continue
            rr = (np.arange(r0, r1) + 0.5)[:, None] - a[0]
            cc = (np.arange(c0, c1) + 0.5)[None, :] - a[1]
            d = b - a
            dd = float(d @ d)
            t = np.clip((rr * d[0] + cc * d[1]) / dd, 0.0, 1.0) if dd > 0 else np.zeros_like(rr + cc)
            dist2 = (rr - t * d[0]) ** 2 + (cc - t * d[1]) ** 2
            half = ha + t * (hb - ha)
            out[r0:r1, c0:c1] |= dist2 <= half**2
    return out


def _rasterize_pores(
    config: CrackSliceConfig, rng: np.random.Generator, shape: tuple[int, int], s: int
) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    n = config.size
    for _ in range(config.n_pores):
        a = rng.uniform(*config.pore_radius_range_px) * s
        b = a / rng.uniform(*config.pore_aspect_range)
        phi = rng.uniform(0, np.pi)
        centre = rng.uniform(0, n, size=2) * s
        r0, r1 = max(int(centre[0] - a - 1), 0), min(int(centre[0] + a + 2), shape[0])
        c0, c1 = max(int(centre[1] - a - 1), 0), min(int(centre[1] + a + 2), shape[1])
        if r0 >= r1 or c0 >= c1:
            continue
        rr = (np.arange(r0, r1) + 0.5)[:, None] - centre[0]
        cc = (np.arange(c0, c1) + 0.5)[None, :] - centre[1]
        u = rr * math.cos(phi) + cc * math.sin(phi)
        w = -rr * math.sin(phi) + cc * math.cos(phi)
        out[r0:r1, c0:c1] |= (u / a) ** 2 + (w / b) ** 2 <= 1.0
    return out


def _block_mean(arr: np.ndarray, s: int) -> np.ndarray:
    h, w = arr.shape
    return arr.reshape(h // s, s, w // s, s).mean(axis=(1, 3), dtype=np.float64)


def simulate_crack_slice(config: CrackSliceConfig | None = None, seed: Seed = 0) -> CrackSlice:
    """Simulate one reference nano-CT slice with pores and branching cracks.

    Pores (random ellipses) and cracks (persistent random walks: the direction changes by
    ``N(0, tortuosity_rad)`` per step, the width by ``N(0, width_jitter_px)`` within
    ``crack_width_range_px``, a branch starts with ``branch_probability`` per step and the last
    ``tip_taper_fraction`` of each crack narrows to the minimum width) are rasterized on a grid
    ``supersampling`` times finer and block-averaged into void fractions ``v``. The image is
    ``material·(1 - v) + void·v + texture·(1 - v)`` where the texture is Gaussian-filtered white
    noise of std ``texture_amplitude``, clipped to [0, 1].

    Parameters
    ----------
    config : CrackSliceConfig, optional
        Defaults to ``CrackSliceConfig()`` (256², 10 pores, 4 cracks, widths 1–3 px).
    seed : int, sequence of ints or SeedSequence
        Anything ``numpy.random.default_rng`` accepts; the output depends only on it and the config.

    Returns
    -------
    CrackSlice
        ``crack_mask`` = crack coverage >= 0.5 and not a pore pixel; ``pore_mask`` = pore coverage >= 0.5.
    """
    config = CrackSliceConfig() if config is None else config
    rng = np.random.default_rng(seed)
    n, s = config.size, config.supersampling
    fine = (n * s, n * s)
    pores_fine = _rasterize_pores(config, rng, fine, s)
    cracks_fine = _rasterize_polylines(_grow_cracks(config, rng), fine, s)
    pore_cov = _block_mean(pores_fine, s)
    crack_cov = _block_mean(cracks_fine, s)
    void = _block_mean(pores_fine | cracks_fine, s)
    texture = np.zeros((n, n))
    if config.texture_amplitude > 0:
        texture = gaussian_filter(rng.standard_normal((n, n)), config.texture_sigma_px, mode="wrap")
        texture *= config.texture_amplitude / max(float(texture.std()), 1e-12)
    image = config.material_level * (1 - void) + config.void_level * void + texture * (1 - void)
    pore_mask = pore_cov >= 0.5
    crack_mask = (crack_cov >= 0.5) & ~pore_mask
    return CrackSlice(
        image=np.clip(image, 0.0, 1.0).astype(np.float32),
        crack_mask=crack_mask,
        pore_mask=pore_mask,
    )


# --------------------------------------------------------------------------------------------
# Degradation and baseline
# --------------------------------------------------------------------------------------------


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or int(scale) not in _VALID_SCALES:
        raise ValueError(f"scale must be one of {_VALID_SCALES}, got {scale!r}")
    return int(scale)


def _check_nonneg(value: float, name: str) -> float:
    if not isinstance(value, int | float | np.integer | np.floating) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def degrade_slice(
    image: np.ndarray,
    scale: int,
    blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
    noise_std: float = DEFAULT_NOISE_STD,
    seed: Seed = 0,
) -> np.ndarray:
    """Low-resolution, noisy version of a reference slice.

    Steps: Gaussian blur of σ = ``blur_sigma_px`` reference pixels (mirror borders, so the total
    grey value of an interior object is preserved), area down-sampling by ``scale`` (mean of each
    ``scale × scale`` block), then additive white Gaussian noise of std ``noise_std`` at the low
    resolution (a Gaussian approximation of photon noise at a fixed dose; the output is not
    clipped, so the noise stays unbiased and may leave [0, 1] slightly).

    Parameters
    ----------
    image : ndarray (H, W)
        H and W must be divisible by ``scale``.
    scale : {1, 2, 4}
    blur_sigma_px, noise_std : float >= 0
        0 disables the step.
    seed : int, sequence of ints or SeedSequence
        Seed of the noise.

    Returns
    -------
    ndarray, float32 (H / scale, W / scale)
    """
    arr = _check_image(image).astype(np.float64)
    scale = _check_scale(scale)
    sigma = _check_nonneg(blur_sigma_px, "blur_sigma_px")
    noise_std = _check_nonneg(noise_std, "noise_std")
    h, w = arr.shape
    if h % scale or w % scale:
        raise ValueError(f"image shape {arr.shape} is not divisible by scale {scale}")
    if sigma > 0:
        arr = gaussian_filter(arr, sigma, mode="mirror")
    low = _block_mean(arr, scale) if scale > 1 else arr
    if noise_std > 0:
        low = low + np.random.default_rng(seed).normal(0.0, noise_std, low.shape)
    return low.astype(np.float32)


def bicubic_upsample(low: np.ndarray, scale: int) -> np.ndarray:
    """Cubic-spline (order 3) up-sampling by ``scale``, the baseline of study B.

    Uses ``scipy.ndimage.zoom(order=3, grid_mode=True, mode="reflect")``: pixels are treated as
    areas, so low-resolution pixel ``i`` sits at the centre of the reference block it averages
    (the geometry of :func:`degrade_slice`), and a linear ramp is reproduced in the interior.

    Returns
    -------
    ndarray, float32 (h·scale, w·scale)
    """
    arr = _check_image(low, "low").astype(np.float64)
    scale = _check_scale(scale)
    if scale == 1:
        return arr.astype(np.float32)
    out = zoom(arr, scale, order=3, mode="reflect", grid_mode=True)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def split_image_seeds(split_seed: int, index: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(simulation seed, noise seed) of image ``index`` of the split with base seed ``split_seed``."""
    return (int(split_seed), int(index), 0), (int(split_seed), int(index), 1)


def make_split(
    config: CrackSliceConfig | None,
    n_images: int,
    seed: int,
    scale: int,
    blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
    noise_std: float = DEFAULT_NOISE_STD,
) -> dict[str, np.ndarray]:
    """A stack of reference slices, their degraded versions and masks.

    Parameters
    ----------
    config : CrackSliceConfig or None (defaults)
    n_images : int >= 1
    seed : int >= 0
        Base seed of the split, normally ``SPLIT_SEEDS[name]``; seeds per image from
        :func:`split_image_seeds`.
    scale, blur_sigma_px, noise_std
        As in :func:`degrade_slice`.

    Returns
    -------
    dict
        ``hr`` float32 (N, H, W), ``lr`` float32 (N, H/scale, W/scale), ``crack_mask`` and
        ``pore_mask`` bool (N, H, W).
    """
    config = CrackSliceConfig() if config is None else config
    if isinstance(n_images, bool) or not isinstance(n_images, int | np.integer) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    scale = _check_scale(scale)
    if config.size % scale:
        raise ValueError(f"image size {config.size} is not divisible by scale {scale}")
    n, m = int(n_images), config.size
    out = {
        "hr": np.empty((n, m, m), np.float32),
        "lr": np.empty((n, m // scale, m // scale), np.float32),
        "crack_mask": np.empty((n, m, m), bool),
        "pore_mask": np.empty((n, m, m), bool),
    }
    for i in range(n):
        sim_seed, noise_seed = split_image_seeds(seed, i)
        sl = simulate_crack_slice(config, sim_seed)
        out["hr"][i] = sl.image
        out["crack_mask"][i] = sl.crack_mask
        out["pore_mask"][i] = sl.pore_mask
        out["lr"][i] = degrade_slice(sl.image, scale, blur_sigma_px, noise_std, noise_seed)
    return out


# --------------------------------------------------------------------------------------------
# Natural images for pre-training
# --------------------------------------------------------------------------------------------

#: skimage.data loaders and the file each reads from the installed package's data folder.
_SKIMAGE_IMAGES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "moon": "moon.png",
    "text": "text.png",
    "page": "page.png",
    "immunohistochemistry": "ihc.png",
    "coins": "coins.png",
    "retina": "retina.jpg",
    "cell": "cell.png",
}


def _to_grey_unit(img: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray
    from skimage.util import img_as_float

    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., 0]
        arr = rgb2gray(arr) if arr.ndim == 3 else arr
    arr = img_as_float(arr).astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if not (0.0 <= lo and hi <= 1.0):  # integer-typed data not in a standard range
        arr = (arr - lo) / max(hi - lo, 1e-12)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def natural_images() -> dict[str, np.ndarray]:
    """Grey natural images shipped with installed packages (nothing is downloaded).

    Sources: the ``skimage.data`` images whose file is bundled in the installed wheel (checked
    before calling the loader, so pooch is never asked to download; missing ones are skipped
    with a log message), matplotlib's ``grace_hopper.jpg`` sample, and scikit-learn's
    ``load_sample_images`` if scikit-learn happens to be installed.

    Returns
    -------
    dict
        name -> float32 (H, W) in [0, 1]; colour images are converted with ``rgb2gray``.
    """
    import skimage.data

    out: dict[str, np.ndarray] = {}
    data_dir = os.path.dirname(skimage.data.__file__)
    for name, filename in _SKIMAGE_IMAGES.items():
        loader = getattr(skimage.data, name, None)
        if loader is None or not os.path.isfile(os.path.join(data_dir, filename)):
            logger.info("skipping skimage.data.%s: not bundled in this installation", name)
            continue
        try:
            out[name] = _to_grey_unit(loader())
        except Exception as err:  # noqa: BLE001 - a broken optional image must not stop the others
            logger.info("skipping skimage.data.%s: %s", name, err)
    try:
        import matplotlib.cbook
        import matplotlib.image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            out["grace_hopper"] = _to_grey_unit(matplotlib.image.imread(fh, format="jpg"))
    except Exception as err:  # noqa: BLE001
        logger.info("skipping matplotlib sample grace_hopper.jpg: %s", err)
    try:
        from sklearn.datasets import load_sample_images  # type: ignore[import-not-found]
    except ImportError:
        logger.info("scikit-learn not installed: no sklearn sample images")
    else:
        try:
            bunch = load_sample_images()
            for fname, img in zip(bunch.filenames, bunch.images, strict=True):
                out["sklearn_" + os.path.splitext(os.path.basename(fname))[0]] = _to_grey_unit(img)
        except Exception as err:  # noqa: BLE001
            logger.info("skipping scikit-learn sample images: %s", err)
    return out


def random_crops(
    images: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    n: int,
    size: int,
    seed: Seed = 0,
    augment: bool = True,
) -> np.ndarray:
    """Random square crops, optionally flipped / rotated by multiples of 90°.

    Images smaller than the crop are skipped (logged); it is an error if none is large enough.

    Each crop picks an image uniformly, then a uniform position; with ``augment`` it is rotated
    by ``k·90°`` (k uniform in 0..3) and flipped left-right with probability 1/2 (the 8
    symmetries of the square). Deterministic by ``seed``.

    Returns
    -------
    ndarray, float32 (n, size, size)
    """
    arrays = list(images.values()) if isinstance(images, Mapping) else list(images)
    names = list(images.keys()) if isinstance(images, Mapping) else [f"#{i}" for i in range(len(arrays))]
    if not arrays:
        raise ValueError("images is empty")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    for name, arr in zip(names, arrays, strict=True):
        if np.ndim(arr) != 2:
            raise ValueError(f"image {name} must be 2-D, got shape {np.shape(arr)}")
    small = [name for name, arr in zip(names, arrays, strict=True) if size > min(arr.shape)]
    if len(small) == len(arrays):
        raise ValueError(f"crop size {size} exceeds every image (largest side-minimum "
                         f"{max(min(a.shape) for a in arrays)} px)")
    if small:
        logger.info("random_crops: %d px crops skip the smaller images %s", size, ", ".join(small))
        arrays = [a for a in arrays if size <= min(a.shape)]
    rng = np.random.default_rng(seed)
    out = np.empty((int(n), int(size), int(size)), np.float32)
    for i in range(int(n)):
        arr = arrays[int(rng.integers(len(arrays)))]
        r = int(rng.integers(arr.shape[0] - size + 1))
        c = int(rng.integers(arr.shape[1] - size + 1))
        crop = arr[r : r + size, c : c + size]
        if augment:
            crop = np.rot90(crop, int(rng.integers(4)))
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
        out[i] = crop
    return out


# --------------------------------------------------------------------------------------------
# Crack segmentation and scores
# --------------------------------------------------------------------------------------------


class CrackSegmentationConfig(_Frozen):
    """Fixed crack segmentation: black top-hat, threshold, clean-up, pore exclusion."""

    tophat_radius_px: int = Field(
        default=3, ge=1, le=20, description="disk radius of the black top-hat; wider dark objects are ignored"
    )
    threshold: float | Literal["otsu"] = Field(
        default="otsu",
        description="top-hat threshold: 'otsu' (per image, on the top-hat response) or fixed grey levels",
    )
    min_size_px: int = Field(default=12, ge=0, description="connected objects smaller than this are removed")
    pore_max_elongation: float = Field(
        default=2.0, ge=1, description="objects with major/minor axis ratio below this are compact"
    )
    pore_min_solidity: float = Field(
        default=0.8, ge=0, le=1, description="compact objects at least this solid are pores, removed"
    )

    @model_validator(mode="after")
    def _check(self) -> CrackSegmentationConfig:
        if self.threshold != "otsu" and not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be > 0 or 'otsu', got {self.threshold!r}")
        return self


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
    arr = _check_image(image).astype(np.float32)
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
