"""The multiscale workflow of study A (Figures 10-12): registered scans at three voxel sizes, chained."""

__all__: list[str] = []
