"""The napari plugin in a real napari, headless (pytest-qt's ``make_napari_viewer`` on the X server that
pytest-xvfb starts; ``.ci/run`` installs Xvfb and the ``napari`` extra): the manifest, the reader's
layers (scale, shapes, trust colormap and contrast) and the widget running a small calibrated model
in a worker thread, with progress, cancel and resume.

Without napari (or an X server) the tests skip on a developer's machine and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "xrsr_lib" / "napari" / "napari.yaml"


def _require_napari() -> None:
    try:
        import napari  # noqa: F401
        import pytestqt  # noqa: F401
    except ImportError as err:
        reason = f"napari or pytest-qt is not installed ({err}); pip install -e '.[napari,dev]'"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; under CI=true this is an error, not a skip")
        pytest.skip(reason)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        reason = "no X display (install Xvfb: apt-get install xvfb; pytest-xvfb then starts one)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; under CI=true this is an error, not a skip")
        pytest.skip(reason)


try:  # napari's and pytest-qt's fixtures; without them the tests skip (fail under CI) instead of erroring
    import napari.utils._testsupport  # noqa: F401
    import pytestqt  # noqa: F401
except ImportError:

    @pytest.fixture
    def make_napari_viewer():
        _require_napari()

    @pytest.fixture
    def qtbot():
        _require_napari()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> dict[str, Path]:
    """A smoke SRCNN trained 6 µm -> 3 µm on a small smooth volume with a calibrated trust map, an input
    of two output blocks (a 6 µm TIFF), and its prediction with the trust map (``result.zarr``)."""
    _require_napari()
    import torch
    from scipy.ndimage import gaussian_filter, zoom

    from xrsr_lib import Recovery, write_volume

    folder = tmp_path_factory.mktemp("napari")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        hres = gaussian_filter(rng.random((48, 48, 48)), 1.5).astype(np.float32)
        hres = (hres - hres.mean()) / hres.std()
        lres = zoom(gaussian_filter(hres, 1.0), 0.5, order=1).astype(np.float32)
        rec = Recovery.from_preset("srcnn", "smoke", iterations=3, loss_mask="none")
        rec.fit_scans(
            lres,
            hres,
            {"angle_deg": 0.0, "center_um": [0.0, 0.0, 0.0]},
            6.0,
            3.0,
            progress=False,
            calibration_fraction=0.25,
        )
        rec.save(folder / "model")
        write_volume(folder / "input.tif", np.tile(lres, (2, 1, 1)), voxel_size_um=6.0)
        rec.predict_to_zarr(folder / "input.tif", folder / "result.zarr", trust=True, progress=False)
    finally:
        torch.set_num_threads(threads)
    return {"model": folder / "model", "input": folder / "input.tif", "result": folder / "result.zarr"}


def test_manifest_and_entry_point_are_declared():
    _require_napari()
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == "xrsr"
    assert [r.command for r in manifest.contributions.readers] == ["xrsr.get_reader"]
    assert [w.command for w in manifest.contributions.widgets] == ["xrsr.predict_widget"]
    for command in manifest.contributions.commands:  # every python_name resolves
        module, _, attr = command.python_name.partition(":")
        assert hasattr(__import__(module, fromlist=[attr]), attr), command.python_name
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["napari.manifest"] == {"xrsr": "xrsr_lib.napari:napari.yaml"}
    assert "napari.yaml" in project["tool"]["setuptools"]["package-data"]["xrsr_lib.napari"]
    assert any(d.startswith("napari") for d in project["project"]["optional-dependencies"]["napari"])


def _register_plugin() -> None:
    """The manifest, as napari finds it through the entry point of an installed xrsr."""
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager.instance()
    pm.discover()
    if "xrsr" not in {m.name for m in pm.iter_manifests()}:  # not installed from this checkout
        pm.register(PluginManifest.from_file(MANIFEST))


def test_reader_opens_the_pyramid_and_the_trust_map(make_napari_viewer, calibrated):
    from xrsr_lib.io.omezarr import open_zarr
    from xrsr_lib.napari.reader import TRUST_COLORMAP

    _register_plugin()
    viewer = make_napari_viewer()
    layers = viewer.open(str(calibrated["result"]), plugin="xrsr")
    assert [layer.name for layer in layers] == ["result", "result trust (interval half-width)"]
    image, trust = layers
    arr, meta = open_zarr(calibrated["result"])
    assert meta["voxel_size_um"] == pytest.approx(3.0)
    for layer in (image, trust):
        assert layer.multiscale and list(layer.scale) == pytest.approx([3.0, 3.0, 3.0])
        assert [tuple(level.shape) for level in layer.data] == [(96, 48, 48), (48, 24, 24)]
    np.testing.assert_array_equal(np.asarray(image.data[0][10:12]), np.asarray(arr[10:12]))
    assert trust.colormap.name == TRUST_COLORMAP and trust.blending == "additive"
    halfwidths = np.asarray(open_zarr(calibrated["result"] / "trust")[0][...])
    coarse = np.asarray(trust.data[-1][...])
    assert trust.contrast_limits == pytest.approx(list(np.percentile(coarse, [1, 99])), rel=1e-5)
    assert 0 < trust.contrast_limits[0] < trust.contrast_limits[1] <= halfwidths.max()
    assert trust.metadata["xrsr"]["kind"] == "trust"
    from xrsr_lib.io.info import volume_info  # xrsr info names the trust map of a result

    assert volume_info(calibrated["result"])["trust"] == str(calibrated["result"] / "trust")


def test_widget_predicts_in_a_worker_with_progress_cancel_and_resume(
    make_napari_viewer, qtbot, calibrated, tmp_path
):
    from xrsr_lib.io.omezarr import open_zarr
    from xrsr_lib.napari.widget import PredictWidget

    viewer = make_napari_viewer()
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.model.setText(str(calibrated["model"]))
    widget.input.setText(str(calibrated["input"]))
    widget.output.setText(str(tmp_path / "w.zarr"))
    widget.trust.setChecked(True)
    # cancel: pressed before the first block ends, the run stops after it, the partial store is kept
    widget.run_button.click()
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: widget.run_button.isEnabled(), timeout=120_000)
    assert "cancelled after 1 of 2 blocks" in widget.status.text(), widget.status.text()
    assert widget.result is None and (tmp_path / "w.zarr.partial").exists() and len(viewer.layers) == 0
    assert widget.progress.value() == 1 and widget.progress.maximum() == 2
    # run again: resumes, finishes, adds the image and its trust map
    widget.run_button.click()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=120_000)
    assert widget.result["blocks_resumed"] == 1 and widget.progress.value() == 2
    assert [layer.name for layer in viewer.layers] == ["w", "w trust (interval half-width)"]
    np.testing.assert_allclose(
        np.asarray(open_zarr(tmp_path / "w.zarr")[0][...]),
        np.asarray(open_zarr(calibrated["result"])[0][...]),
        atol=1e-5,
    )
    # a ROI: the output covers it (2 output voxels per input voxel), offset kept in the record
    widget.output.setText(str(tmp_path / "roi.zarr"))
    widget.roi.setText("4:12,2:10,3:11")
    widget.trust.setChecked(False)
    widget.run_button.click()
    qtbot.waitUntil(
        lambda: widget.result is not None and widget.result["out"].endswith("roi.zarr"), timeout=120_000
    )
    assert widget.result["shape"] == [16, 16, 16] and viewer.layers[-1].name == "roi"
    # bad fields: one line in the status, nothing started
    widget.roi.setText("4:12,2:10")
    widget.output.setText(str(tmp_path / "bad.zarr"))
    widget.run_button.click()
    assert widget.status.text().startswith("error: ROI must be")
    assert not (tmp_path / "bad.zarr.partial").exists()
    shutil.rmtree(tmp_path / "w.zarr")
