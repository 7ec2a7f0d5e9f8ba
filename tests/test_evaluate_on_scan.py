"""A prediction scored on a registered fine scan's grid (``xrsr evaluate RESULT SCAN --pose``): the
result's recorded place in its input, the pose and the resampling put every voxel where it belongs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xrsr_lib import Recovery, open_volume, write_volume
from xrsr_lib.cli import main
from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.prepare.pose import Pose, region_center_um

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOXEL = 3.0
SHAPE = (16, 32, 32)


def test_region_center_of_known_grids():
    # a whole-volume prediction at 3x is centred on its input's grid
    assert region_center_um((-1.0, -1.0, -1.0), (48, 96, 96), 1.0, SHAPE, 3.0) == pytest.approx(
        (0.0, 0.0, 0.0)
    )
    # a region of the input's own grid: voxels 4..11 along z of 16 -> centre at (7.5 - 7.5) = 0 voxels
    c = region_center_um((4 * VOXEL, 8 * VOXEL, 0.0), (8, 16, 10), VOXEL, SHAPE, VOXEL)
    assert c == pytest.approx((0.0, 0.0, (4.5 - 15.5) * VOXEL))


@pytest.fixture(scope="module")
def predicted(tmp_path_factory) -> dict[str, Path]:
    """A 2-step model (scale 1) and its predictions of a whole volume and of a region."""
    folder = tmp_path_factory.mktemp("on_scan")
    rng = np.random.default_rng(0)
    vol = rng.random(SHAPE, dtype=np.float32)
    write_volume(folder / "in.tif", vol, voxel_size_um=VOXEL)
    # with the global residual a 2-step model returns about its random input: a prediction with
    # voxel-scale structure, so that one voxel off changes the score (the presets have no residual,
    # and after 2 steps their output is nearly flat)
    model = {"base_width": 8, "depth": 2, "extra_convs": 1, "residual": True}
    rec = Recovery.from_preset("deepnet", "smoke", iterations=2, loss_mask="none", model=model)
    rec.fit(vol, vol, folder=folder / "work", progress=False)
    rec.predict_to_zarr(folder / "in.tif", folder / "whole.zarr", progress=False)
    roi = (slice(2, 14), slice(4, 28), slice(2, 30))
    rec.predict_to_zarr(folder / "in.tif", folder / "roi.zarr", roi=roi, progress=False)
    return {"folder": folder, "whole": folder / "whole.zarr", "roi": folder / "roi.zarr"}


def _crop_pose(start: tuple[int, int, int], size: tuple[int, int, int]) -> Pose:
    """Pose of a crop of the input's grid (scan voxel i at (i - (n - 1) / 2) * VOXEL)."""
    centre = [((a + a + s - 1) / 2 - (n - 1) / 2) * VOXEL for a, s, n in zip(start, size, SHAPE, strict=True)]
    return Pose(0.0, tuple(centre))  # type: ignore[arg-type]


@pytest.mark.parametrize("which", ["whole", "roi"])
def test_a_crop_of_the_result_scores_as_identical(predicted, which):
    """The reference is an exact crop of the prediction, placed by its pose: every covered voxel lands on
    its own value (cubic splines interpolate), so the error vanishes; one voxel off, it does not."""
    pred = open_volume(predicted[which]).read()
    roi0 = (2, 4, 2) if which == "roi" else (0, 0, 0)
    start, size = (0, 5, 6), (12, 12, 14)  # in the result's own grid (SSIM needs sides >= 11)
    ref = pred[tuple(slice(a, a + s) for a, s in zip(start, size, strict=True))]
    pose = _crop_pose(tuple(a + r for a, r in zip(start, roi0, strict=True)), size)  # in the input's grid
    scores = Recovery.evaluate_on_scan(predicted[which], ref, pose, VOXEL)
    assert scores["voxels_scored"] == ref.size
    assert scores["mse"] < 1e-10 * float(np.mean(ref**2))
    off = Pose(0.0, (pose.center_um[0], pose.center_um[1] + VOXEL, pose.center_um[2]))
    assert Recovery.evaluate_on_scan(predicted[which], ref, off, VOXEL)["mse"] > 1e-3


def test_the_command_equals_the_api(predicted, capsys):
    """``xrsr evaluate RESULT SCAN --pose`` reports the facade's scores for a turned, shifted scan."""
    folder = predicted["folder"]
    pred = open_volume(predicted["whole"]).read()
    ref = pred[2:14, 8:24, 8:24] + np.float32(0.01)
    write_volume(folder / "ref.tif", ref, voxel_size_um=VOXEL)
    pose = Pose(0.7, (0.4, -1.3, 2.2))
    (folder / "pose.json").write_text(json.dumps({**pose.as_dict(), "hres_voxel_um": VOXEL}))
    code = main(
        [
            "--quiet",
            "evaluate",
            str(predicted["whole"]),
            str(folder / "ref.tif"),
            "--pose",
            str(folder / "pose.json"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    cli = json.loads(out)
    api = Recovery.evaluate_on_scan(predicted["whole"], folder / "ref.tif", pose)
    for key in ("mse", "psnr", "ssim", "effective_blur_voxels", "voxels_scored"):
        assert cli[key] == pytest.approx(api[key], rel=1e-9), key
    assert 0 < api["voxels_scored"] <= ref.size


def test_inputs_that_cannot_be_placed_are_named(predicted, tmp_path, capsys):
    folder = predicted["folder"]
    ref = np.zeros((4, 8, 8), np.float32)
    ref[0, 0, 0] = 1.0
    with pytest.raises(XrsrInputError, match="does not record where it lies in its input"):
        Recovery.evaluate_on_scan(folder / "in.tif", ref, Pose(), VOXEL)
    with pytest.raises(XrsrInputError, match="lies outside") as err:
        Recovery.evaluate_on_scan(predicted["whole"], ref, Pose(0.0, (0.0, 500.0, 0.0)), VOXEL)
    assert err.value.parameter == "pose"
    (tmp_path / "pose.json").write_text(json.dumps({"lres_voxel_um": 3.0}))
    write_volume(tmp_path / "ref.tif", ref, voxel_size_um=VOXEL)
    code = main(
        [
            "--quiet",
            "evaluate",
            str(predicted["whole"]),
            str(tmp_path / "ref.tif"),
            "--pose",
            str(tmp_path / "pose.json"),
        ]
    )
    assert code == 2 and "is not a pose file of xrsr register" in capsys.readouterr().err
