"""Run profiles as typed, validated configurations.

Three profiles share one code path and differ only in size:

``smoke``
    64³ voxels, for CI and the test suite (seconds to a minute).
``cpu``
    256³ voxels at 1 µm, the same pore sizes in µm as ``paper`` in a smaller volume (a laptop).
``paper``
    512³ voxels at 1 µm, 512 projections over 360°, like study A (GPU recommended).

All lengths are in µm. The foam is described physically (cylinder radius, pore diameters and
density); every profile uses the sized generator (prescribed void-size distribution, see
:class:`~xrsr_lib.config.simulation.PoreSizeConfig`), whose parameters
:meth:`PhantomConfig.sized_parameters` converts to the generator's unit of length, the cylinder
radius. Pelt et al.'s generator stays available (``phantom.generator = "pelt"``).

Examples
--------
>>> from xrsr_lib.config import load_profile
>>> p = load_profile("smoke")
>>> p.volume.n_voxels
64
"""

from __future__ import annotations

from xrsr_lib.config.evaluation import EvaluationConfig
from xrsr_lib.config.nanoct import CrackSliceConfig
from xrsr_lib.config.networks import (
    DeepNetSettings,
    DeepNetTraining,
    InferenceTiling,
    SRCNNSettings,
    SRCNNTraining,
)
from xrsr_lib.config.profile import Profile
from xrsr_lib.config.profile_parts import (
    CPU_STOPPING,
    DEEPNET_RESIDUAL,
    FOAM_PORE_DENSITY_PER_MM3,
    FOAM_PORES,
    PAPER_STOPPING,
    REALIZATION_SEEDS,
    SIGMAS_UM,
    SMOKE_STOPPING,
    TRANSFORMER_HEAD,
    MultiscaleSizes,
    multiscale_acquisition,
    physical_profile,
)
from xrsr_lib.config.simulation import PoreSizeConfig
from xrsr_lib.config.study_b import StudyBConfig
from xrsr_lib.config.training import DeconvConfig, HeldOutConfig, MethodsConfig, SRTrainingConfig
from xrsr_lib.config.trust import TrustConfig

__all__ = ["CPU", "PAPER", "PROFILE_NAMES", "SMOKE", "MultiscaleSizes", "Profile", "load_profile", "profiles"]

PROFILE_NAMES = ("smoke", "cpu", "paper")


def _smoke() -> Profile:
    """Build the ``smoke`` profile: 64³ voxels, for CI and the test suite (seconds to a minute)."""
    methods = MethodsConfig(
        deepnet=DeepNetSettings(
            architecture={"base_width": 8, "depth": 2, "extra_convs": 1, "residual": DEEPNET_RESIDUAL},
            training=DeepNetTraining(
                iterations=30,
                batch_size=2,
                tile=32,
                checkpoint_every=10,
                **SMOKE_STOPPING,
            ),
            inference=InferenceTiling(tile=40, overlap=8),
        ),
        srcnn=SRCNNSettings(
            architecture={"kernel_sizes": (5, 3, 3), "widths": (16, 8)},
            training=SRCNNTraining(
                iterations=30,
                batch_size=4,
                patch=16,
                stride=8,
                validation_fraction=0.2,
                checkpoint_every=10,
                **SMOKE_STOPPING,
            ),
            inference=InferenceTiling(tile=36, overlap=4),
        ),
        rl=DeconvConfig(nlm_patch_size=3, nlm_patch_distance=3),
    )
    # tiny networks, a few steps (checks the plumbing only)
    study_b = StudyBConfig(
        slice=CrackSliceConfig(size=192, n_pores=6, n_cracks=3, crack_length_range_px=(60.0, 150.0)),
        n_train=2,
        n_val=1,
        n_test=2,
        natural_pairs=8,
        models={
            "utsr": {
                "embed_dim": 12,
                "depths": (1,),
                "bottleneck_depth": 1,
                "num_heads": 1,
                **TRANSFORMER_HEAD,
            },
            "swinir": {"embed_dim": 12, "depths": (1,), "num_heads": 2, **TRANSFORMER_HEAD},
            "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 8},
        },
        pretrain=SRTrainingConfig(iterations=4, batch_size=2, patch=16, checkpoint_every=2),
        finetune=SRTrainingConfig(iterations=6, batch_size=2, patch=16, checkpoint_every=3, validate_every=3),
        flops_lr_px=32,
        example_crop_px=64,
    )
    multiscale = MultiscaleSizes(
        lres_voxels=40,
        mres_voxels=64,
        hres_voxels=64,
        lres_angles=64,
        mres_angles=96,
        hres_angles=96,
        cylinder_radius_um=150.0,
        n_large=100,
        large_radius_um=(10.0, 28.0),
        n_small=400,
        small_radius_um=(1.5, 3.0),
        small_core_radius_um=60.0,
    )
    return physical_profile(
        name="smoke",
        n_voxels=64,
        n_angles=64,
        seeds=REALIZATION_SEEDS,
        # 6-16 µm voids, the smallest radius (3 µm) not below the 3 µm foam-mask margin: 60 voids,
        # 37 / 36 fully inside (seeds 1 / 2); placement jams at 77-103 voids over seeds 1-12
        pores=PoreSizeConfig(diameter_range_um=(6.0, 16.0), size_exponent=0.0, min_gap_um=2.0),
        pore_density_per_mm3=265_000.0,
        photons_per_pixel=20_000.0,
        supersampling=2,
        sigmas_um=SIGMAS_UM,
        reference_n_angles=256,
        methods=methods,
        held_out=HeldOutConfig(fraction=0.25),  # 16 slices: one SRCNN patch of 16³
        # a coarser Gaussian-fit grid keeps the smoke run short (the fit pads by 4·σ_max)
        evaluation=EvaluationConfig(gaussian_fit_step_um=0.25, foam_mask_margin_um=3.0),
        study_b=study_b,
        multiscale=multiscale_acquisition(multiscale),
        trust=TrustConfig(tta_transforms=4, domain_block=8),
    )


