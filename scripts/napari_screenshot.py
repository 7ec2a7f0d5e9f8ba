"""Make docs/images/napari.png: a smoke result with its trust map, opened by the xrsr napari reader.

    python scripts/napari_screenshot.py [--out docs/images/napari.png] [--work DIR]

Runs ``xrsr simulate --profile smoke``, trains a smoke DeepNet 9 µm -> 3 µm at the simulation's true
pose with a quarter of the 3 µm slices calibrating the trust map, recovers the whole 9 µm scan with
``predict --trust``, opens the result with the plugin's reader (image and trust layers side by side,
napari's grid mode) and saves ``viewer.screenshot()``. Needs the ``napari`` extra and a display
(``xvfb-run -a python scripts/napari_screenshot.py`` on a machine without one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    """Make the smoke result and save the napari screenshot to ``--out`` (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs/images/napari.png"))
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args()

    import napari
    from PIL import Image

    from xrsr_lib.cli import main as xrsr
    from xrsr_lib.napari.reader import read_result

    work = Path(args.work or tempfile.mkdtemp(prefix="xrsr-napari-"))
    scans = work / "scans"
    if not scans.exists():
        assert xrsr(["--quiet", "simulate", str(scans), "--profile", "smoke"]) == 0
    poses = json.loads((scans / "poses.json").read_text())
    pose = work / "pose.json"
    pose.write_text(json.dumps({**poses["mres"]["true"], "lres_voxel_um": 9.0, "hres_voxel_um": 3.0}))
    if not (work / "model").exists():
        assert (
            xrsr(
                [
                    "--quiet",
                    "train",
                    str(scans / "lres.tif"),
                    str(scans / "mres.tif"),
                    "--pose",
                    str(pose),
                    "--preset",
                    "smoke",
                    "--iterations",
                    str(args.iterations),
                    "--loss-mask",
                    "none",
                    "--calibrate",
                    "0.25",
                    "--out",
                    str(work / "model"),
                ]
            )
            == 0
        )
    result = work / "lfov_3um.zarr"
    if not result.exists():
        assert (
            xrsr(
                [
                    "--quiet",
                    "predict",
                    str(work / "model"),
                    str(scans / "lres.tif"),
                    "--trust",
                    "--chunks",
                    "32",
                    "--out",
                    str(result),
                ]
            )
            == 0
        )

    viewer = napari.Viewer(show=False)
    for data, kwargs, _ in read_result(result):
        kwargs = {**kwargs, "blending": "translucent", "opacity": 1.0}  # side by side, each opaque
        viewer.add_image(data, **kwargs)
    viewer.grid.enabled = True
    viewer.dims.set_current_step(0, viewer.layers[0].data[0].shape[0] // 2)
    viewer.window.resize(1100, 650)
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(shot).convert("RGB").save(out, optimize=True)
    viewer.close()
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB) from {result}")


if __name__ == "__main__":
    main()
