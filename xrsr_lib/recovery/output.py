"""Output files of a fitted model: recovered volumes of any size and the model folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists
from xrsr_lib.recovery.state import RecoveryState
from xrsr_lib.train import distributed
from xrsr_lib.train.loop import is_finished

__all__ = ["OutputFiles"]


class OutputFiles(RecoveryState):
    """Writing a fitted model's results and folder (a part of :class:`~xrsr_lib.recovery.Recovery`)."""

    def predict_to_zarr(
        self,
        source: str | Path | Any,
        out: str | Path,
        scale: float | None = None,
        voxel_size_um: float | None = None,
        trust: bool | str = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Recover a volume file of any size into an OME-Zarr image, block by block.

        ``source`` is a volume file or a :class:`~xrsr_lib.io.lazy.LazyVolume`; ``scale`` defaults
        to the voxel-size ratio of :meth:`fit_scans` (else 1) and ``voxel_size_um`` to the file's
        (a file without one, or with anisotropic voxels, is refused: never assumed); the model runs
        on this object's ``device`` (in every dask worker too); other keywords (``roi``,
        ``chunks``, ``block``, ``client``, ``progress`` ...) go to
        :func:`xrsr_lib.infer.chunked.predict_to_zarr`.

        With ``trust=True`` (a model trained with ``calibration_fraction > 0``) the store also holds
        the image ``<out>/trust``: per voxel, the half-width (grey units) of an interval around the
        prediction that holds the HRES value with the calibrated coverage, valid where the input
        looks like the calibration blocks (``out_of_domain_fraction`` in the result and the
        image's attributes); the result's ``trust`` entry summarizes it. The intervals scale the
        TTA spread; ``trust="consistency"`` scales the disagreement with the input instead.

        Raises
        ------
        ValueError
            A ``scale`` or input voxel size other than the ones the model was trained for;
            ``trust=True`` for a model trained without calibration.
        """
        from xrsr_lib.infer.chunked import predict_to_zarr
        from xrsr_lib.io.lazy import LazyVolume, open_volume

        model = self._loaded()
        acq = self.acquisition
        from xrsr_lib.io.voxels import resolve_voxel_size

        src = source if isinstance(source, LazyVolume) else open_volume(source)
        v_in = resolve_voxel_size(src.metadata, src.path, voxel_size_um, "voxel_size_um")
        trained = acq.get("scale")
        scale = float(scale) if scale is not None else float(trained or 1.0)
        if trained is not None and abs(scale - trained) > 1e-3 * trained:
            raise XrsrInputError(
                f"{model.folder} was trained for a voxel-size ratio of {trained:g}, not {scale:g}",
                parameter="scale",
            )
        if v_in is not None and "lres_voxel_um" in acq and abs(v_in - acq["lres_voxel_um"]) > 1e-2 * v_in:
            raise XrsrInputError(
                f"{src.path} has {v_in:g} µm voxels; {model.folder} was trained on "
                f"{acq['lres_voxel_um']:g} µm input",
                parameter="source",
            )
        if trust:
            from xrsr_lib.evaluate.trust.maps import BlockTrust

            if not self.trust:
                raise XrsrInputError(
                    f"{model.folder} was trained without calibration; train with "
                    "calibration_fraction > 0 (xrsr train --calibrate 0.2)",
                    parameter="trust",
                )
            kwargs["trust"] = BlockTrust(self.trust, None if trust is True else str(trust))
        kwargs.setdefault("device", self.device)
        return predict_to_zarr(model.folder, src, out, scale=scale, voxel_size_um=v_in, **kwargs)

    @staticmethod
    def prediction_files(out: str | Path, trust: bool | str = False) -> tuple[Path, Path | None]:
        """Return the files :meth:`predict_to_file` writes for ``out``, checked before any work.

        Parameters
        ----------
        out : path
            The output: ``.zarr`` (OME-Zarr) or a file :func:`~xrsr_lib.io.volumes.write_volume`
            writes (``.tif``, ``.h5``, ``.npy``, ``.mhd``, ``.nrrd``, ``.nii``, a folder of slices).
        trust : bool or str
            Whether a trust map is written too.

        Returns
        -------
        image : Path
            ``out``.
        trust_image : Path or None
            The trust map: the image ``<out>/trust`` of a ``.zarr``, else ``<stem>_trust<suffix>``
            beside ``out``; None without ``trust``.

        Raises
        ------
        XrsrInputExists
            If ``out`` or the trust map beside it exists (parameter ``out``; xrsr never overwrites).
        XrsrInputError
            A suffix of no known format, or of one xrsr only reads (parameter ``out``, the file named).
        """
        from xrsr_lib.io.volumes import writable_format

        out = Path(out)
        if out.exists():
            raise XrsrInputExists(f"{out} exists; choose a new output name or delete it", parameter="out")
        try:
            fmt = writable_format(out)
        except XrsrInputError as err:
            raise XrsrInputError(str(err), parameter="out") from None
        if not trust:
            return out, None
        if fmt == "zarr":
            return out, out / "trust"
        beside = out.with_name(f"{out.stem}_trust{out.suffix}")
        if beside.exists():
            raise XrsrInputExists(
                f"{beside} (the trust map beside {out}) exists; choose a new output name or delete it",
                parameter="out",
            )
        return out, beside

    def predict_to_file(
        self,
        source: str | Path | Any,
        out: str | Path,
        scale: float | None = None,
        voxel_size_um: float | None = None,
        trust: bool | str = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Recover a volume file into an OME-Zarr image or any volume file xrsr writes.

        A ``.zarr`` output is :meth:`predict_to_zarr`'s (with a pyramid; any size, an interrupted
        run resumes). Any other output (``.tif``, ``.h5``, ``.npy``, ``.mhd``, ``.nrrd``, ``.nii``,
        a folder of slices; :func:`~xrsr_lib.io.volumes.write_volume`) is predicted block by block
        into a hidden store beside it (``.<name>.zarr``, which an interrupted run resumes), then
        written whole, so it must fit in memory; the store is removed. With ``trust`` the trust
        map goes to ``<stem>_trust<suffix>`` beside such a file (:meth:`prediction_files`).
        Both files record the output voxel size (µm).

        Parameters
        ----------
        source : path or LazyVolume
            The input volume (:func:`~xrsr_lib.io.lazy.open_volume`).
        out : path
            The output; must not exist.
        scale, voxel_size_um, trust, **kwargs
            As for :meth:`predict_to_zarr` (``roi``, ``chunks``, ``block``, ``client``,
            ``progress``, ``attrs``, ...).

        Returns
        -------
        dict
            :meth:`predict_to_zarr`'s summary (``shape``, ``voxel_size_um`` ...), with ``out`` the
            file written and, with ``trust``, ``trust["image"]`` its trust map.

        Raises
        ------
        XrsrInputExists
            If ``out`` (or its trust map) exists, before any work.
        XrsrInputError
            An output suffix xrsr does not write, before any work; and :meth:`predict_to_zarr`'s.
        """
        from xrsr_lib.io.omezarr import is_zarr, open_zarr
        from xrsr_lib.io.volumes import write_volume

        image, trust_image = self.prediction_files(out, trust)
        if is_zarr(image):
            kwargs.setdefault("pyramid", True)
            return self.predict_to_zarr(
                source, image, scale=scale, voxel_size_um=voxel_size_um, trust=trust, **kwargs
            )
        store = image.with_name(f".{image.name}.zarr")  # block by block, resumable; the file at the end
        kwargs["pyramid"] = False
        info = self.predict_to_zarr(
            source, store, scale=scale, voxel_size_um=voxel_size_um, trust=trust, **kwargs
        )
        arr, _ = open_zarr(store)
        write_volume(image, np.asarray(arr[...]), voxel_size_um=info["voxel_size_um"])
        if trust_image is not None:
            arr, _ = open_zarr(store / "trust")
            write_volume(trust_image, np.asarray(arr[...]), voxel_size_um=info["voxel_size_um"])
            info["trust"]["image"] = str(trust_image)
        shutil.rmtree(store)
        info["out"] = str(image)
        return info

    def save(self, folder: str | Path, move: bool = False) -> Path:
        """Copy the trained model folder to ``folder`` (which must not exist yet).

        Parameters
        ----------
        folder : path
            The new model folder; it appears complete or not at all (written under a temporary
            name, then renamed).
        move : bool
            Remove the training folder once copied (e.g. the resumable work folder of a finished
            run); this object then uses ``folder`` (:attr:`folder`, :attr:`trust`, :attr:`acquisition`).

        Returns
        -------
        Path
            ``folder``.

        Raises
        ------
        XrsrInputExists
            If ``folder`` exists (parameter ``folder``).
        RuntimeError
            If the model's training did not finish.

        Notes
        -----
        Under ``torchrun`` (data-parallel training, :mod:`xrsr_lib.train.distributed`) call it on every
        rank, as :meth:`fit` and :meth:`fit_scans`: rank 0 writes, after every rank got here (so
        every rank has read the training folder before a ``move`` removes it), and every rank
        returns once the folder is complete.
        """
        model = self._loaded()
        folder = Path(folder)
        if folder.exists():
            raise XrsrInputExists(f"{folder} exists; choose a new folder for the model", parameter="folder")
        if not is_finished(model.folder):
            raise RuntimeError(f"{model.folder} holds no finished model")
        distributed.barrier()  # every rank has checked and read the training folder
        if distributed.is_main():
            tmp = folder.with_name(f".{folder.name}.partial")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(model.folder, tmp)
            tmp.rename(folder)
            if move:
                shutil.rmtree(model.folder)
        distributed.barrier()  # the folder is complete for every rank
        if move:
            self.folder = model.folder = folder
        return folder