def _cpu() -> Profile:
    """Build the ``cpu`` profile: 256³ voxels at 1 µm, ``paper``'s pore sizes in a smaller volume."""
    methods = MethodsConfig(
        deepnet=DeepNetSettings(
            architecture={"base_width": 16, "depth": 3, "extra_convs": 2, "residual": DEEPNET_RESIDUAL},
            training=DeepNetTraining(
                iterations=1000,
                batch_size=4,
                tile=128,
                **CPU_STOPPING,
            ),
            # inference tile 256: one tile per 256² slice (4 tiles of 192² cost 2.25x the voxels)
            inference=InferenceTiling(tile=256, overlap=16),
        ),
        srcnn=SRCNNSettings(
            architecture={"kernel_sizes": (9, 3, 3), "widths": (32, 16)},
            training=SRCNNTraining(
                iterations=1000,
                batch_size=8,
                patch=24,
                stride=12,
                **CPU_STOPPING,
            ),
            # inference tile 136: 2 blocks per axis of 256 (1.2x the voxels; 64-voxel blocks process
            # 1.95x and cost +74 % over one whole pass; one 256³ pass needs 5 GiB)
            inference=InferenceTiling(tile=136, overlap=8),
        ),
        # NLM (scikit-image, one slab per thread): ~38 s per 256³ volume at distance 3 on 2 cores
        rl=DeconvConfig(nlm_patch_size=3, nlm_patch_distance=3),
    )
    # reduced networks (about 0.1 s per step on 2 cores) trained for minutes
    study_b = StudyBConfig(
        slice=CrackSliceConfig(size=384, n_pores=14, n_cracks=5, crack_length_range_px=(100.0, 300.0)),
        n_train=24,
        n_val=4,
        n_test=8,
        natural_pairs=256,
        models={
            "utsr": {
                "embed_dim": 24,
                "depths": (1, 1),
                "bottleneck_depth": 1,
                "num_heads": 1,
                **TRANSFORMER_HEAD,
            },
            "swinir": {"embed_dim": 30, "depths": (2, 2), "num_heads": 3, **TRANSFORMER_HEAD},
            "rrdbnet": {"num_feat": 32, "num_block": 2, "num_grow_ch": 16},
        },
        # 64-pixel patches: UTSR's 16-pixel windows fit its quarter-resolution bottleneck
        pretrain=SRTrainingConfig(
            iterations=300, batch_size=2, patch=64, learning_rate=5e-4, checkpoint_every=100
        ),
        finetune=SRTrainingConfig(
            iterations=600,
            batch_size=2,
            patch=64,
            learning_rate=5e-4,
            checkpoint_every=100,
            validate_every=50,
        ),
        # at x4 the networks leave the bicubic plateau only after ~500-600 steps on 2 cores, so a cpu
        # budget ranks them by how fast they start to learn: cpu runs x2 only, where they train past
        # it, and answers what it can (does pre-training on natural images help a short fine-tuning,
        # and each UTSR component); x4 and the paper's ranking are the `paper` profile's
        scales=(2,),
        ablation_scale=2,
    )
    multiscale = MultiscaleSizes(
        lres_voxels=64,
        mres_voxels=80,
        hres_voxels=96,
        lres_angles=96,
        mres_angles=120,
        hres_angles=144,
        cylinder_radius_um=250.0,
        n_large=400,
        large_radius_um=(14.0, 40.0),
        n_small=1500,
        small_radius_um=(2.0, 4.5),
        small_core_radius_um=110.0,
    )
    return physical_profile(
        name="cpu",
        n_voxels=256,
        n_angles=256,
        seeds=REALIZATION_SEEDS,
        pores=FOAM_PORES,
        pore_density_per_mm3=FOAM_PORE_DENSITY_PER_MM3,
        photons_per_pixel=20_000.0,
        supersampling=4,
        sigmas_um=SIGMAS_UM,
        reference_n_angles=1024,
        methods=methods,
        held_out=HeldOutConfig(),
        evaluation=EvaluationConfig(pore_workers=2),  # one pore analysis per core
        study_b=study_b,
        multiscale=multiscale_acquisition(multiscale),
        # 4 of 8 symmetries: half the inference; one member (the study's model): the ensemble signal
        # needs seeds 1.. trained (./run_all.sh --seeds 3, or trust.ensemble_size)
        trust=TrustConfig(tta_transforms=4, ensemble_size=1),
    )


