"""The size of a study: KD settings, the ablation grid and the study profiles; and the names
of the study's notebooks (cheap to import: no torch, so that no module copies them).

A study profile (`crkd study --profile`) sets which runs a study makes, their epochs and
seeds; it is not the SignWorld data size (`crkd synth --profile`, `DATA_SIZES`) nor a network
preset (`--preset`). `STUDY_PROFILES` is the one place where the size of a study is decided.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import CRKDError
from ..registry import Registry

# The notebooks of a study, by name (notebooks/<name>.ipynb, and the study's <name>/ folder).
NB_EXPLORE = "00_explore_data"
NB_TEACHER = "01_train_teacher"
NB_DISTILL = "02_distill_student"
NB_ABLATION = "03_resolution_ablation"
NB_ATTRIBUTION = "04_attribution"
NB_EFFICIENCY = "05_efficiency"
NOTEBOOKS = (NB_EXPLORE, NB_TEACHER, NB_DISTILL, NB_ABLATION, NB_ATTRIBUTION, NB_EFFICIENCY)
# A notebook is run only when the notebooks it reads from succeeded.
NEEDS = {
    NB_DISTILL: (NB_TEACHER,),
    NB_ABLATION: (NB_TEACHER,),
    NB_ATTRIBUTION: (NB_DISTILL,),
}


class StudyError(CRKDError):
    """A step of the study failed (a grid point, a missing run, a bad parameter)."""


@dataclass(frozen=True)
class KDSetting:
    """One way to train LRINet: `crkd distill --kd KD --student-variant VARIANT`."""

    name: str
    kd: str  # the KD terms (`crkd distill --kd`) at the preset's weights, or none
    variant: str  # LRINet's: scale (the teacher's map size) or recover (half)
    label: str


KD_SETTINGS = {
    s.name: s
    for s in (
        KDSetting("none", "none", "scale", "no KD"),
        KDSetting("feature-scale", "feature", "scale", "feature KD, same scale (CRKD)"),
        KDSetting("feature-recover", "feature", "recover", "feature KD, recovered scale (ResKD)"),
        KDSetting("logit", "logit", "scale", "logit KD"),
        KDSetting("both", "feature,logit", "scale", "feature + logit KD (CRKD)"),
        KDSetting(
            "both-recover", "feature,logit", "recover", "feature (recovered scale) + logit KD"
        ),
        # the logit term's variants (the ablation's): at a lower temperature, and over the
        # glosses alone, without the CTC blank that most teacher frames are spent on
        KDSetting("both-t2", "feature,logit:T=2", "scale", "feature + logit KD at T = 2"),
        KDSetting(
            "both-gloss", "feature,logit-gloss", "scale", "feature + logit KD without the blank"
        ),
    )
}
# the settings every size of the full grid runs (the logit variants run at the headline's size)
BASE_SETTINGS = ("none", "feature-scale", "feature-recover", "logit", "both", "both-recover")


@dataclass(frozen=True)
class GridBlock:
    """A block of the ablation grid: every size with every KD setting, for `seeds` (None: the
    profile's seeds; fewer seeds make a row the report marks as such)."""

    sizes: tuple[int, ...]
    settings: tuple[str, ...]
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class StudyProfile:
    """How big a study is: which runs it makes, for how long, with which seeds.

    The headline is nested: each of `teacher_seeds` teaches its own LRINet students at
    `student_size`, one per headline arm (`HEADLINE_ARMS`: CRKD, no KD, recover) and seed of
    `seeds`; a student of seed s is taught by teacher seed s (by the first teacher when that
    seed has none), and a no-KD student is paired with that teacher although it learns alone.

    Every run stops at its plateau: the teacher trains for at most `teacher_epochs` and stops
    once `teacher_patience` epochs bring no better dev WER (by 0.5 points), but not before
    `teacher_min_epochs`; every LRINet run of the study (headline, grid, sweep: one rule for
    all arms) likewise with `student_epochs`, `student_patience` and `student_min_epochs`
    (None: no rule, every run trains `student_epochs`).
    """

    name: str
    data_profile: str  # `crkd synth --profile`
    data_seed: int
    seeds: tuple[int, ...]
    teacher_epochs: int
    student_epochs: int  # the most an LRINet run trains (a cap, with student_patience)
    grid: tuple[GridBlock, ...]  # 03's rows beyond the headline's arms
    attribution_sentences: int
    ig_steps: int
    profile_frames: int  # clip length when measuring fps and GMACs
    profile_repeats: int
    profile_seconds: float  # minimum seconds per timed repeat
    efficiency_sizes: tuple[tuple[str, tuple[int, ...]], ...]  # preset -> LRINet sizes
    preset: str = "cpu"
    teacher_seeds: tuple[int, ...] = (0,)
    teacher_patience: int | None = None
    teacher_min_epochs: int = 0
    student_patience: int | None = None
    student_min_epochs: int = 0
    student_size: int = 32  # the paper's ratio: half the cpu teacher's 64 px
    # the headline's recover student's input size (None: student_size). A recovered map is
    # half the scale map's side, so at one input size the recover student is the cheaper one;
    # at this size its GMACs per frame equal the scale student's, and the two compare at equal
    # cost (the grid's recover points keep their own sizes)
    recover_size: int | None = None
    # how a taught LRINet's temporal head starts (`crkd distill --head-init`): as its
    # teacher's trained head, or random; a no-KD student's is always random
    student_head_init: str = "teacher"
    # notebook 03's KD-weight sweep: (alpha, beta) pairs at the headline size, first seed
    kd_weights: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.student_min_epochs and self.student_patience is None:
            raise StudyError(f"profile {self.name}: student_min_epochs needs student_patience")
        if self.student_min_epochs > self.student_epochs:
            raise StudyError(f"profile {self.name}: student_min_epochs exceeds student_epochs")


# Two students whose GMACs per frame differ by at most this fraction compare at equal cost
# (the headline's recover student, at `recover_size`, is 0.978x the scale student's).
EQUAL_COST = 0.05

# The headline's arms, by the prefix of their run folders (`runs/crkd-s32-...`): every teacher
# teaches one student of each. Scale vs recover is CRKD with the frame map at the teacher's size
# against a smaller map upsampled in the loss (ResKD).
HEADLINE_ARMS = {"crkd": "both", "nokd": "none", "recover": "both-recover"}

# Why more teachers rather than more students per teacher: the teacher is the largest source of
# noise in the headline. Teacher seeds 0, 1 and 2 reached 18.9, 30.6 and 38.2 % test WER on one
# machine and 19.3, 20.4 and 39.3 on another, while three students of one teacher spread by
# about 3 points (37.8 +- 2.8). A student's gap to its own teacher carries that teacher's luck,
# and only more teachers average it; a second student of the same teacher would average the
# smaller within-teacher part alone. So the budget buys teachers, one student per arm each.
STUDY_PROFILES: Registry[StudyProfile] = Registry("study profile")
STUDY_PROFILES.register("smoke")(
    StudyProfile(
        "smoke",
        data_profile="smoke",
        data_seed=0,
        seeds=(0, 1),  # the nested path: 2 teachers x the 3 headline arms
        teacher_seeds=(0, 1),
        teacher_epochs=1,
        student_epochs=1,
        grid=(),  # 03 draws the headline's arms; the sweep exercises a grid point of its own
        attribution_sentences=1,
        ig_steps=4,
        profile_frames=16,
        profile_repeats=1,
        profile_seconds=0.1,
        efficiency_sizes=(("cpu", (16, 32)), ("paper", (112,))),
        student_size=16,
        kd_weights=((10.0, 5.0),),  # one sweep point, so that the sweep's path is run
    )
)
STUDY_PROFILES.register("default")(
    StudyProfile(
        "default",
        data_profile="default",
        data_seed=0,
        # the headline only (`make study`): 3 teachers, each with its own CRKD, no-KD and
        # recover students at 32 px (student seed = teacher seed); see HEADLINE_ARMS for why
        # more teachers rather than more students per teacher
        teacher_seeds=(0, 1, 2),
        seeds=(0, 1, 2),
        teacher_epochs=20,  # at most: the teacher stops at its plateau (teacher_patience)
        teacher_patience=3,
        teacher_min_epochs=12,  # a 3-epoch rule alone stopped a teacher on its early plateau
        # students at their plateau. The learning rate decays (cosine) over the cap, so a run
        # settles near it; the rule stops one that is flat earlier, but not before epoch 14: a
        # 3-epoch rule from epoch 8 stopped a student at epoch 10, 6 points above where the
        # decay took a like one (`--head-init teacher`, seeds 0 and 2, 2026-12-06). A run whose
        # best dev epoch is its last is marked "not converged" on the page.
        student_epochs=20,
        student_patience=3,
        student_min_epochs=14,
        student_size=32,  # the paper's ratio: half the teacher's 64 px
        # recover at 36 px: 0.978x the GMACs per frame of scale at 32 px (at 32 px: 0.74x;
        # 34 px 0.953x, 37 px 1.039x; `cost.gmacs_per_frame`, 32-frame clips)
        recover_size=36,
        grid=(),  # the other questions are the `ablation` profile's
        attribution_sentences=2,
        ig_steps=32,
        profile_frames=32,
        profile_repeats=3,
        profile_seconds=0.3,
        efficiency_sizes=(("cpu", (16, 24, 32, 48)), ("paper", (56, 112))),
    )
)
# the default study's headline (the same runs, reused in the same --out), plus the rows that
# answer other questions: feature KD only, logit KD only, 16 px, the KD weights
STUDY_PROFILES.register("ablation")(
    replace(
        STUDY_PROFILES.get("default"),
        name="ablation",
        grid=(
            GridBlock((32,), ("feature-scale", "logit"), seeds=(0,)),
            GridBlock((32,), ("both-t2", "both-gloss"), seeds=(0,)),
            GridBlock((16,), ("none", "both"), seeds=(0,)),
        ),
        kd_weights=((10.0, 1.0), (10.0, 25.0), (30.0, 5.0), (3.0, 5.0)),
    )
)
STUDY_PROFILES.register("full")(
    StudyProfile(
        "full",
        data_profile="full",
        data_seed=0,
        seeds=(0, 1, 2),
        teacher_epochs=20,
        student_epochs=20,  # the default's rule: cosine over the cap, flat from epoch 14
        student_patience=3,
        student_min_epochs=14,
        recover_size=36,  # the headline's recover student at the scale student's cost
        grid=(
            GridBlock((16, 24, 32, 48), BASE_SETTINGS),
            GridBlock((32,), ("both-t2", "both-gloss")),
        ),
        teacher_seeds=(0, 1, 2),
        teacher_patience=4,
        teacher_min_epochs=12,
        kd_weights=((10.0, 1.0), (10.0, 25.0), (30.0, 1.0), (30.0, 5.0), (3.0, 5.0)),
        attribution_sentences=4,
        ig_steps=50,
        profile_frames=32,
        profile_repeats=5,
        profile_seconds=0.5,
        efficiency_sizes=(("cpu", (16, 24, 32, 48)), ("paper", (56, 112, 224))),
    )
)
# Registered from the smallest study to the largest (`ablation` is the default's headline and
# more): a smaller study never replaces the report of a larger one (`crkd study
# --replace-larger`), and `--profile` lists them in this order.
PROFILE_ORDER = STUDY_PROFILES.registered()
