"""Official PHOENIX cleaning rule by rule, CTM/STM files, and `score_files`/`crkd score`."""

from __future__ import annotations

import json

import pytest

from crkd_core import cli
from crkd_core.errors import ConfigError, DataError, ToolMissingError
from crkd_core.scoring import prepare_corpus, score_files
from crkd_core.scoring import sclite as sclite_mod
from crkd_core.scoring.cleaning import (
    CLEANINGS,
    clean_phoenix2014_hyp,
    clean_phoenix2014t_hyp,
    clean_phoenix2014t_ref,
)
from crkd_core.scoring.ctm import read_ctm, read_stm, write_ctm, write_stm


def g(text: str) -> list[str]:
    return text.split()


# --- PHOENIX-2014 hypothesis: one case per rule, in the reference's numbering ---------------

# (rule, hypothesis, official result, result with as_sentence=True)
RULES_2014 = [
    (1, "loc-NORD cl-KOMMEN qu-WAS poss-EUER lh-HAND", "NORD KOMMEN WAS EUER HAND", None),
    (2, "S0NNE HABEN2", "SONNE HABEN", None),
    (3, "__EMOTION__ REGEN __PU__ __LEFTHAND__", "REGEN", None),
    (4, "WIE AUSSEHEN", "WIE AUSSEHEN", "WIE-AUSSEHEN"),
    (5, "ZEIGEN WETTER ZEIGEN", "ZEIGEN-BILDSCHIRM WETTER ZEIGEN-BILDSCHIRM", None),
    (6, "REGEN A B C", "REGEN A B C", "REGEN A+B+C"),
    (7, "NORDRAUM RAUM ARAUM", "NORD RAUM ARAUM", None),
    (8, "REGEN-PLUSPLUS", "REGEN", None),
    (9, "REGEN REGEN A-B A-B", "REGEN REGEN A-B A-B", "REGEN A-B A-B"),
    (10, "__EPENTHESIS__ REGEN", "REGEN", None),
    (11, "__EMOTION__ __PU__", "[EMPTY]", None),
]


@pytest.mark.parametrize("rule, hyp, official, sentence", RULES_2014)
def test_phoenix2014_rule(rule, hyp, official, sentence):
    assert clean_phoenix2014_hyp(g(hyp)) == g(official)
    expected = official if sentence is None else sentence
    assert clean_phoenix2014_hyp(g(hyp), as_sentence=True) == g(expected)


def test_phoenix2014_keeps_on_off_and_applies_rules_in_order():
    # rule 1 before 5 (loc-ZEIGEN), rule 7 before 8 (NORDRAUM-PLUSPLUS)
    hyp = "__ON__ loc-ZEIGEN NORDRAUM-PLUSPLUS __OFF__"
    assert clean_phoenix2014_hyp(g(hyp)) == g("__ON__ ZEIGEN-BILDSCHIRM NORD __OFF__")


def test_phoenix2014_empty_hypothesis_is_empty_word():
    assert clean_phoenix2014_hyp([]) == ["[EMPTY]"]


# --- PHOENIX-2014-T -------------------------------------------------------------------------

T_HYP = [
    ("__ON__ REGEN __OFF__ __NDH__", "REGEN"),  # every __X__ token goes
    ("__LEFTHAND__ __EPENTHESIS__ __EMOTION__ REGEN", "REGEN"),
    ("loc-NORD cl-KOMMEN", "NORD KOMMEN"),
    ("REGEN-PLUSPLUS NORDRAUM RAUM", "REGEN NORD RAUM"),
    ("REGEN REGEN A-B A-B", "REGEN A-B"),  # any repeat collapses
    ("WIE AUSSEHEN A B", "WIE AUSSEHEN A B"),  # no joins on the hypothesis side
    ("__ON__", "[EMPTY]"),
]


@pytest.mark.parametrize("hyp, expected", T_HYP)
def test_phoenix2014t_hyp(hyp, expected):
    assert clean_phoenix2014t_hyp(g(hyp)) == g(expected)


