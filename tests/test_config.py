import math

import numpy as np
import pytest
from pydantic import ValidationError

from xrsr_lib.config import PROFILE_NAMES, PhantomConfig, PoreSizeConfig, load_profile
from xrsr_lib.simulate.phantom import generate_sized_foam, sized_diameter_cdf, void_statistics


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_profiles_load_and_are_consistent(name):
    p = load_profile(name)
    assert p.name == name
    assert p.degrade.sigmas_um == (1.0, 3.0, 5.0, 7.0, 9.0)
    assert p.degrade.lres_sigmas_um == (3.0, 5.0, 7.0, 9.0)
    assert set(p.realizations) == {"train", "alternate"}
    assert p.phantom.cylinder_radius_um < p.volume.half_height_um
    assert p.phantom.generator == "sized"
    sized = p.phantom.generator_parameters()
    assert sized["generator"] == "sized" and sized["n_voids"] >= 10
    assert 0 < sized["diameter_range"][0] < sized["diameter_range"][1] < 2
    assert p.phantom.zrange_um == p.volume.half_height_um + p.phantom.max_pore_radius_um


def test_paper_profile_matches_study_a():
    p = load_profile("paper")
    assert p.volume.shape == (512, 512, 512)
    assert p.ct.n_angles == 512
    assert p.volume.voxel_size_um == 1.0


def test_cpu_and_paper_share_pore_sizes_in_um():
    cpu, paper = load_profile("cpu"), load_profile("paper")
    assert cpu.phantom.sizes == paper.phantom.sizes
    assert cpu.phantom.max_pore_radius_um == paper.phantom.max_pore_radius_um
    assert cpu.phantom.pore_density_per_mm3 == paper.phantom.pore_density_per_mm3
    # the generator's lengths are in cylinder radii; the counts scale with the slab, R² · zrange
    ratio = (paper.phantom.cylinder_radius_um / cpu.phantom.cylinder_radius_um) ** 2 * (
        paper.phantom.zrange_um / cpu.phantom.zrange_um
    )
    n_cpu = cpu.phantom.sized_parameters()["n_voids"]
    n_paper = paper.phantom.sized_parameters()["n_voids"]
    assert math.isclose(n_paper / n_cpu, ratio, rel_tol=0.01)
    d_um = [
        np.multiply(q.phantom.sized_parameters()["diameter_range"], q.phantom.cylinder_radius_um)
        for q in (cpu, paper)
    ]
    np.testing.assert_allclose(*d_um)  # the same diameters in µm


def test_paper_phantom_matches_study_a_pore_count():
    """Both realizations of ``paper`` leave 1,380 ± 10 % voids fully inside the 512 µm tall volume
    (measured 1,365 / 1,371), and the diameters of those follow the law of voids inside (KS test:
    small voids are slightly more often fully inside; 41 % below 25 µm, 31 % below 20 µm)."""
    from scipy import stats

    p = load_profile("paper")
    params = p.phantom.sized_parameters()
    assert params.pop("generator") == "sized"
    radius, half = p.phantom.cylinder_radius_um, p.volume.half_height_um
    d_range, a = p.phantom.sizes.diameter_range_um, p.phantom.sizes.size_exponent
    for seed in p.realizations.values():
        s_um = generate_sized_foam(seed, **params).astype(np.float64) * radius
        n_inside = void_statistics(s_um, half)["n_inside"]
        assert abs(n_inside - 1380) <= 138, (seed, n_inside)
        d = 2 * s_um[np.abs(s_um[:, 2]) + s_um[:, 3] < half, 3]
        assert stats.kstest(d, lambda x: sized_diameter_cdf(x, d_range, a, half_height=half)).pvalue > 0.01
    np.testing.assert_allclose(sized_diameter_cdf([20.0, 25.0], d_range, a), [0.30, 0.40])


def test_pelt_phantom_cache_keys_ignore_the_new_fields():
    """A Pelt phantom (the defaults of ``generator`` and ``sizes``) keeps its old key_dict, so
    existing caches stay valid; the sized generator's settings enter the key."""
    fields = {
        "cylinder_radius_um": 240.0,
        "max_pore_radius_um": 35.0,
        "pore_density_per_mm3": 33_000.0,
        "trial_density_per_mm3": 4_000_000.0,
        "zrange_um": 291.0,
        "supersampling": 4,
    }
    pelt = PhantomConfig(**fields)
    assert pelt.generator == "pelt" and pelt.sizes is None
    assert pelt.key_dict() == fields
    assert PhantomConfig(**fields, generator="pelt").key_dict() == fields
    assert "generator" not in pelt.generator_parameters()
    assert pelt.generator_parameters() == pelt.pelt_parameters()
    sizes = PoreSizeConfig(diameter_range_um=(5.0, 70.0), size_exponent=0.5, min_gap_um=2.0)
    sized = PhantomConfig(**fields, generator="sized", sizes=sizes)
    key = sized.key_dict()
    assert key["generator"] == "sized" and key["sizes"]["diameter_range_um"] == (5.0, 70.0)