def _paper() -> Profile:
    """Build the ``paper`` profile: 512³ voxels at 1 µm, 512 projections over 360°, like study A."""
    methods = MethodsConfig(
        deepnet=DeepNetSettings(
            architecture={"base_width": 64, "depth": 4, "extra_convs": 3, "residual": DEEPNET_RESIDUAL},
            training=DeepNetTraining(
                iterations=10_000,
                batch_size=4,
                tile=512,
                checkpoint_every=500,
                **PAPER_STOPPING,
            ),
            inference=InferenceTiling(tile=576, overlap=32),
        ),
        srcnn=SRCNNSettings(
            architecture={"kernel_sizes": (9, 5, 5), "widths": (64, 32)},
            training=SRCNNTraining(
                iterations=10_000,
                batch_size=16,
                patch=32,
                stride=16,
                checkpoint_every=500,
                **PAPER_STOPPING,
            ),
            inference=InferenceTiling(tile=96, overlap=8),
        ),
    )
    # the published model sizes (UTSRConfig.paper_like, SwinIR lightweight, Real-ESRGAN's RRDBNet), GPU
    study_b = StudyBConfig(
        slice=CrackSliceConfig(size=512, n_pores=24, n_cracks=6, crack_length_range_px=(150.0, 400.0)),
        n_train=200,
        n_val=20,
        n_test=50,
        natural_pairs=4000,
        models={
            "utsr": {
                "embed_dim": 180,
                "depths": (6, 6),
                "bottleneck_depth": 8,
                "num_heads": 2,
                **TRANSFORMER_HEAD,
            },
            "swinir": {**TRANSFORMER_HEAD},  # lightweight SwinIR: embed 60, depths 6×4, heads 6, window 8
            "rrdbnet": {},  # Real-ESRGAN: 23 RRDBs, 64 features, growth 32
        },
        pretrain=SRTrainingConfig(iterations=20_000, batch_size=16, patch=48, checkpoint_every=1000),
        finetune=SRTrainingConfig(
            iterations=10_000,
            batch_size=16,
            patch=48,
            learning_rate=1e-4,
            checkpoint_every=1000,
            validate_every=500,
        ),
    )
    # study A's real-data scale: an LFOV of ~1,000³ coarse voxels (GPU)
    multiscale = MultiscaleSizes(
        lres_voxels=1000,
        mres_voxels=512,
        hres_voxels=512,
        lres_angles=1500,
        mres_angles=800,
        hres_angles=800,
        cylinder_radius_um=4200.0,
        n_large=60_000,
        large_radius_um=(14.0, 60.0),
        n_small=40_000,
        small_radius_um=(2.0, 4.5),
        small_core_radius_um=700.0,
    )
    return physical_profile(
        name="paper",
        n_voxels=512,
        n_angles=512,
        seeds=REALIZATION_SEEDS,
        pores=FOAM_PORES,
        pore_density_per_mm3=FOAM_PORE_DENSITY_PER_MM3,
        photons_per_pixel=20_000.0,
        supersampling=4,
        sigmas_um=SIGMAS_UM,
        reference_n_angles=6000,  # study A's ground truth: ~6,000 noise-free projections
        methods=methods,
        held_out=HeldOutConfig(),
        evaluation=EvaluationConfig(pore_workers=4),  # ~7 GB each at 512³
        study_b=study_b,
        multiscale=multiscale_acquisition(multiscale),
        trust=TrustConfig(sigmas_um=(3.0, 5.0, 7.0, 9.0), ensemble_size=5),
    )


#: The ``smoke`` profile (see the module docstring).
SMOKE = _smoke()
#: The ``cpu`` profile.
CPU = _cpu()
#: The ``paper`` profile.
PAPER = _paper()


def profiles() -> dict[str, Profile]:
    """Return the three profiles by name, newly built.

    They equal :data:`SMOKE`, :data:`CPU` and :data:`PAPER`; a caller that changes a dict inside one
    does not change the constants.
    """
    return {"smoke": _smoke(), "cpu": _cpu(), "paper": _paper()}


def load_profile(name: str) -> Profile:
    """Return the named profile (``smoke``, ``cpu`` or ``paper``).

    Raises
    ------
    ValueError
        If ``name`` is not a known profile.
    """
    all_profiles = profiles()
    if name not in all_profiles:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    return all_profiles[name]