T_REF = [
    ("__ON__ REGEN __OFF__", "REGEN"),
    ("__LEFTHAND__ REGEN __EPENTHESIS__", "REGEN"),
    ("loc-NORD cl-KOMMEN REGEN-PLUSPLUS SUEDRAUM", "NORD KOMMEN REGEN SUED"),
    ("WIE AUSSEHEN", "WIE-AUSSEHEN"),
    ("REGEN A B C", "REGEN A+B+C"),
    ("A B REGEN", "A+B REGEN"),
    ("REGEN REGEN A-B A-B", "REGEN A-B A-B"),  # plain uppercase repeats only
    ("__ON__", ""),  # no [EMPTY] on the reference side
]


@pytest.mark.parametrize("ref, expected", T_REF)
def test_phoenix2014t_ref(ref, expected):
    assert clean_phoenix2014t_ref(g(ref)) == g(expected)


def test_cleaning_registry():
    assert set(CLEANINGS) == {"phoenix2014", "phoenix2014t", "none"}
    hyp_fn, ref_fn = CLEANINGS["none"]
    assert hyp_fn(["__ON__", "A"]) == ["__ON__", "A"] and ref_fn([]) == []


def test_missing_hypotheses_score_as_empty_word():
    corpus = prepare_corpus({"b": ["X"]}, {"a": ["A", "B"], "b": ["X"]}, "phoenix2014")
    assert corpus.ids == ("a", "b")
    assert corpus.hyps == (("[EMPTY]",), ("X",))
    assert prepare_corpus({}, {"a": ["A"]}, "none").hyps == ((),)


def test_hypothesis_ids_outside_the_reference_raise():
    with pytest.raises(DataError, match="u9"):
        prepare_corpus({"u9": ["A"]}, {"a": ["A"]})
    with pytest.raises(ConfigError):
        prepare_corpus({}, {"a": ["A"]}, cleaning="phoenix2099")


# --- CTM / STM ------------------------------------------------------------------------------

CORPUS = {
    "utt-b": ["__ON__", "WIE-AUSSEHEN", "A+B", "loc-NORD", "__OFF__"],
    "utt-a": [f"G{i}" for i in range(120)],
    "utt-c": [],
}


def test_ctm_stm_round_trip(tmp_path):
    write_ctm(tmp_path / "h.ctm", CORPUS)
    write_stm(tmp_path / "r.stm", CORPUS)
    assert read_ctm(tmp_path / "h.ctm") == {k: v for k, v in CORPUS.items() if v}
    assert read_stm(tmp_path / "r.stm") == CORPUS
    ids = [line.split()[0] for line in (tmp_path / "r.stm").read_text().splitlines()]
    assert ids == ["utt-a", "utt-b", "utt-c"]


def test_read_ctm_orders_by_time_and_stm_skips_labels(tmp_path):
    (tmp_path / "h.ctm").write_text(";; comment\nu 1 0.2 0.1 B\nu 1 0.1 0.1 A 0.9\n\n")
    assert read_ctm(tmp_path / "h.ctm") == {"u": ["A", "B"]}
    (tmp_path / "r.stm").write_text("u 1 s 5.0 9.0 <o,f0,male> C\nu 1 s 0.0 5.0 A B\n")
    assert read_stm(tmp_path / "r.stm") == {"u": ["A", "B", "C"]}


MALFORMED = [
    ("h.ctm", "u 1 0.0 0.1 A\nu 1 0.1 B\n", 2),  # too few fields
    ("h.ctm", "u 1 0.0 0.1 A\nu 1 x 0.1 B\n", 2),  # time not a number
    ("h.ctm", "u 1 0.0 0.1 A 0.5 extra\n", 1),  # too many fields
    ("r.stm", "u 1 s 0.0 1.0 A\nu 1 s 0.0\n", 2),
    ("r.stm", ";; header\nu 1 s zero 1.0 A\n", 2),
]


