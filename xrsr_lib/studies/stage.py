"""What every stage of a profile shares: the profile, the cache, the torch device, progress bars."""

from __future__ import annotations

from xrsr_lib.config import Profile
from xrsr_lib.io.cache import Cache

__all__ = ["ProfileStage"]


class ProfileStage:
    """Base of the classes that build one profile's artifacts through the cache.

    Parameters
    ----------
    profile : Profile
    cache : Cache, optional
        Default: :class:`~xrsr_lib.io.cache.Cache` at its default folder.
    device : str, optional
        Torch device (``None``: CUDA when available, else CPU).
    progress : bool
        Show progress bars.
    """

    def __init__(
        self, profile: Profile, cache: Cache | None = None, device: str | None = None, progress: bool = True
    ) -> None:
        self.profile = profile
        self.cache = cache or Cache()
        self.device = device
        self.progress = progress
