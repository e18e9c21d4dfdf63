"""The bad-input catalogue, round three (issue 21): the data and scoring readers.

Each case is an input that rounds one and two did not name, and that was accepted silently or
answered unclearly: a second feature folder, sclite's ignore regions and channels, numbers that
are not numbers, a BOM, frames of mixed sizes or with gaps given to `predict`, a variable-rate
video, a folder or a symlink loop where a file should be, an int32 weight, a form feed or
U+2028 in a row, an id that CTM reads as a comment, and a corpus of 2*10^5 rows. Every case
runs the real command line where one exists, and is refused with one line naming the file (and
row) and the cause, exit 2, or accepted with the result sclite (or a user) would give.
"""

import json
import os
import pickle
import re
import shutil
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from crkd_core.data.corpus import open_dataset
from crkd_core.deploy.sources import video_source
from crkd_core.errors import DataError
from crkd_core.scoring import score_files
from crkd_core.scoring.sclite import find_sclite, parse_dtl

from .helpers import frame_dir, write_phoenix
from .test_bad_input_data import ROWS, TRAIN_CSV, assert_refused, crkd, leftovers, train_one_epoch

# --- 1. feature folders -------------------------------------------------------------------------

SIGNWORLD_GLOSSES = [{"gloss": g} for g in ("A", "B", "C")]


def write_signworld(root: Path) -> Path:
    """A PHOENIX tree plus a minimal `signworld.json` that declares 20x20 px frames."""
    write_phoenix(root, ROWS)
    meta = {
        "format": "signworld",
        "glosses": SIGNWORLD_GLOSSES,
        "splits": {s: len(rows) for s, rows in ROWS.items()},
        "frame_size": [20, 20],
    }
    (root / "signworld.json").write_text(json.dumps(meta))
    return root


def test_signworld_reads_the_declared_feature_folder_not_the_first_by_name(tmp_path):
    root = write_signworld(tmp_path / "sw")
    other = root / "features/fullFrame-10x10px"  # sorts first; complete, with 11 frames a clip
    shutil.copytree(root / "features/fullFrame-20x20px", other)
    for clip in other.glob("*/*/1"):
        sorted(clip.iterdir())[-1].unlink()
    entries = open_dataset(root).read_split("train")
    assert all("fullFrame-20x20px" in str(e.frames[0]) for e in entries)
    assert [e.num_frames for e in entries] == [12, 12, 12]


def test_signworld_without_its_declared_folder_names_it(tmp_path):
    root = write_signworld(tmp_path / "sw")
    os.rename(root / "features/fullFrame-20x20px", root / "features/fullFrame-10x10px")
    with pytest.raises(DataError, match=r"fullFrame-20x20px: declared frame folder does not exist"):
        open_dataset(root).read_split("train")


