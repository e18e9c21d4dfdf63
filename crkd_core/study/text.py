"""What the notebooks say about the study, drawn from its profile rather than typed into a
markdown cell (a typed "LRINet sees 16 px" outlives the profile that made it true), and the
headline as a table for reading (GMACs to three significant figures and their ratio to the
teacher's computed before rounding, so that 0.214x never reads 0.25x)."""

from __future__ import annotations

from ..models.presets import PRESETS
from .configs import DistillConfig, NotebookConfig, TeacherConfig
from .profiles import EQUAL_COST, HEADLINE_ARMS, StudyProfile


def teacher_px(plan: StudyProfile) -> int:
    return PRESETS.get(plan.preset).teacher.input_size


def seeds_text(seeds) -> str:
    seeds = list(seeds)
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


def views_text(cfg: NotebookConfig) -> str:
    """Who sees which resolution in this study."""
    plan, size = cfg.plan, cfg.plan.student_size
    teacher = teacher_px(plan)
    ratio = (
        "half the teacher's, the paper's ratio"
        if 2 * size == teacher
        else (f"{size / teacher:.3g}x the teacher's side")
    )
    return (
        f"In this study (profile `{plan.name}`, preset `{plan.preset}`) the teacher sees "
        f"{teacher} px and LRINet {size} px ({ratio})."
    )


def rule_text(patience: int | None, min_epochs: int, epochs: int) -> str:
    if not patience:
        return f"every run trains {epochs} epochs (no plateau rule)"
    floor = f", never before epoch {min(min_epochs, epochs)}" if min_epochs else ""
    return (
        f"at most {epochs} epochs, stopping once {patience} epochs in a row bring no dev WER "
        f"0.5 points below the best{floor}"
    )


def teacher_text(cfg: TeacherConfig) -> str:
    plan = cfg.plan
    rule = rule_text(plan.teacher_patience, plan.teacher_min_epochs, cfg.epochs)
    return (
        f"{views_text(cfg)} This notebook trains {len(cfg.seeds)} teacher(s) "
        f"({seeds_text(cfg.seeds)}): {rule}."
    )


def distill_text(cfg: DistillConfig) -> str:
    """The nested design of 02, as this study runs it."""
    plan = cfg.plan
    teachers = list(dict.fromkeys(map(cfg.teacher_seed, cfg.seeds)))
    rule = rule_text(plan.student_patience, plan.student_min_epochs, cfg.epochs)
    return (
        f"{views_text(cfg)} Each of {len(teachers)} teacher(s) ({seeds_text(teachers)}) "
        f"teaches its own LRINet students at {cfg.student_size} px, one per arm: CRKD, no KD, "
        f"and CRKD with recovered maps{recover_text(cfg)} (student {seeds_text(cfg.seeds)}; "
        "student seed s learns "
        f"from teacher seed s). {head_text(plan.student_head_init)}Every student trains "
        f"{rule}, its learning rate decaying (cosine) over the {cfg.epochs}. The headline is "
        "each student's "
        "gap to its own teacher: the teacher is the largest source of noise, so the study buys "
        "teachers rather than more students per teacher."
    )


def recover_text(cfg: DistillConfig) -> str:
    """Where the recover student has its own input size: which, and why."""
    size = cfg.headline_size(HEADLINE_ARMS["recover"])
    if size == cfg.student_size:
        return ""
    return f" at {size} px, where its GMACs per frame match the scale student's"


def head_text(head_init: str) -> str:
    """How the students' temporal heads start (`StudyProfile.student_head_init`)."""
    if head_init != "teacher":
        return ""
    return (
        "A taught student's temporal head (1D convolutions, BiLSTM, classifier) starts as its "
        "teacher's trained head, which LRINet's frame vector feeds from the first step; the "
        "no-KD student's starts random, with the same sizes. "
    )


def headline_frame(rows: list[dict]):
    """02's headline rows for reading: WER to two decimals, GMACs to three significant figures,
    the GMACs ratio computed before rounding."""
    import pandas as pd

    shown = {
        "model": "model",
        "input_size": "px",
        "wer": "test WER %",
        "wer_std": "std",
        "gap_difference": "gap to own teacher",
        "gap_ci_low": "gap 95 % low",
        "gap_ci_high": "gap 95 % high",
        "seed_list": "seeds",
        "gmacs_per_frame": "GMACs / frame",
        "gmacs_ratio": "x teacher",
        "params": "params",
        "fps": "fps",
    }
    df = pd.DataFrame(rows)[list(shown)].rename(columns=shown)
    for col in ("test WER %", "std", "gap to own teacher", "gap 95 % low", "gap 95 % high"):
        df[col] = df[col].astype(float).round(2)
    for col in ("GMACs / frame", "x teacher"):
        df[col] = [f"{v:.3g}" for v in df[col]]
    return df


def scale_recover_text(grid: list[dict], cfg: DistillConfig) -> str:
    """What 03 says of the headline's scale student against its recover student (each at its
    size): the cost of each, from the grid's rows (03's summary: one row per size and KD
    setting), and whether they compare at equal cost."""
    size, recover_size = cfg.student_size, cfg.headline_size(HEADLINE_ARMS["recover"])
    scale = next((r for r in grid if r["setting"] == "both" and r["size"] == size), None)
    recover = next(
        (r for r in grid if r["setting"] == "both-recover" and r["size"] == recover_size), None
    )
    if scale is None or recover is None:
        return (
            f"_No complete scale ({size} px) and recover ({recover_size} px) runs in this study._"
        )
    ratio = recover["gmacs_per_frame"] / scale["gmacs_per_frame"]
    equal = abs(ratio - 1) <= EQUAL_COST
    verdict = (
        "They compare at equal cost."
        if equal
        else "The comparison is not at equal cost: read it on the plane above, where a point "
        "below and left of another is better on both."
    )
    return (
        f"The recover student ({recover_size} px) costs {ratio:.3g}x the scale student's "
        f"({size} px) GMACs per frame ({recover['gmacs_per_frame']:.3g} against "
        f"{scale['gmacs_per_frame']:.3g}), with test WER {recover['wer']:.1f} % against "
        f"{scale['wer']:.1f} % (means over {recover['seeds']} and {scale['seeds']} runs). "
        f"{verdict}"
    )