@pytest.mark.parametrize("name, text, line", MALFORMED)
def test_malformed_lines_name_file_and_line(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text)
    reader = read_ctm if name.endswith(".ctm") else read_stm
    with pytest.raises(DataError) as info:
        reader(path)
    assert info.value.row == line
    assert str(path) in str(info.value) and f"row {line}" in str(info.value)


def test_missing_file_is_data_error(tmp_path):
    with pytest.raises(DataError):
        read_ctm(tmp_path / "nope.ctm")


@pytest.mark.parametrize("hyps", [{"u": ["A B"]}, {"u v": ["A"]}, {"u": [""]}, {"u": "AB"}])
def test_write_rejects_tokens_that_break_the_format(tmp_path, hyps):
    with pytest.raises(DataError):
        write_ctm(tmp_path / "h.ctm", hyps)
    assert not (tmp_path / "h.ctm").exists()


# --- score_files, sclite lookup and the CLI ------------------------------------------------


@pytest.fixture
def files(tmp_path):
    refs = {"a": ["__ON__", "NORD", "REGEN", "__OFF__"], "b": ["SONNE"], "c": ["WIND", "A"]}
    hyps = {"a": ["__ON__", "loc-NORD", "__EMOTION__", "__OFF__"], "b": ["S0NNE"]}
    return write_ctm(tmp_path / "h.ctm", hyps), write_stm(tmp_path / "r.stm", refs)


def test_score_files_python(files):
    result = score_files(*files, cleaning="phoenix2014", engine="python")
    # a: REGEN deleted; b: correct; c: [EMPTY] for WIND A -> 1 sub + 1 del
    assert (result.sub, result.dele, result.ins, result.n_ref) == (1, 2, 0, 7)
    raw = score_files(*files, cleaning="none")
    assert (raw.sub, raw.dele, raw.ins) == (3, 2, 0)  # c has no hypothesis: 2 deletions


def test_missing_sclite_raises(monkeypatch, files):
    monkeypatch.setenv("SCLITE", "/nonexistent/sclite")
    with pytest.raises(ToolMissingError):
        score_files(*files, engine="sclite")
    monkeypatch.delenv("SCLITE")
    monkeypatch.setattr(sclite_mod, "find_sclite", lambda: None)
    with pytest.raises(ToolMissingError):
        sclite_mod.run_sclite(*files)


def test_parse_dtl():
    text = (
        "Percent Total Error       =   77.8%   (   7)\n"
        "Percent Substitution      =   22.2%   (   2)\n"
        "Percent Deletions         =   44.4%   (   4)\n"
        "Percent Insertions        =   11.1%   (   1)\n"
        "Ref. words                =           (   9)\n"
        "Hyp. words                =           (   6)\n"
    )
    result = sclite_mod.parse_dtl(text)
    assert (result.sub, result.dele, result.ins, result.n_ref, result.n_hyp) == (2, 4, 1, 9, 6)
    with pytest.raises(ValueError):
        sclite_mod.parse_dtl("Alignment failed")


def test_cli_score(files, tmp_path, capsys):
    out = tmp_path / "score.json"
    argv = ["score", "--hyp", str(files[0]), "--ref", str(files[1]), "--json", str(out)]
    assert cli.main(argv) == 0
    assert "WER 42.86 %" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["del"] == 2 and saved["n_ref"] == 7 and saved["cleaning"] == "phoenix2014"


def test_cli_score_reports_bad_input(tmp_path, capsys):
    (tmp_path / "h.ctm").write_text("u 1 0.0\n")
    (tmp_path / "r.stm").write_text("u 1 s 0.0 1.0 A\n")
    argv = ["score", "--hyp", str(tmp_path / "h.ctm"), "--ref", str(tmp_path / "r.stm")]
    assert cli.main(argv) == 2
    assert "row 1" in capsys.readouterr().err
