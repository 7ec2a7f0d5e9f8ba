"""Choice of the torch compute device, shared by projectors, deconvolution, training and inference."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = None, like: object | None = None) -> torch.device:
    """Pick the compute device.

    Parameters
    ----------
    device : str or torch.device, optional
        Explicit device. ``None`` means: the device of ``like`` if it is a tensor, otherwise CUDA when
        available, otherwise CPU.
    like : object, optional
        Input (or parameter) whose device is used when ``device`` is ``None``.
    """
    if device is not None:
        return torch.device(device)
    if isinstance(like, torch.Tensor):
        return like.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
