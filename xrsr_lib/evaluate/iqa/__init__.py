"""Offline full-/no-reference image-quality metrics: LPIPS (v0.1, alex/vgg), DISTS and NIQE.

The networks are implemented in plain torch; pretrained weights are read from files fetched at
install time by ``python scripts/fetch_iqa_weights.py`` (see :mod:`xrsr_lib.evaluate.iqa.weights`).

Inputs of the float-returning functions are numpy arrays in [0, 1], either grey ``(H, W)`` or RGB
``(H, W, 3)``. For LPIPS and DISTS a grey image is repeated to three identical channels (the
networks were trained on RGB); NIQE works on grey images, RGB being converted to the luma
``Y = 0.299 R + 0.587 G + 0.114 B`` (pyiqa's default YIQ ``Y``), scaled to [0, 255] and rounded.
Model objects are built once per process and cached.
"""

from xrsr_lib.evaluate.iqa.dists import DISTS, dists, dists_batch
from xrsr_lib.evaluate.iqa.lpips import LPIPS, lpips, lpips_batch
from xrsr_lib.evaluate.iqa.niqe import niqe

__all__ = ["DISTS", "LPIPS", "dists", "dists_batch", "lpips", "lpips_batch", "niqe"]
