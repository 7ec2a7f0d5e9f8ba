"""xrsr: reproducible deep-learning resolution recovery for 3D X-ray microscopy and CT."""

__version__ = "0.1.0"
