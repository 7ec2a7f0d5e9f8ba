"""Inference: tiling and blending of whole volumes, and trained model folders loaded for use.

Out-of-core prediction of a volume on disk into an OME-Zarr image, block by block and resumable, is
:func:`xrsr_lib.infer.chunked.predict_to_zarr`.
"""

from xrsr_lib.infer.loaded import LoadedModel, load_network, read_model_config
from xrsr_lib.infer.tiling import blend_weight, predict_2p5d, predict_3d, tile_starts

__all__ = [
    "LoadedModel",
    "blend_weight",
    "load_network",
    "predict_2p5d",
    "predict_3d",
    "read_model_config",
    "tile_starts",
]
