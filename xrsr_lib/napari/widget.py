"""napari widget: recover a volume with a trained model in a worker thread, with progress and cancel.

The widget takes a model folder (``xrsr train --out``), an input volume (any format of
docs/formats.md), an optional ROI (``z0:z1,y0:y1,x0:x1`` in input voxels), an optional input voxel
size and an output ``.zarr``; it runs :meth:`xrsr_lib.recovery.Recovery.predict_to_zarr` in a
``napari.qt.threading`` worker (the viewer stays responsive), shows the blocks done in a progress
bar, and adds the result (and its trust map) to the viewer through
:func:`~xrsr_lib.napari.reader.read_result`. Cancel stops after the block in progress; the
unfinished ``<out>.partial`` stays, and running again resumes it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["Cancelled", "PredictWidget", "parse_roi"]


def _line_edit(placeholder: str) -> Any:
    """Make an empty text field showing ``placeholder``."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    return edit


class Cancelled(Exception):
    """Raised in the worker after a block when the user pressed Cancel."""


def parse_roi(text: str, shape: tuple[int, ...]) -> tuple[slice, ...] | None:
    """``z0:z1,y0:y1,x0:x1`` (input voxels) as slices; empty text: None (the whole volume).

    Raises
    ------
    ValueError
        A malformed ROI or one outside ``shape``.
    """
    text = text.strip()
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(f"ROI must be z0:z1,y0:y1,x0:x1 (voxels), got {text!r}")
    out = []
    for part, n, axis in zip(parts, shape, "zyx", strict=True):
        try:
            a, b = (int(v) for v in part.split(":"))
        except ValueError:
            raise ValueError(f"ROI must be z0:z1,y0:y1,x0:x1 (voxels), got {text!r}") from None
        if not 0 <= a < b <= n:
            raise ValueError(f"ROI {axis} range {a}:{b} lies outside the volume (0:{n})")
        out.append(slice(a, b))
    return tuple(out)


class _Progress(QObject):
    """Carries (blocks done, blocks) from the worker thread to the widget (queued across threads)."""

    changed = Signal(int, int)


class PredictWidget(QWidget):
    """Model folder, input, ROI, voxel size, output, trust; Run, Cancel, a progress bar and a status line.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer the result is added to.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model = _line_edit("model folder (xrsr train --out)")
        self.input = _line_edit("input volume: .tif, .zarr, folder of slices, .mhd, .txm ...")
        self.roi = _line_edit("z0:z1,y0:y1,x0:x1 (empty: all)")
        self.voxel = _line_edit("input voxel size, µm (empty: from the file)")
        self.output = _line_edit("output .zarr")
        self.trust = QCheckBox("also write the trust map (model trained with --calibrate)")
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        for label, field in (
            ("Model", self.model),
            ("Input", self.input),
            ("ROI", self.roi),
            ("Voxel (µm)", self.voxel),
            ("Output", self.output),
        ):
            form.addRow(label, field)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.trust)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self._signals = _Progress()
        self._signals.changed.connect(self._on_progress)
        self._cancel = threading.Event()
        self.worker: Any = None
        self.result: dict[str, Any] | None = None
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    # ------------------------------------------------------------------ actions
    def run(self) -> None:
        """Check the fields, then start the prediction in a worker thread."""
        from napari.qt.threading import create_worker

        from xrsr_lib.io.lazy import open_volume

        try:
            out = Path(self.output.text().strip())
            if out.suffix != ".zarr":
                raise ValueError(f"the output must be a .zarr, got {out.name!r}")
            src = open_volume(self.input.text().strip())
            roi = parse_roi(self.roi.text(), src.shape)
            voxel = float(self.voxel.text()) if self.voxel.text().strip() else None
        except (ValueError, FileNotFoundError) as err:
            self.status.setText(f"error: {err}")
            return
        self._cancel.clear()
        self.result = None
        self.progress.setValue(0)
        self.status.setText(f"predicting {src.path} into {out} ...")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.worker = create_worker(
            self._predict,
            self.model.text().strip(),
            src,
            out,
            roi,
            voxel,
            self.trust.isChecked(),
            _start_thread=False,
        )
        self.worker.returned.connect(self._on_done)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.start()

    def cancel(self) -> None:
        """Stop after the block in progress (the unfinished output resumes on the next Run)."""
        self._cancel.set()
        self.status.setText("cancelling after the block in progress ...")

    # ------------------------------------------------------------------ worker thread
    def _predict(
        self, model: str, src: Any, out: Path, roi: Any, voxel: float | None, trust: bool
    ) -> dict[str, Any]:
        from xrsr_lib.recovery import Recovery

        def on_block(done: int, total: int) -> None:
            self._signals.changed.emit(done, total)
            if self._cancel.is_set():
                raise Cancelled(f"cancelled after {done} of {total} blocks; Run again to resume")

        try:
            rec = Recovery.load(model)
            return rec.predict_to_zarr(
                src, out, voxel_size_um=voxel, roi=roi, trust=trust, progress=False, on_block=on_block
            )
        except Cancelled as err:  # returned, not raised: napari reports worker exceptions as crashes
            return {"stopped": str(err)}
        except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
            return {"stopped": f"error: {err}"}

    # ------------------------------------------------------------------ main thread
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _on_done(self, result: dict[str, Any]) -> None:
        from xrsr_lib.napari.reader import read_result

        if "stopped" in result:  # cancelled, or a user error: one line in the status
            self.status.setText(result["stopped"])
            return
        self.result = result
        for data, kwargs, _ in read_result(result["out"]):
            self.viewer.add_image(data, **kwargs)
        resumed = f", {result['blocks_resumed']} resumed" if result.get("blocks_resumed") else ""
        self.status.setText(
            f"wrote {result['out']}: {result['shape']} voxels of "
            f"{result['voxel_size_um']:g} µm ({result['blocks']} blocks{resumed})"
        )

    def _on_error(self, err: BaseException) -> None:  # a bug: napari shows its traceback too
        self.status.setText(f"error: {err}")

    def _on_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
