"""What a study publishes beside its pages: study.json's answers and runs, and headline.tex.

`study.json` is the machine-readable study: `provenance` (with `teacher_seeds` and
`wall_seconds`), the status of every notebook, `answers` (each of 02's questions by its key:
`difference`, `ci_low`, `ci_high`, `p_value`, `n_teachers`, `n_students` and the sentence) and
`runs` (every headline run: `arm`, `teacher_seed`, `seed`, `best_epoch`, `epochs`,
`max_epochs`, `converged` and its learning curve). Both are `{}` and `[]` when 02 did not
succeed in this study run, and the notebooks' statuses say why.

`headline.tex` is 02's headline table as a researcher would paste it into a paper: a plain
tabular, each arm's test WER as mean ± std over teachers, its gap to its own teacher with the
hierarchical interval, the seeds, GMACs per frame (with the ratio to the teacher's, computed
before rounding) and parameters.
"""

from __future__ import annotations

import math
import re

from .report_types import Provenance

# study.json's per-answer fields, in this order (the rest of 02's answer follows them)
ANSWER_FIELDS = ("difference", "ci_low", "ci_high", "p_value", "n_teachers", "n_students")


def answers_record(rows: list[dict] | None) -> dict[str, dict]:
    """02's answers keyed by question (`crkd_vs_teacher`, ...), the contract's fields first."""
    out = {}
    for r in rows or []:
        out[r["key"]] = {
            **{k: r[k] for k in ANSWER_FIELDS},
            **{k: v for k, v in r.items() if k not in ANSWER_FIELDS and k != "key"},
        }
    return out


TEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def tex(text: object) -> str:
    """Plain text as LaTeX: its special characters escaped."""
    return re.sub(r"[&%$#_{}~^\\]", lambda m: TEX_SPECIAL[m.group()], str(text))


def signed(x: float) -> str:
    return f"{x:+.1f}".replace("-", "$-$")


def gap_cell(r: dict) -> str:
    """`+20.8 [+15.0, +26.1]`, or a dash for the teacher (no gap to itself)."""
    if r.get("gap_difference") is None:
        return "--"
    low, high = r["gap_ci_low"], r["gap_ci_high"]
    return f"{signed(r['gap_difference'])} [{signed(low)}, {signed(high)}]"


def wer_cell(r: dict) -> str:
    std = r.get("wer_std")
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{r['wer']:.1f}"
    return f"{r['wer']:.1f} $\\pm$ {std:.1f}"


def headline_tex(rows: list[dict], prov: Provenance) -> str:
    """02's headline rows (`tables.headline`) as a LaTeX tabular, with comments that say what
    the numbers are and where they come from."""
    teachers = ", ".join(map(str, prov.teacher_seeds)) or "?"
    resamples = next((r["gap_resamples"] for r in rows if r.get("gap_resamples")), None)
    lines = [
        f"% CRKD study, profile {tex(prov.profile)}, commit {tex(prov.git_commit)}:"
        " test WER (%), one student per arm per teacher (student seed = teacher seed).",
        f"% Mean +- std over the teachers (seeds {teachers}); the gap is each student's WER"
        " minus its own teacher's, with a 95 % hierarchical bootstrap interval (teachers,"
        f" students within teachers, test sentences; {resamples} resamples).",
        "% GMACs per frame with the ratio to the teacher's, computed before rounding.",
        r"\begin{tabular}{lrrrlrr}",
        r"\hline",
        r"Model & Input px & Test WER (\%) & Gap to own teacher [95\% CI] & Seeds"
        r" & GMACs/frame & Params (M) \\",
        r"\hline",
    ]
    for r in rows:
        seeds = ", ".join(map(str, r.get("seed_list", [])))
        gmacs = f"{r['gmacs_per_frame']:.3g} ({r['gmacs_ratio']:.3g}$\\times$)"
        lines.append(
            f"{tex(r['model'])} & {r['input_size']} & {wer_cell(r)} & {gap_cell(r)} & {seeds}"
            f" & {gmacs} & {r['params'] / 1e6:.3g} \\\\"
        )
    lines += [r"\hline", r"\end{tabular}", ""]
    return "\n".join(lines)
