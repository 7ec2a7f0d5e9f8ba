import math

import pytest
from pydantic import ValidationError

from xrsr_lib.config import PROFILE_NAMES, load_profile


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_profiles_load_and_are_consistent(name):
    p = load_profile(name)
    assert p.name == name
    assert p.degrade.sigmas_um == (1.0, 3.0, 5.0, 7.0, 9.0)
    assert p.degrade.lres_sigmas_um == (3.0, 5.0, 7.0, 9.0)
    assert set(p.realizations) == {"train", "alternate"}
    assert p.phantom.cylinder_radius_um < p.volume.half_height_um
    pelt = p.phantom.pelt_parameters()
    assert 0 < pelt["maxsize"] < 1
    assert pelt["ntrials_per_unit"] > pelt["nspheres_per_unit"] >= 1


def test_paper_profile_matches_study_a():
    p = load_profile("paper")
    assert p.volume.shape == (512, 512, 512)
    assert p.ct.n_angles == 512
    assert p.volume.voxel_size_um == 1.0


def test_cpu_and_paper_share_pore_sizes_in_um():
    cpu, paper = load_profile("cpu"), load_profile("paper")
    assert cpu.phantom.max_pore_radius_um == paper.phantom.max_pore_radius_um
    assert cpu.phantom.pore_density_per_mm3 == paper.phantom.pore_density_per_mm3
    # Pelt's parameters are in cylinder radii: the counts per unit scale with R³
    ratio = (paper.phantom.cylinder_radius_um / cpu.phantom.cylinder_radius_um) ** 3
    n_cpu = cpu.phantom.pelt_parameters()["nspheres_per_unit"]
    n_paper = paper.phantom.pelt_parameters()["nspheres_per_unit"]
    assert math.isclose(n_paper / n_cpu, ratio, rel_tol=0.01)


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown profile 'laptop'.*smoke, cpu, paper"):
        load_profile("laptop")


def test_bad_values_are_rejected():
    p = load_profile("smoke")
    d = p.model_dump()
    d["degrade"]["sigmas_um"] = (1.0, -3.0)
    with pytest.raises(ValidationError, match="blur sigma must be a finite value >= 0"):
        type(p).model_validate(d)
    d = p.model_dump()
    d["volume"]["n_voxels"] = 0
    with pytest.raises(ValidationError, match="n_voxels"):
        type(p).model_validate(d)
    d = p.model_dump()
    d["realizations"] = {"train": 3, "alternate": 3}
    with pytest.raises(ValidationError, match="realization seeds must differ"):
        type(p).model_validate(d)
    d = p.model_dump()
    d["phantom"]["cylinder_radius_um"] = 1000.0
    with pytest.raises(ValidationError, match="does not fit the volume"):
        type(p).model_validate(d)


def test_profiles_are_immutable():
    p = load_profile("smoke")
    with pytest.raises(ValidationError):
        p.name = "other"
