"""FLOP counting of a forward pass with PyTorch's own counter.

:func:`count_flops` runs one forward pass of a zero-filled input under
:class:`torch.utils.flop_counter.FlopCounterMode` (and ``torch.no_grad()``, eval mode) and returns
the total.

Conventions and limits, to read any number it gives:

* ``FlopCounterMode`` counts **2 FLOPs per multiply-add** of matrix products (``mm``, ``addmm``,
  ``bmm``, ``baddbmm``) and convolutions (including transposed and grouped/depth-wise ones), so
  ``macs = flops / 2`` exactly. A ``k×k`` conv from ``C_in`` to ``C_out`` channels on an output of
  ``H×W`` counts ``2·C_in·C_out·k²·H·W`` per image (``C_in`` divided by the groups); bias additions
  are not counted.
* Only those operators (and fused attention kernels) are counted: softmax, normalisations,
  activations, element-wise additions, interpolation, padding, pixel (un)shuffle and rolls count
  **zero**. For the networks here they are typically a few per cent of the total.
* Papers differ: many super-resolution papers report multiply-accumulates (MACs, "Mult-Adds") under
  the name FLOPs (thop / fvcore conventions), others 2·MACs, and at different input sizes (often
  the input of a 1280×720 output). Study B's "45.72 G FLOPs" states neither, so compare ``macs``
  and ``flops`` with care.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops"]


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """FLOPs of one forward pass of ``model`` on a zero tensor of ``input_shape``.

    Parameters
    ----------
    model
        Any module; it is run in eval mode (its training flag is restored afterwards) on the device
        and dtype of its first parameter (CPU float32 if it has none).
    input_shape
        Shape of the input, e.g. ``(1, 1, 64, 64)``.

    Returns
    -------
    dict
        ``flops`` (int, 2 per multiply-add), ``macs`` (int, ``flops // 2``), ``params`` (trainable
        parameters), ``input_shape`` (tuple) and ``by_operator`` (FLOPs per aten operator name).

    Examples
    --------
    >>> conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
    >>> count_flops(conv, (1, 1, 10, 10))["flops"]  # 2 * 1 * 4 * 3**2 * 10 * 10
    7200
    """
    shape = tuple(int(s) for s in input_shape)
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x = torch.zeros(shape, device=device, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    by_operator = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return {
        "flops": flops,
        "macs": flops // 2,
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "input_shape": shape,
        "by_operator": by_operator,
    }
