"""Natural images for pre-training (study B): bundled with installed packages, never downloaded.

* :func:`natural_images` – grey images of scikit-image's data folder, matplotlib's sample data and,
  when installed, scikit-learn's sample images;
* :func:`random_crops` – random square crops of them, optionally flipped / rotated.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from xrsr_lib.simulate.nanoct import Seed

logger = logging.getLogger(__name__)

__all__ = ["natural_images", "random_crops"]

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

        with cast(Any, matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as fh:  # a file object
            out["grace_hopper"] = _to_grey_unit(matplotlib.image.imread(fh, format="jpg"))
    except Exception as err:  # noqa: BLE001
        logger.info("skipping matplotlib sample grace_hopper.jpg: %s", err)
    try:
        from sklearn.datasets import load_sample_images
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
        raise ValueError(
            f"crop size {size} exceeds every image (largest side-minimum "
            f"{max(min(a.shape) for a in arrays)} px)"
        )
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