def test_sized_phantom_parameters():
    sizes = PoreSizeConfig(diameter_range_um=(5.0, 70.0), size_exponent=0.5, min_gap_um=2.0)
    ph = PhantomConfig(
        cylinder_radius_um=200.0,
        max_pore_radius_um=35.0,
        pore_density_per_mm3=20_000.0,
        trial_density_per_mm3=4e6,
        zrange_um=300.0,
        supersampling=2,
        generator="sized",
        sizes=sizes,
    )
    slab_mm3 = math.pi * 0.2**2 * 0.6  # π R² · 2 zrange
    assert ph.sized_parameters() == {
        "generator": "sized",
        "n_voids": round(20_000 * slab_mm3),
        "diameter_range": [0.025, 0.35],
        "size_exponent": 0.5,
        "zrange": 1.5,
        "min_gap": 0.01,
    }
    assert ph.generator_parameters() == ph.sized_parameters()
    with pytest.raises(ValueError, match="needs generator 'sized'"):
        PhantomConfig(**{**ph.model_dump(), "generator": "pelt", "sizes": None}).sized_parameters()
    # Pelt's trial density is ignored by the sized generator, and so not checked against its count
    PhantomConfig(**{**ph.model_dump(), "pore_density_per_mm3": 5e6})
    with pytest.raises(ValidationError, match="trial_density_per_mm3 must exceed"):
        PhantomConfig(**{**ph.model_dump(), "pore_density_per_mm3": 5e6, "generator": "pelt", "sizes": None})


@pytest.mark.parametrize(
    ("update", "match"),
    [
        ({"sizes": None}, "requires sizes"),
        ({"generator": "pelt"}, "used by generator 'sized' only"),
        ({"max_pore_radius_um": 30.0}, "half the largest diameter"),
        ({"cylinder_radius_um": 35.0}, "does not fit the cylinder"),
        ({"sizes": {"diameter_range_um": (70.0, 5.0), "size_exponent": 0.5}}, "0 < min < max"),
        ({"sizes": {"diameter_range_um": (0.0, 70.0), "size_exponent": 0.5}}, "0 < min < max"),
        ({"sizes": {"diameter_range_um": (5.0, 70.0), "size_exponent": float("nan")}}, "finite"),
        ({"sizes": {"diameter_range_um": (5.0, 70.0), "size_exponent": 0.5, "min_gap_um": -1}}, "min_gap_um"),
        ({"generator": "greedy"}, "generator"),
    ],
)
def test_sized_phantom_settings_are_validated(update, match):
    good = {
        "cylinder_radius_um": 200.0,
        "max_pore_radius_um": 35.0,
        "pore_density_per_mm3": 20_000.0,
        "trial_density_per_mm3": 4e6,
        "zrange_um": 300.0,
        "supersampling": 2,
        "generator": "sized",
        "sizes": {"diameter_range_um": (5.0, 70.0), "size_exponent": 0.5, "min_gap_um": 2.0},
    }
    PhantomConfig.model_validate(good)
    with pytest.raises(ValidationError, match=match):
        PhantomConfig.model_validate({**good, **update})


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


def test_profile_constants_are_what_profiles_returns():
    """``SMOKE``, ``CPU``, ``PAPER`` equal ``profiles()`` and ``load_profile``; both build new objects,
    so a caller changing a dict inside a profile changes neither the constants nor later profiles."""
    from xrsr_lib.config.profiles import CPU, PAPER, SMOKE, profiles

    constants = {"smoke": SMOKE, "cpu": CPU, "paper": PAPER}
    built = profiles()
    assert built == constants
    for name, constant in constants.items():
        assert load_profile(name) == constant
        assert built[name] is not constant
    built["smoke"].realizations["extra"] = 99
    built["smoke"].study_b.models["utsr"]["embed_dim"] = 1
    assert "extra" not in SMOKE.realizations and "extra" not in load_profile("smoke").realizations
    assert SMOKE.study_b.models["utsr"]["embed_dim"] == 12
    assert load_profile("smoke").study_b.models["utsr"]["embed_dim"] == 12


def test_multiscale_sizes_are_named():
    from xrsr_lib.config.profiles import SMOKE, MultiscaleSizes

    with pytest.raises(TypeError):
        MultiscaleSizes(40, 64, 64, 64, 96, 96, 150.0, 100, (10.0, 28.0), 400, (1.5, 3.0), 60.0)
    assert SMOKE.multiscale is not None and SMOKE.multiscale.scan("lres").n_voxels == 40