@pytest.mark.parametrize("empty", [True, False], ids=["empty extra folder", "complete copy"])
def test_two_feature_folders_are_refused_naming_both(tmp_path, capsys, empty):
    root = write_phoenix(tmp_path / "data", ROWS)
    extra = root / "features/fullFrame-10x10px"
    if empty:
        extra.mkdir()
    else:
        shutil.copytree(root / "features/fullFrame-20x20px", extra)
    rc, _, err = crkd(capsys, "train-teacher", "--data", root, "--out", tmp_path / "run",
                      "--epochs", 1, "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert_refused(rc, err, r"features: 2 fullFrame-\*px folders \(fullFrame-10x10px, "
                            r"fullFrame-20x20px\); the frames must be in exactly one")  # fmt: skip
    assert not (tmp_path / "run").exists()


# --- 2. scoring as sclite does --------------------------------------------------------------------

IGNORE_STM = (
    "u 1 s 0.0 10.0 A B C\nu 1 s 10.0 20.0 IGNORE_TIME_SEGMENT_IN_SCORING\nv 1 s 0.0 10.0 D E F\n"
)
IGNORE_CTM = (
    "u 1 0.5 0.1 A\nu 1 1.5 0.1 B\nu 1 2.5 0.1 C\n"
    "u 1 12.0 0.1 X\nu 1 9.8 0.6 Y\n"  # both in the ignored region (Y by its middle, 10.1 s)
    "v 1 0.5 0.1 D\nv 1 1.5 0.1 E\nv 1 2.5 0.1 F\n"
)


def score(capsys, tmp_path, ctm: str | bytes, stm: str | bytes):
    hyp, ref = tmp_path / "hyp.ctm", tmp_path / "ref.stm"
    for path, text in ((hyp, ctm), (ref, stm)):
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return crkd(capsys, "score", "--hyp", hyp, "--ref", ref, "--cleaning", "none")


def test_ignore_time_segment_leaves_its_words_out(capsys, tmp_path):
    rc, out, err = score(capsys, tmp_path, IGNORE_CTM, IGNORE_STM)
    assert rc == 0, err
    assert "WER 0.00 % (S=0, D=0, I=0, N=6)" in out


def test_channel_b_is_not_scored_against_channel_1(capsys, tmp_path):
    ctm = "u 1 0.5 0.1 A\nu B 1.5 0.1 B\n"
    rc, _, err = score(capsys, tmp_path, ctm, "u 1 s 0.0 10.0 A B\n")
    assert_refused(rc, err, r"hyp\.ctm, row 2: word 'B' of 'u' is on channel 'B', but the "
                            r"reference has 'u' on channel '1' only")  # fmt: skip


@pytest.mark.parametrize(
    "line, pattern",
    [
        ("u 1 0.5 0.1 A banana", r"row 2: confidence 'banana' is not a number"),
        ("u 1 0.5 0.1 A 1.5", r"row 2: confidence '1\.5' is not in \[0, 1\]"),
        ("u 1 0.5 -7 A", r"row 2: duration '-7' is not a finite number >= 0"),
        ("u 1 nan 0.1 A", r"row 2: begin time 'nan' is not a finite number >= 0"),
        ("u 1 inf 0.1 A", r"row 2: begin time 'inf' is not a finite number >= 0"),
        ("u 1 0.5 0.1 A\fB", r"row 2: line holds the non-printable character U\+000C"),
    ],
    ids=["banana confidence", "confidence > 1", "negative duration", "nan", "inf", "form feed"],
)
def test_ctm_numbers_and_text_are_checked(capsys, tmp_path, line, pattern):
    rc, _, err = score(capsys, tmp_path, f"u 1 0.1 0.1 A\n{line}\n", "u 1 s 0.0 10.0 A A\n")
    assert_refused(rc, err, r"hyp\.ctm, " + pattern)
    assert not (tmp_path / "wer.json").exists()


@pytest.mark.parametrize(
    "stm, pattern",
    [
        ("u 1 s 5.0 1.0 A\n", r"row 1: end time 1\.0 is before begin time 5\.0"),
        ("u 1 s 0 10 A\nu 1 s 5 20 B\n", r"row 2: segment 5-20 of 'u' overlaps the one on row 1"),
        ("u 1 s 0 10 A\nu 2 s 10 20 B\n", r"row 2: id 'u' is on channel '2' here and on '1'"),
        ("u 1 s 0 inf A\n", r"row 1: end time 'inf' is not a finite number >= 0"),
    ],
    ids=["end before begin", "overlap", "two channels", "inf"],
)
def test_stm_segments_are_checked(capsys, tmp_path, stm, pattern):
    rc, _, err = score(capsys, tmp_path, "u 1 0.1 0.1 A\n", stm)
    assert_refused(rc, err, r"ref\.stm, " + pattern)


def test_bom_in_ctm_and_before_an_stm_comment(capsys, tmp_path):
    bom = "\ufeff".encode()
    stm = bom + b";; u 1 s 0.0 1.0 COMMENT WORDS\nu 1 s 0.0 10.0 A B\n"
    rc, out, err = score(capsys, tmp_path, bom + b"u 1 0.5 0.1 A\nu 1 1.5 0.1 B\n", stm)
    assert rc == 0, err
    assert "WER 0.00 % (S=0, D=0, I=0, N=2)" in out


@pytest.fixture(scope="module")
def sclite():
    command = find_sclite()
    if command is None:
        pytest.skip("sclite is not installed (Debian package `sctk`)")
    return command


# (CTM, STM): sclite's own reading of the time regions: ignored segments, a word before the
# first segment, in a gap, after the last one, and on a boundary (it goes to the later segment).
PARITY = [
    (IGNORE_CTM, IGNORE_STM),
    (
        "u 1 1 0.1 X\nu 1 5.5 0.1 A\nu 1 6.5 0.1 B\nu 1 7.5 0.1 C\nu 1 9.9 0.2 Y\n",
        "u 1 s 5.0 10.0 A B C\nu 1 s 10.0 20.0 IGNORE_TIME_SEGMENT_IN_SCORING\n",
    ),
    (
        "u 1 15 0.1 X\nu 1 21 0.1 A\nu 1 22 0.1 B\nu 1 35 0.1 C 0.5\n",
        "u 1 s 0.0 10.0 ignore_time_segment_in_scoring\nu 1 s 20.0 30.0 <o> A B C\n",
    ),
    (
        "u 1 1 0.1 A\nu 1 2 0.1 B\nu 1 15 0.1 X\nu 1 21 0.1 D\nw 1 0 0.1 Q\n",
        "u 1 s 0.0 10.0 A B C\nu 1 s 20.0 30.0 D\nw 1 s 0 5 IGNORE_TIME_SEGMENT_IN_SCORING\n"
        "z 1 s 0 5 E F\n",
    ),
]


@pytest.mark.parametrize("ctm, stm", PARITY)
def test_time_regions_match_sclite_on_the_raw_files(sclite, tmp_path, ctm, stm):
    hyp, ref = tmp_path / "hyp.ctm", tmp_path / "ref.stm"
    hyp.write_text(ctm)
    ref.write_text(stm)
    command = [*sclite, "-h", str(hyp), "ctm", "-r", str(ref), "stm", "-f", "0", "-o", "dtl",
               "stdout"]  # fmt: skip
    theirs = parse_dtl(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    ours = score_files(hyp, ref, cleaning="none")
    assert (ours.sub, ours.dele, ours.ins, ours.n_ref) == (
        theirs.sub,
        theirs.dele,
        theirs.ins,
        theirs.n_ref,
    )


def test_sclite_also_refuses_channel_b(sclite, tmp_path):
    (tmp_path / "hyp.ctm").write_text("u B 0.5 0.1 A\n")
    (tmp_path / "ref.stm").write_text("u 1 s 0.0 10.0 A\n")
    command = [*sclite, "-h", str(tmp_path / "hyp.ctm"), "ctm", "-r", str(tmp_path / "ref.stm"),
               "stm", "-f", "0", "-o", "dtl", "stdout"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "Alignment failed" in proc.stdout + proc.stderr


# --- 6, 7, 8. corpus rows: line breaks, ids CTM cannot hold, a huge corpus ----------------------


def train(capsys, root, tmp_path):
    """`crkd train-teacher` on `root`; the run folder must not be left behind on refusal."""
    out = tmp_path / "run"
    rc, _, err = crkd(capsys, "train-teacher", "--data", root, "--out", out, "--epochs", 1,
                      "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert rc != 0 or not err, err
    assert rc == 0 or not out.exists()
    return rc, err


def edit_row(root, old, new):
    path = root / TRAIN_CSV
    path.write_bytes(path.read_bytes().replace(old.encode(), new.encode()))


@pytest.mark.parametrize(
    "char, name",
    [("\f", "000C"), ("\u2028", "2028"), ("\x85", "0085"), ("\x1b", "001B"), ("\r", "000D")],
    ids=["form feed", "U+2028", "U+0085", "escape", "lone CR"],
)
def test_line_breaking_characters_in_an_annotation_name_their_row(tmp_path, capsys, char, name):
    root = write_phoenix(tmp_path / "data", ROWS)
    edit_row(root, "|B C A", f"|B C{char}A")  # row 3 (v2)
    rc, err = train(capsys, root, tmp_path)
    assert_refused(rc, err, rf"train\.corpus\.csv, row 3: row holds the non-printable "
                            rf"character U\+{name}")  # fmt: skip


def test_crlf_rows_are_still_read(tmp_path):
    root = write_phoenix(tmp_path / "data", ROWS)
    path = root / TRAIN_CSV
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert [e.glosses for e in open_dataset(root).read_split("train")][1] == ("B", "C", "A")


def test_u2028_in_a_custom_csv_names_its_row(tmp_path, capsys):
    root = tmp_path / "custom"
    write_phoenix(tmp_path / "p", ROWS)
    lines = ["id,path,signer,glosses"]
    for vid, glosses in ROWS["train"]:
        shutil.copytree(frame_dir(tmp_path / "p", "train", vid), root / vid)
        lines.append(f"{vid},{vid},S1,{glosses}")
    lines[2] = lines[2].replace("B C", "B\u2028C")
    (root / "train.csv").write_text("\n".join(lines) + "\n", "utf-8")
    rc, err = train(capsys, root, tmp_path)
    assert_refused(rc, err, r"train\.csv, row 3: row holds the non-printable character U\+2028")


@pytest.mark.parametrize(
    "vid, why",
    [
        (";;test_00000", "starts with ';;', which CTM and STM files read as a comment"),
        ("v\u200e9", "holds a non-printable character"),
    ],
    ids=["comment id", "format character"],
)
def test_ids_that_ctm_cannot_hold_are_refused_at_read_time(tmp_path, capsys, vid, why):
    root = write_phoenix(tmp_path / "data", ROWS)
    edit_row(root, "\nv2|", f"\n{vid}|")
    rc, err = train(capsys, root, tmp_path)
    pattern = rf"row 3: id {re.escape(repr(vid))} {re.escape(why)}, so it cannot be written to a"
    assert_refused(rc, err, r"train\.corpus\.csv, " + pattern + " CTM/STM file")


@pytest.mark.parametrize(
    "cell", ["../../../../etc", "/etc", "v1/../../.."], ids=["dotdot", "absolute", "climbs out"]
)
def test_a_frame_folder_outside_the_features_folder_is_refused(tmp_path, capsys, cell):
    root = write_phoenix(tmp_path / "data", ROWS)
    edit_row(root, "v2|v2/1/*.png|", f"v2|{cell}|")
    rc, err = train(capsys, root, tmp_path)
    assert_refused(rc, err, rf"train\.corpus\.csv, row 3: folder '{cell}' is empty or leaves")


HUGE = 200_000


@pytest.mark.slow
def test_a_huge_corpus_fails_fast_naming_the_corpus_and_row(tmp_path, capsys):
    """2*10^5 rows that all name one frame folder: refused in seconds, before any listing."""
    root = write_phoenix(tmp_path / "data", ROWS)
    rows = "".join(f"x{i}|v1/1/*.png|S1|A B\n" for i in range(HUGE))
    (root / TRAIN_CSV).write_text("id|folder|signer|annotation\n" + rows)
    start = time.perf_counter()
    rc, err = train(capsys, root, tmp_path)
    assert time.perf_counter() - start < 5
    assert_refused(rc, err, r"train\.corpus\.csv, row 3: frame folder .*v1/1 is also the "
                            r"folder of row 2")  # fmt: skip


@pytest.mark.slow
def test_a_signworld_corpus_grown_by_rows_fails_before_any_frame_is_read(tmp_path, capsys):
    root = write_signworld(tmp_path / "sw")
    path = root / TRAIN_CSV
    rows = "".join(f"x{i}|x{i}/1/*.png|S1|A B\n" for i in range(HUGE))
    path.write_text(path.read_text() + rows)
    start = time.perf_counter()
    rc, err = train(capsys, root, tmp_path)
    assert time.perf_counter() - start < 5
    assert_refused(rc, err, rf"train\.corpus\.csv: {HUGE + 3} rows, but .*signworld\.json "
                            r"records 3 videos drawn for 'train'")  # fmt: skip


# --- 4. a folder or a symlink loop where a frame or a video should be ----------------------------


def test_a_folder_where_a_frame_should_be(tmp_path, capsys):
    root = write_phoenix(tmp_path / "data", ROWS)
    frame = sorted(frame_dir(root, "train", "v2").iterdir())[4]
    frame.unlink()
    frame.mkdir()
    rc, err = train(capsys, root, tmp_path)
    assert_refused(rc, err, rf"train\.corpus\.csv, row 3: frame .*{frame.name} is a folder, "
                            r"not an image file")  # fmt: skip


def test_a_symlink_loop_where_a_frame_should_be(tmp_path, capsys):
    root = write_phoenix(tmp_path / "data", ROWS)
    frame = sorted(frame_dir(root, "train", "v2").iterdir())[4]
    frame.unlink()
    os.symlink(frame.name, frame)  # points at itself
    rc, err = train(capsys, root, tmp_path)
    assert_refused(rc, err, rf"row 3: frame .*{frame.name} is a symlink loop, not an image file")


def test_a_symlink_loop_as_a_frame_folder(tmp_path, capsys):
    root = write_phoenix(tmp_path / "data", ROWS)
    folder = frame_dir(root, "train", "v2")
    shutil.rmtree(folder)
    os.symlink(folder.name, folder)
    rc, err = train(capsys, root, tmp_path)
    assert_refused(rc, err, r"train\.corpus\.csv, row 3: frame folder .*v2/1 is a symlink loop")


def custom_with_video(tmp_path, make) -> Path:
    root = write_phoenix(tmp_path / "p", ROWS)
    custom = tmp_path / "custom"
    custom.mkdir()
    lines = ["id,path,signer,glosses"]
    for vid, glosses in ROWS["train"]:
        shutil.copytree(frame_dir(root, "train", vid), custom / vid)
        lines.append(f"{vid},{vid},S1,{glosses}")
    make(custom / "v4.mp4")
    lines.append("v4,v4.mp4,S1,A B")
    (custom / "train.csv").write_text("\n".join(lines) + "\n")
    return custom


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda p: os.symlink(p.name, p), r"video file .*v4\.mp4 is a symlink loop"),
        (lambda p: write_audio_only(p), r"video .*v4\.mp4: file holds no video stream"),
    ],
    ids=["symlink loop", "no video stream"],
)
def test_custom_csv_video_that_is_not_one(tmp_path, capsys, make, pattern):
    rc, err = train(capsys, custom_with_video(tmp_path, make), tmp_path)
    assert_refused(rc, err, r"train\.csv, row 5: " + pattern)


# --- 3, 4, 5. predict on frames and videos, and a checkpoint's dtypes -----------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real teacher run (1 epoch on 3 clips), shared by the cases below."""
    return train_one_epoch(tmp_path_factory.mktemp("readers"))


def predict(capsys, run, *source):
    return crkd(capsys, "predict", "--run", run, "--threads", 1, *source)


def test_predict_frames_of_mixed_sizes_are_refused(trained, tmp_path, capsys):
    data, run = trained
    clip = shutil.copytree(frame_dir(data, "train", "v1"), tmp_path / "clip")
    odd = sorted(clip.iterdir())[5]
    Image.new("RGB", (24, 20), (9, 9, 9)).save(odd)
    rc, _, err = predict(capsys, run, "--frames", clip)
    assert_refused(rc, err, rf"{odd.name}: frame is 24x20, the folder's first frame is 20x20")


def test_predict_frames_with_ten_missing_are_refused(trained, tmp_path, capsys):
    data, run = trained
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in [*range(5), *range(15, 22)]:  # 10 frames gone between fn000004 and fn000015
        Image.new("RGB", (20, 20), (i, i, i)).save(clip / f"c_fn{i:06d}-0.png")
    rc, _, err = predict(capsys, run, "--frames", clip)
    assert_refused(rc, err, r"clip: 10 frame\(s\) missing between c_fn000004-0\.png and "
                            r"c_fn000015-0\.png")  # fmt: skip


def test_predict_a_folder_in_place_of_a_frame(trained, tmp_path, capsys):
    data, run = trained
    clip = shutil.copytree(frame_dir(data, "train", "v1"), tmp_path / "clip")
    frame = sorted(clip.iterdir())[3]
    frame.unlink()
    frame.mkdir()
    rc, _, err = predict(capsys, run, "--frames", clip)
    assert_refused(rc, err, rf"clip: frame .*{frame.name} is a folder, not an image file")


@pytest.mark.parametrize("kind", ["folder", "symlink loop"])
def test_predict_video_that_is_a_folder_or_a_loop(trained, tmp_path, capsys, kind):
    _, run = trained
    video = tmp_path / "clip.mp4"
    video.mkdir() if kind == "folder" else os.symlink(video.name, video)
    rc, _, err = predict(capsys, run, "--video", video)
    assert_refused(rc, err, rf"clip\.mp4: video file is a {kind}, not a video")


def write_audio_only(path: Path) -> Path:
    """An mp4 with one AAC audio stream and no video stream."""
    import av

    with av.open(str(path), "w") as c:
        stream = c.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            c.mux(packet)
    return path


def test_predict_mp4_without_a_video_stream(trained, tmp_path, capsys):
    _, run = trained
    rc, _, err = predict(capsys, run, "--video", write_audio_only(tmp_path / "audio.mp4"))
    assert_refused(rc, err, r"audio\.mp4: file holds no video stream")
    assert "tuple index" not in err


# A variable-rate clip: 11 frames 30 ms apart (0.00-0.30 s), then 19 frames 1 s apart.
VFR_TIMES = [0.03 * i for i in range(11)] + [0.30 + i for i in range(1, 20)]


def write_vfr_video(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        stream = c.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 20, 20, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(VFR_TIMES):
            frame = av.VideoFrame.from_ndarray(np.full((20, 20, 3), 8 * i, np.uint8), "rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path


def test_variable_rate_video_times_come_from_timestamps(tmp_path):
    src = video_source(write_vfr_video(tmp_path / "vfr.mp4"), 16)
    assert len(list(src.frames)) == len(VFR_TIMES)
    assert 10 / src.fps > 5  # the average rate puts frame 10 past 5 s
    assert [round(src.seconds(i, src.fps), 3) for i in (0, 5, 10, 11)] == [0.0, 0.15, 0.3, 1.3]
    assert src.seconds(len(VFR_TIMES), src.fps) > VFR_TIMES[-1]


def test_predict_prints_the_timestamps_of_a_variable_rate_video(trained, tmp_path, capsys):
    _, run = trained
    rc, out, err = predict(capsys, run, "--video", write_vfr_video(tmp_path / "vfr.mp4"))
    assert rc == 0, err
    starts = [float(line.split()[0]) for line in out.splitlines() if " s  " in line]
    assert set(starts) <= {round(t, 2) for t in VFR_TIMES}, out  # not frame / average rate


def test_format_span_uses_the_frame_timestamps(tmp_path):
    from crkd_core.data.vocab import Vocab
    from crkd_core.decode import GlossSpan
    from crkd_core.deploy.predict import format_span

    src = video_source(write_vfr_video(tmp_path / "vfr.mp4"), 16)
    list(src.frames)
    line = format_span(GlossSpan(1, 0, 11, 0.9), Vocab.from_glosses(["A"]), src.fps, src)
    assert line.split()[:3] == ["0.00", "-", "1.30"]


def test_explicit_fps_overrides_the_timestamps(tmp_path):
    from crkd_core.deploy.sources import open_source

    src = open_source(16, video=write_vfr_video(tmp_path / "vfr.mp4"), fps=10.0)
    list(src.frames)
    assert src.seconds(10, 10.0) == 1.0


def test_int32_conv_weights_are_refused_naming_the_tensor(trained, tmp_path, capsys):
    data, run = trained
    run = shutil.copytree(run, tmp_path / "run")
    path = run / "checkpoint.safetensors"
    state = load_file(str(path))
    key = next(k for k, v in state.items() if v.ndim == 4 and v.is_floating_point())
    state[key] = state[key].round().to(dtype=torch.int32)
    save_file(state, str(path))
    rc, _, err = crkd(capsys, "evaluate", "--run", run, "--data", data, "--split", "dev",
                      "--threads", 1, "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert_refused(rc, err, rf"checkpoint\.safetensors: weights do not fit the network in the "
                            rf"meta: 1 tensors have another dtype \(first '{key}': int32 in the "
                            r"file, float32 in the network\)")  # fmt: skip
    assert not leftovers(run)


# --- audit: cheap gaps of other readers ---------------------------------------------------------


def test_a_frame_cache_index_whose_spans_overlap_is_decoded_again(tmp_path):
    """A cache index with swapped or overlapping spans would serve other clips' frames."""
    from crkd_core.data.frames import load_store

    entries = open_dataset(write_phoenix(tmp_path / "data", ROWS)).read_split("train")
    cache = tmp_path / "cache"
    good = load_store(entries, 8, cache, "t")
    meta = next(cache.glob("*.json"))
    index = json.loads(meta.read_text())
    index["v2"] = index["v1"]  # two clips on the same frames
    meta.write_text(json.dumps(index))
    with pytest.warns(UserWarning, match=r"frame cache does not fit the corpus"):
        again = load_store(entries, 8, cache, "t")
    assert again.index == good.index


def test_csl_daily_pickle_gloss_with_a_space_is_refused(tmp_path):
    from .test_layouts import write_csl_daily

    root = write_csl_daily(tmp_path, labels="pickle")
    pkl = root / "sentence_label/csl2020ct_v2.pkl"
    data = pickle.loads(pkl.read_bytes())
    data["info"][1]["label_gloss"] = ["你", "好 吗"]
    pkl.write_bytes(pickle.dumps(data))
    with pytest.raises(DataError, match=r"csl2020ct_v2\.pkl, row info\[1\]: name or gloss '好 吗'"):
        open_dataset(root).read_split("train")


def test_predict_with_a_file_that_is_not_onnx_names_it(trained, tmp_path, capsys):
    data, run = trained
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(bytes(range(256)) * 2)
    rc, _, err = predict(capsys, run, "--frames", frame_dir(data, "train", "v1"), "--onnx", onnx)
    assert_refused(rc, err, r"model\.onnx: not a readable ONNX file")


@pytest.mark.parametrize(
    "segs",
    [[["A", 5, 2]], [["A", -1, 2]], [["A", 0.5, 2]], [["A\x1b", 0, 2]]],
    ids=["end before start", "negative", "not whole", "control character"],
)
def test_signworld_gloss_timings_are_checked(tmp_path, segs):
    from crkd_core.data.synthetic import read_timings

    (tmp_path / "timings").mkdir()
    (tmp_path / "timings/test.json").write_text(json.dumps({"v5": segs}))
    with pytest.raises(DataError, match=r"test\.json: video 'v5': gloss timing .* is not"):
        read_timings(tmp_path, "test")


def test_signworld_frame_size_must_be_two_whole_pixels(tmp_path):
    root = write_signworld(tmp_path / "sw")
    meta = json.loads((root / "signworld.json").read_text())
    meta["frame_size"] = [20, "../x"]
    (root / "signworld.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"signworld\.json: frame_size \[20, '\.\./x'\] is not"):
        open_dataset(root).read_split("train")
