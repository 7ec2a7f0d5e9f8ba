"""The pieces of the CT simulation agree with each other on a real foam phantom.

Exact projections of the void list (analytic), the voxel projector applied to the voxelized
phantom, and FDK of the exact projections compared with the voxelized phantom.
"""

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from xrsr_lib.simulate.ct import ConeGeometry, fdk, project_foam
from xrsr_lib.simulate.ct.torch_projector import forward_project
from xrsr_lib.simulate.phantom import generate_foam, voxelize

N, R, VS = 64, 28.0, 1.0


@pytest.fixture(scope="module")
def foam():
    spheres = generate_foam(
        5, nspheres_per_unit=40, ntrials_per_unit=4000, maxsize=0.25, zrange=1.4, progress=False
    )
    um = spheres.astype(np.float64)
    um[:, :4] *= R
    geometry = ConeGeometry.for_volume(N, VS, 128, 320.0, 320.0)
    exact = project_foam(um, geometry, cylinder_radius=R, supersampling=4)
    volume = voxelize(spheres, (N, N, N), VS / R, supersampling=4)
    return geometry, exact, volume


def test_voxel_projector_matches_exact_projections(foam):
    geometry, exact, volume = foam
    projected = forward_project(volume, geometry, VS)
    # the voxel volume is finite in z while the analytic cylinder is not: compare the central rows
    rows = np.abs(geometry.v_coords() / geometry.magnification) < N / 4
    mask = exact > 5.0
    mask[:, ~rows, :] = False
    rel = np.abs(projected - exact)[mask] / exact[mask]
    assert rel.mean() < 0.015
    assert projected[mask].sum() / exact[mask].sum() == pytest.approx(1.0, abs=0.005)


def test_fdk_of_exact_projections_recovers_the_phantom(foam):
    geometry, exact, volume = foam
    rec = fdk(exact, geometry, volume.shape, VS, backend="torch")
    c = N // 2
    slab = np.zeros(volume.shape, bool)
    slab[c - 6 : c + 6] = True
    material = binary_erosion(volume > 0.999, iterations=3) & slab
    yy, xx = np.mgrid[:N, :N] - (N - 1) / 2
    pores = binary_erosion(volume < 0.001, iterations=3) & slab & (np.hypot(yy, xx) < R - 3)[None]
    assert material.sum() > 500 and pores.sum() > 500
    assert rec[material].mean() == pytest.approx(1.0, abs=0.01)
    assert rec[pores].mean() == pytest.approx(0.0, abs=0.01)


def test_fdk_orientation_matches_the_phantom(foam):
    geometry, exact, volume = foam
    rec = fdk(exact, geometry, volume.shape, VS, backend="torch")
    sl = np.s_[N // 2 - 6 : N // 2 + 6]
    err = {
        "as is": np.mean((rec[sl] - volume[sl]) ** 2),
        "x mirrored": np.mean((rec[sl][:, :, ::-1] - volume[sl]) ** 2),
        "y mirrored": np.mean((rec[sl][:, ::-1, :] - volume[sl]) ** 2),
        "z mirrored": np.mean((rec[::-1][sl] - volume[sl]) ** 2),
        "x/y swapped": np.mean((rec[sl].transpose(0, 2, 1) - volume[sl]) ** 2),
    }
    assert min(err, key=err.get) == "as is"
    assert err["as is"] < 0.1 * min(v for k, v in err.items() if k != "as is")
