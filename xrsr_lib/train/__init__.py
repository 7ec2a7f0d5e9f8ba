"""Training: one resumable loop (:mod:`~xrsr_lib.train.loop`) and its adapters.

- :func:`train_model`: volume networks (2.5D DeepNet, 3D SRCNN) on a paired volume;
- :func:`train_sr` / :func:`two_stage`: 2-D super-resolution networks on image pairs;
- :func:`run_training`: the loop itself (checkpoints, CPU + CUDA RNG, resume, best weights,
  loss CSVs, same-run check).
"""

from xrsr_lib.train.loop import TrainingTask, is_finished, read_curves, run_training
from xrsr_lib.train.slices import natural_pairs, train_sr, two_stage
from xrsr_lib.train.volumes import train_cached, train_model, volume_task

__all__ = [
    "TrainingTask",
    "is_finished",
    "natural_pairs",
    "read_curves",
    "run_training",
    "train_cached",
    "train_model",
    "train_sr",
    "two_stage",
    "volume_task",
]
