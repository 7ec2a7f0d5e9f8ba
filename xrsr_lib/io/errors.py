"""The error of bad user input, shared by every layer, the facade and the ``xrsr`` command.

:class:`XrsrInputError` is a :class:`ValueError` that names the parameter it is about. The library
raises it where a user's value, file or option is at fault (a missing file, a malformed region, a
size out of range, volumes that do not match); the ``xrsr`` command maps :attr:`parameter` to its
own option name (``voxel_size_um`` -> ``--voxel``), prints the message as one line and exits with
code 2. Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["XrsrInputError", "XrsrInputExists", "XrsrInputMissing"]


class XrsrInputError(ValueError):
    """Bad user input, named by the parameter (or file) it is about.

    Parameters
    ----------
    message : str
        One line for the user: what is wrong and, where it helps, what to do.
    parameter : str or None
        The keyword or argument name the input came through (``"voxel_size_um"``, ``"roi"``,
        ``"model"``); ``None`` when no single parameter is at fault.

    Examples
    --------
    >>> err = XrsrInputError("roi must be z0:z1,y0:y1,x0:x1", parameter="roi")
    >>> isinstance(err, ValueError), err.parameter
    (True, 'roi')
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class XrsrInputMissing(XrsrInputError, FileNotFoundError):
    """A file or folder the user named does not exist (or lacks a part it needs).

    Also a :class:`FileNotFoundError`, so ``except FileNotFoundError`` keeps catching it.
    """


class XrsrInputExists(XrsrInputError, FileExistsError):
    """An output the user named exists already (xrsr never overwrites one).

    Also a :class:`FileExistsError`, so ``except FileExistsError`` keeps catching it.
    """
