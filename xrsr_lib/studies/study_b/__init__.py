"""Study B: a U-shaped transformer (UTSR) against SwinIR and Real-ESRGAN on simulated nano-CT.

``methods`` (splits, two-stage training, test predictions) -> ``evaluation`` (scores, crack
segmentation, cost) -> ``figures``; ``reported`` holds the abstract's numbers.
"""

__all__: list[str] = []
