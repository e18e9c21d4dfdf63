"""The bad-input catalogue, round two (issue 15): data, videos, scoring, checkpoints, synth, CLI.

Every case runs the real `crkd` command line in-process (`crkd_core.cli.main`) on a small valid
input with one defect. It checks the exit code, that stderr holds no traceback, that the last
line names the file (and the row, where there is one) and the cause, and that nothing
half-written is left: no run folder, no output file, no temporary file. The frame-cache and
checkpoint-loading cases that have no command of their own call the library function that every
command goes through. `tests/test_bad_input.py` holds round one.
"""

import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file, save_file

from crkd_core.checkpoint import load_model
from crkd_core.cli import main
from crkd_core.data.corpus import open_dataset
from crkd_core.data.frames import load_store
from crkd_core.data.signworld.staging import target_lock
from crkd_core.errors import CheckpointError

from .helpers import frame_dir, write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A")],
    "dev": [("v4", "A C")],
    "test": [("v5", "B")],
}
TRAIN_CSV = "annotations/manual/train.corpus.csv"


def crkd(capsys, *argv):
    """Run `crkd argv...` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_refused(rc, err, pattern, code=2):
    assert rc == code, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("crkd ") and ": error: " in last, last
    assert re.search(pattern, last), f"{pattern!r} not in {last!r}"


def leftovers(folder: Path) -> list[str]:
    """Temporary files that an interrupted atomic write would leave."""
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


# --- datasets: PHOENIX layout -----------------------------------------------------------------


def corpus_text(root):
    return (root / TRAIN_CSV).read_text()


def set_corpus(root, text):
    (root / TRAIN_CSV).write_text(text)


def drop_frame(root, vid, index):
    sorted(frame_dir(root, "train", vid).iterdir())[index].unlink()


def duplicate_frame(root, vid):
    d = frame_dir(root, "train", vid)
    shutil.copy(d / f"{vid}_fn000004-0.png", d / f"{vid}_fn4-0.png")  # fn4 == fn000004


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def bomb_frame(root, vid):
    png_header_only(sorted(frame_dir(root, "train", vid).iterdir())[3], 40000, 40000)


PHOENIX_CASES = [
    # (id, mutation, pattern naming file/row and cause)
    (
        "id with a space",
        lambda r: set_corpus(r, corpus_text(r).replace("\nv2|", "\nv 2|")),
        r"train\.corpus\.csv, row 3: id 'v 2' is empty or holds whitespace",
    ),
    (
        "id with a tab",
        lambda r: set_corpus(r, corpus_text(r).replace("\nv3|", "\nv\t3|")),
        r"train\.corpus\.csv, row 4: id 'v\\t3' is empty or holds whitespace",
    ),
    (
        "missing frame in the middle of a clip",
        lambda r: drop_frame(r, "v2", 5),
        r"train\.corpus\.csv, row 3: frame folder .*v2/1: 1 frame\(s\) missing between "
        r"v2_fn000004-0\.png and v2_fn000006-0\.png",
    ),
    (
        "three frames missing",
        lambda r: [drop_frame(r, "v1", 4) for _ in range(3)],
        r"train\.corpus\.csv, row 2: .*3 frame\(s\) missing between v1_fn000003-0\.png and "
        r"v1_fn000007-0\.png",
    ),
    (
        "two frames with one number",
        lambda r: duplicate_frame(r, "v3"),
        r"train\.corpus\.csv, row 4: .*v3_fn0*4-0\.png and v3_fn0*4-0\.png share one frame number",
    ),
    (
        "corpus separated by commas",
        lambda r: set_corpus(r, corpus_text(r).replace("|", ",")),
        r"train\.corpus\.csv, row 1: wrong header .*separated by commas; the fields must be "
        r"separated by '\|'",
    ),
    (
        "decompression-bomb frame",
        lambda r: bomb_frame(r, "v2"),
        r"v2_fn000003-0\.png: image too large, refused as a possible decompression bomb .*row 3",
    ),
]


@pytest.mark.parametrize("case,mutate,pattern", PHOENIX_CASES, ids=[c[0] for c in PHOENIX_CASES])
def test_bad_phoenix_data(tmp_path, capsys, case, mutate, pattern):
    data = write_phoenix(tmp_path / "data", ROWS)
    mutate(data)
    out = tmp_path / "run"
    rc, _, err = crkd(
        capsys, "train-teacher", "--data", data, "--out", out, "--epochs", 1, "--threads", 1,
        "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert_refused(rc, err, pattern)
    assert not out.exists(), "a refused start must not leave a run folder"


@pytest.mark.slow  # starts a DataLoader worker process
def test_error_in_a_dataloader_worker_keeps_its_message(tmp_path, capsys):
    """Frames decoded on demand by a worker process: torch re-raises there as type(text)."""
    data = write_phoenix(tmp_path / "data", ROWS)
    sorted(frame_dir(data, "train", "v2").iterdir())[3].write_bytes(b"not a png")
    out = tmp_path / "run"
    rc, _, err = crkd(
        capsys, "train-teacher", "--data", data, "--out", out, "--epochs", 1, "--threads", 1,
        "--frame-cache", "none", "--num-workers", 1,
    )  # fmt: skip
    assert_refused(rc, err, r"v2_fn000003-0\.png: unreadable or truncated image .*row 3")
    assert "Original Traceback" not in err and not (out / "checkpoint.safetensors").exists()


# --- datasets: SignWorld's recorded frame counts ------------------------------------------------


def last_frame(root: Path, vid: str) -> Path:
    return sorted(next(root.glob(f"features/*/train/{vid}/1")).iterdir())[-1]


SIGNWORLD_CASES = [
    (
        "missing last frame of a clip",
        lambda r: last_frame(r, "train_00003").unlink(),
        r"signworld\.json: split 'train' has (\d+) frames on disk but \d+ were drawn",
    ),
    (
        "extra frame after a clip",
        lambda r: shutil.copy(
            last_frame(r, "train_00001"),
            last_frame(r, "train_00001").with_name("train_00001_fn000999-0.png"),
        ),
        r"train\.corpus\.csv, row 3: frame folder .*train_00001/1: \d+ frame\(s\) missing between",
    ),
    (
        "missing middle frame of a SignWorld clip",
        lambda r: sorted(next(r.glob("features/*/train/train_00002/1")).iterdir())[7].unlink(),
        r"train\.corpus\.csv, row 4: frame folder .*train_00002/1: 1 frame\(s\) missing between "
        r"train_00002_fn000006-0\.png and train_00002_fn000008-0\.png",
    ),
]


@pytest.mark.parametrize(
    "case,mutate,pattern", SIGNWORLD_CASES, ids=[c[0] for c in SIGNWORLD_CASES]
)
def test_signworld_frames_against_recorded_counts(
    smoke_data, tmp_path, capsys, case, mutate, pattern
):
    data = shutil.copytree(smoke_data, tmp_path / "data", ignore=shutil.ignore_patterns(".crkd*"))
    mutate(data)
    out = tmp_path / "run"
    rc, _, err = crkd(
        capsys, "train-teacher", "--data", data, "--out", out, "--epochs", 1, "--threads", 1,
        "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert_refused(rc, err, pattern)
    assert not out.exists()


# --- datasets: custom CSV and video files -------------------------------------------------------


def write_video(path: Path, n: int = 40, size: int = 16, options=None) -> Path:
    av = pytest.importorskip("av")
    with av.open(str(path), "w", options=options or {}) as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = size, size, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 5 * i, np.uint8), "rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def write_custom(root: Path, sep: str = ",", media: str = "mp4", ids=("a", "b", "c")) -> Path:
    """A custom-CSV dataset whose videos are files of the `media` container."""
    root.mkdir(parents=True)
    opts = {"movflags": "faststart"} if media == "mp4" else None
    for split, glosses in (("train", ["A B", "B C", "C A"]), ("dev", ["A C"]), ("test", ["B"])):
        lines = [sep.join(["id", "path", "signer", "glosses"])]
        for i, g in enumerate(glosses):
            vid = f"{split}_{ids[i]}"
            write_video(root / f"{vid}.{media}", options=opts)
            lines.append(sep.join([vid, f"{vid}.{media}", "S1", g]))
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root


CUSTOM_CASES = [
    # (id, builder(tmp) -> root, extra args, pattern)
    (
        "custom CSV separated by semicolons",
        lambda t: write_custom(t / "d", sep=";"),
        [],
        r"train\.csv, row 1: header 'id;path;signer;glosses' is not the custom layout's "
        r"'id,path,signer,glosses' \(this header is separated by semicolons; the fields must be "
        r"separated by ','\)",
    ),
    (
        "custom CSV separated by semicolons, --dataset custom",
        lambda t: write_custom(t / "d", sep=";"),
        ["--dataset", "custom"],
        r"train\.csv, row 1: wrong header 'id;path;signer;glosses'; expected "
        r"'id,path,signer,glosses' \(this header is separated by semicolons",
    ),
    (
        "custom CSV separated by tabs",
        lambda t: write_custom(t / "d", sep="\t"),
        [],
        r"train\.csv, row 1: .*separated by tabs",
    ),
    (
        "custom CSV id with a space",
        lambda t: write_custom(t / "d", ids=("a", "b b", "c")),
        [],
        r"train\.csv, row 3: id 'train_b b' is empty or holds whitespace",
    ),
    (
        "truncated mkv",
        lambda t: (cut(write_custom(t / "d", media="mkv") / "train_b.mkv", 0.5), t / "d")[1],
        [],
        r"train_b\.mkv, row 3: video decodes to \d+ frames but its container declares 40 "
        r"\(its duration 1\.60 s at 25 frames/s\): the file is truncated or damaged "
        r"\(listed in .*train\.csv\)",
    ),
    (
        "truncated mp4",
        lambda t: (cut(write_custom(t / "d") / "train_c.mp4", 0.8), t / "d")[1],
        [],
        r"train_c\.mp4, row 4: video decodes to \d+ frames but its container declares 40 "
        r"\(its frame count\): the file is truncated or damaged",
    ),
    (
        "mp4 cut before its first frame",
        lambda t: (cut(write_custom(t / "d") / "train_a.mp4", 0.3), t / "d")[1],
        [],
        r"train\.csv, row 2: video .*train_a\.mp4: cannot (open|decode) video",
    ),
]


@pytest.mark.parametrize("case,build,extra,pattern", CUSTOM_CASES, ids=[c[0] for c in CUSTOM_CASES])
def test_bad_custom_data(tmp_path, capsys, case, build, extra, pattern):
    data = build(tmp_path)
    out = tmp_path / "run"
    rc, _, err = crkd(
        capsys, "train-teacher", "--data", data, "--out", out, "--epochs", 1, "--threads", 1,
        "--cache-dir", tmp_path / "cache", *extra,
    )  # fmt: skip
    assert_refused(rc, err, pattern)
    assert not out.exists()
    assert not list((tmp_path / "cache").glob("*.npy")) if (tmp_path / "cache").exists() else True


# --- the decoded-frame cache ------------------------------------------------------------------


def split_entries(root):
    return open_dataset(root).read_split("train")


def rewrite_frame(path: Path, keep_mtime: bool) -> None:
    st = path.stat()
    px = np.asarray(Image.open(path)).copy()
    px[0, 0] = 255 - px[0, 0]  # one pixel: same dimensions, (almost surely) same file size
    Image.fromarray(px).save(path)
    if keep_mtime:  # as `cp -p`, `rsync -t` or `touch -r` would leave it
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["new mtime", "mtime restored"])
def test_stale_frame_cache_is_not_used(tmp_path, keep_mtime):
    """A frame in the middle of a clip changes, same frame count: the cache must not be used."""
    data = write_phoenix(tmp_path / "data", ROWS)
    cache = tmp_path / "cache"
    first = load_store(split_entries(data), 20, cache, "t")
    frame = sorted(frame_dir(data, "train", "v2").iterdir())[6]
    rewrite_frame(frame, keep_mtime)
    again = load_store(split_entries(data), 20, cache, "t")
    start, _ = again.index["v2"]
    assert not np.array_equal(np.asarray(first.frames), np.asarray(again.frames))
    assert np.array_equal(again.frames[start + 6], np.asarray(Image.open(frame)))
    assert len(list(cache.glob("*.npy"))) == 2 and not leftovers(cache)


def test_damaged_frame_cache_is_decoded_again(tmp_path):
    data = write_phoenix(tmp_path / "data", ROWS)
    cache = tmp_path / "cache"
    good = np.asarray(load_store(split_entries(data), 20, cache, "t").frames).copy()
    npy = next(cache.glob("*.npy"))
    npy.write_bytes(npy.read_bytes()[:200])
    with pytest.warns(UserWarning, match=r"frame cache is damaged"):
        again = load_store(split_entries(data), 20, cache, "t")
    assert np.array_equal(np.asarray(again.frames), good)


# --- crkd score --------------------------------------------------------------------------------

CTM = "u1 1 0.000 0.010 A\nu1 1 0.010 0.010 B\n"
STM = "u1 1 signer 0.0 1.79769e+308 A B C\n"

SCORE_CASES = [
    # (id, hyp text, ref text, extra args, which file the message names, pattern)
    ("empty hypothesis and reference", "", "", [], "ref", r"holds no reference utterance"),
    (
        "reference of comments only",
        "",
        ";; a comment\n;; another\n",
        [],
        "ref",
        r"holds no reference utterance \(empty, or comments only\)",
    ),
    (
        "reference emptied by the cleaning",
        "",
        "u1 1 signer 0.0 1.0 __ON__ __OFF__\n",
        ["--cleaning", "phoenix2014t"],
        "ref",
        r"hold no reference word \(after cleaning 'phoenix2014t'\): WER is undefined when N = 0",
    ),
    (
        "hypothesis and reference swapped",
        STM,
        CTM,
        [],
        "ref",
        r", row 1: end time 'A' is not a number",
    ),
    (
        "reference with too few fields",
        CTM,
        "u1 1 signer 0.0\n",
        [],
        "ref",
        r", row 1: expected '<id> <channel> <speaker> <begin> <end> <words>\.\.\.', got 4",
    ),
    (
        "hypothesis line with 7 fields",
        CTM + "u1 1 0.020 0.010 C 0.9 extra\n",
        STM,
        [],
        "hyp",
        r", row 3: expected '<id> <channel> <begin> <dur> <word> \[<conf>\]', got 7 fields",
    ),
    (
        "time that is not a number",
        CTM.replace("0.010 0.010", "0.010 abc"),
        STM,
        [],
        "hyp",
        r", row 2: duration 'abc' is not a number",
    ),
    (
        "hypothesis id missing from the reference",
        CTM.replace("u1", "u9"),
        STM,
        [],
        "hyp",
        r"1 hypothesis ids are not in the reference: u9",
    ),
    (
        "hypothesis not UTF-8",
        CTM.replace("A", "\xc4").encode("latin-1"),
        STM,
        [],
        "hyp",
        r"cannot read: 'utf-8' codec can't decode",
    ),
]


@pytest.mark.parametrize(
    "case,hyp,ref,extra,named,pattern", SCORE_CASES, ids=[c[0] for c in SCORE_CASES]
)
def test_bad_score_input(tmp_path, capsys, case, hyp, ref, extra, named, pattern):
    files = {"hyp": tmp_path / "hyp.ctm", "ref": tmp_path / "ref.stm"}
    for path, text in ((files["hyp"], hyp), (files["ref"], ref)):
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "wer.json"
    rc, stdout, err = crkd(
        capsys, "score", "--hyp", files["hyp"], "--ref", files["ref"], "--json", out, *extra
    )
    assert_refused(rc, err, re.escape(str(files[named])) + ".*" + pattern)
    assert "WER" not in stdout and not out.exists()


def test_score_of_a_folder_and_into_a_folder(tmp_path, capsys):
    (tmp_path / "hyp.ctm").write_text(CTM)
    (tmp_path / "ref.stm").write_text(STM)
    rc, _, err = crkd(capsys, "score", "--hyp", tmp_path, "--ref", tmp_path / "ref.stm")
    assert_refused(rc, err, re.escape(str(tmp_path)) + r": cannot read: .*Is a directory")
    rc, _, err = crkd(
        capsys, "score", "--hyp", tmp_path / "hyp.ctm", "--ref", tmp_path / "ref.stm",
        "--json", tmp_path,
    )  # fmt: skip
    assert_refused(rc, err, re.escape(str(tmp_path)) + r": is a folder, not a file")
    assert not leftovers(tmp_path)


def test_score_json_below_a_file(tmp_path, capsys):
    (tmp_path / "hyp.ctm").write_text(CTM)
    (tmp_path / "ref.stm").write_text(STM)
    (tmp_path / "f").write_text("x")
    rc, out, err = crkd(
        capsys, "score", "--hyp", tmp_path / "hyp.ctm", "--ref", tmp_path / "ref.stm",
        "--json", tmp_path / "f" / "wer.json",
    )  # fmt: skip
    assert_refused(rc, err, re.escape(str(tmp_path / "f")) + r": is a file, not a folder")
    assert "WER" not in out, "no success line when the JSON cannot be written"


def test_gloss_shaped_like_a_label_survives_the_stm(tmp_path, capsys):
    """`crkd evaluate` writes refs with write_stm; `crkd score` must count every gloss of them."""
    from crkd_core.scoring import write_ctm, write_stm

    refs = {"u1": ["<script>", "A", "B"], "u2": ["<b>"], "u3": ["C"]}
    write_stm(tmp_path / "ref.stm", refs)
    write_ctm(tmp_path / "hyp.ctm", refs)
    rc, out, err = crkd(
        capsys, "score", "--hyp", tmp_path / "hyp.ctm", "--ref", tmp_path / "ref.stm",
        "--cleaning", "none",
    )  # fmt: skip
    assert rc == 0, err
    assert "WER 0.00 % (S=0, D=0, I=0, N=5)" in out


# --- checkpoints: one real teacher run (1 epoch), copied and damaged per case -------------------


def train_one_epoch(root: Path) -> tuple[Path, Path]:
    """(data, a 1-epoch teacher run on its 3 clips) under `root`: the catalogue's real run."""
    data = write_phoenix(root / "data", ROWS)
    argv = ["train-teacher", "--data", data, "--out", root / "teacher", "--epochs", 1,
            "--threads", 1, "--cache-dir", root / "cache"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return data, root / "teacher"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_one_epoch(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def run_copy(trained, tmp_path):
    """A copy of the trained teacher run, for one case to damage."""
    return shutil.copytree(trained[1], tmp_path / "run")


def edit_meta(run, change):
    meta = json.loads((run / "checkpoint.json").read_text())
    change(meta)
    (run / "checkpoint.json").write_text(json.dumps(meta))


def poison_weights(run, value):
    path = run / "checkpoint.safetensors"
    state = load_file(str(path))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[key].view(-1)[3] = value
    save_file(state, str(path))


CHECKPOINT_CASES = [
    (
        "meta without its vocabulary",
        lambda r: edit_meta(r, lambda m: m.pop("vocab")),
        r"checkpoint\.json: checkpoint meta has no 'vocab' key",
    ),
    (
        "meta without its network",
        lambda r: edit_meta(r, lambda m: m.pop("net")),
        r"checkpoint\.json: checkpoint meta has no 'net' key",
    ),
    (
        "num_classes of the wrong type",
        lambda r: edit_meta(r, lambda m: m.update(num_classes="4")),
        r"checkpoint\.json: checkpoint meta 'num_classes' is str, expected int",
    ),
    (
        "input_size true",
        lambda r: edit_meta(r, lambda m: m.update(input_size=True)),
        r"checkpoint\.json: checkpoint meta 'input_size' is bool, expected int",
    ),
    (
        "vocabulary shorter than the classifier",
        lambda r: edit_meta(r, lambda m: m["vocab"]["tokens"].pop()),
        r"checkpoint\.json: the vocabulary has 3 tokens but the classifier has 4 classes",
    ),
    (
        "vocabulary with a duplicate",
        lambda r: edit_meta(r, lambda m: m["vocab"]["tokens"].__setitem__(2, "A")),
        r"checkpoint\.json: checkpoint vocabulary is unusable: duplicate glosses",
    ),
    (
        "vocabulary and classes both edited",
        lambda r: edit_meta(
            r, lambda m: (m["vocab"]["tokens"].append("D"), m.update(num_classes=5))
        ),
        r"checkpoint\.safetensors: weights do not fit the network in the meta",
    ),
    (
        "network config of the wrong shape",
        lambda r: edit_meta(r, lambda m: m["net"].pop("trunk")),
        r"checkpoint\.json: meta does not describe a network",
    ),
    (
        "unknown role",
        lambda r: edit_meta(r, lambda m: m.update(role="coach")),
        r"checkpoint\.json: checkpoint meta role 'coach' .* is not one of teacher, student",
    ),
    (
        "view spec of the wrong type",
        lambda r: edit_meta(r, lambda m: m["view"].update(pre_size="big")),
        r"checkpoint\.json: checkpoint view spec is unusable",
    ),
    (
        "weights holding NaN",
        lambda r: poison_weights(r, float("nan")),
        r"checkpoint\.safetensors: tensor '.*' holds 1 NaN or Inf values .*the model is broken",
    ),
    (
        "weights holding Inf",
        lambda r: poison_weights(r, float("-inf")),
        r"checkpoint\.safetensors: tensor '.*' holds 1 NaN or Inf values",
    ),
    (
        "metrics.json that is not JSON",
        lambda r: (r / "metrics.json").write_text('{"complete": tru'),
        r"metrics\.json: not valid JSON \(.*\); the file is damaged",
    ),
]


def digest(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize(
    "case,mutate,pattern", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES]
)
def test_bad_checkpoint_is_refused_by_evaluate(trained, run_copy, tmp_path, capsys, case, mutate,
                                                pattern):  # fmt: skip
    data = trained[0]
    mutate(run_copy)
    before = digest(run_copy)
    rc, _, err = crkd(
        capsys, "evaluate", "--run", run_copy, "--data", data, "--split", "dev",
        "--threads", 1, "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert_refused(rc, err, pattern)
    assert digest(run_copy) == before, "a refused evaluation must not write into the run"


def test_run_copy_itself_evaluates(trained, run_copy, tmp_path, capsys):
    """The control of the cases above: the untouched copy is accepted."""
    data = trained[0]
    rc, _, err = crkd(
        capsys, "evaluate", "--run", run_copy, "--data", data, "--split", "dev",
        "--threads", 1, "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert rc == 0, err


def test_load_model_refuses_the_wrong_role(run_copy):
    assert load_model(run_copy, expect_role="teacher")[1]["role"] == "teacher"
    with pytest.raises(
        CheckpointError, match=r"checkpoint\.json: this is a teacher run, but a student run"
    ):
        load_model(run_copy, expect_role="student")


# --- crkd synth ---------------------------------------------------------------------------------


def synth(capsys, out, *extra):
    return crkd(capsys, "synth", "--out", out, "--profile", "smoke", *extra)


def test_second_synth_into_the_same_folder_fails(tmp_path, capsys):
    out = tmp_path / "sw"
    with target_lock(out):  # as a first `crkd synth` still drawing holds it
        rc, stdout, err = synth(capsys, out)
    assert_refused(rc, err, re.escape(str(out)) + r": another `crkd synth` \(pid \d+\) is drawing")
    assert "SignWorld ->" not in stdout and not out.exists()
    assert not list(tmp_path.glob(".sw.*")), "the lock file is removed with the lock"


def test_interrupted_synth_leftovers_are_reported_and_removed(tmp_path, capsys):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "keep.txt").write_text("a file: the folder is not empty, so this run is refused")
    partial = tmp_path / ".sw.partial-0badf00d"
    (partial / "features").mkdir(parents=True)
    old = tmp_path / ".sw.old-12345678"
    old.mkdir()
    rc, _, err = synth(capsys, out)
    assert f"removed {partial}, the partial dataset of an interrupted `crkd synth`" in err
    assert f"removed {old}, a replaced dataset" in err
    assert_refused(rc, err, r"sw: output folder is not empty; pass --force")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sw"]


def test_synth_killed_mid_swap_restores_the_old_dataset(tmp_path, capsys):
    out = tmp_path / "sw"
    old = tmp_path / ".sw.old-12345678"
    old.mkdir()
    (old / "signworld.json").write_text("{}")
    rc, _, err = synth(capsys, out)
    assert f"restored {out} from {old.name}" in err
    assert_refused(rc, err, r"sw: output folder is not empty; pass --force")
    assert (out / "signworld.json").read_text() == "{}" and not old.exists()


def a_file(path: Path) -> Path:
    path.write_text("x")
    return path


SYNTH_CASES = [
    # (id, make(tmp) -> --out, extra args, pattern)
    ("--out is a file", lambda t: a_file(t / "f"), [], r"/f: output path exists and is not a"),
    (
        "--out below a file",
        lambda t: a_file(t / "f") / "sw",
        [],
        r"/f: is a file, so --out .*/f/sw cannot be created below it",
    ),
    ("--size too small", lambda t: t / "sw", ["--size", "8"], r"frame size must be between 32"),
    ("--seed negative", lambda t: t / "sw", ["--seed", "-3"], r"the seed must be >= 0, got -3"),
]


@pytest.mark.parametrize("case,make,extra,pattern", SYNTH_CASES, ids=[c[0] for c in SYNTH_CASES])
def test_bad_synth_arguments(tmp_path, capsys, case, make, extra, pattern):
    rc, _, err = synth(capsys, make(tmp_path), *extra)
    assert_refused(rc, err, pattern)
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "sw").exists()


# --- file modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "umask,mode",
    [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
    ids=["umask 022", "umask 002", "umask 077"],
)
def test_written_files_honour_the_umask(tmp_path, capsys, umask, mode):
    (tmp_path / "hyp.ctm").write_text(CTM)
    (tmp_path / "ref.stm").write_text(STM)
    old = os.umask(umask)
    try:
        rc, _, err = crkd(
            capsys, "score", "--hyp", tmp_path / "hyp.ctm", "--ref", tmp_path / "ref.stm",
            "--json", tmp_path / "wer.json",
        )  # fmt: skip
        data = write_phoenix(tmp_path / "data", {"train": ROWS["train"]})
        load_store(split_entries(data), 20, tmp_path / "cache", "t")
    finally:
        os.umask(old)
    assert rc == 0, err
    for path in (tmp_path / "wer.json", *(tmp_path / "cache").iterdir()):
        assert path.stat().st_mode & 0o777 == mode, path


# --- exceptions that escape to the command line -------------------------------------------------


def fail_with(monkeypatch, exc):
    """Make `crkd score` raise `exc` from inside its command."""

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr("crkd_core.commands.score.score_files", boom)


def ort_error():
    ort = pytest.importorskip("onnxruntime")
    try:
        ort.InferenceSession(b"not an onnx model")
    except Exception as exc:  # onnxruntime's own InvalidProtobuf
        return exc
    pytest.fail("onnxruntime accepted garbage")


def onnx_parse_error():
    onnx = pytest.importorskip("onnx")
    try:
        onnx.load_model_from_string(b"\x08\x01\x12garbage\xff")
    except Exception as exc:  # protobuf's DecodeError
        return exc
    pytest.fail("onnx parsed garbage")


def bomb_error(tmp_path):
    png_header_only(tmp_path / "big.png", 40000, 40000)
    try:
        Image.open(tmp_path / "big.png")
    except Image.DecompressionBombError as exc:
        return exc
    pytest.fail("PIL opened a decompression bomb")


ESCAPING = [
    # (id, exception maker, exit code, pattern of the one line)
    (
        "permission denied",
        lambda t: PermissionError(13, "Permission denied", "/lab/runs/t1/metrics.json"),
        2,
        r"error: /lab/runs/t1/metrics\.json: Permission denied \(PermissionError\)$",
    ),
    (
        "not a directory",
        lambda t: NotADirectoryError(20, "Not a directory", "/data/corpus.csv/train"),
        2,
        r"error: /data/corpus\.csv/train: Not a directory \(NotADirectoryError\)$",
    ),
    (
        "a folder where a file is wanted",
        lambda t: IsADirectoryError(21, "Is a directory", "/runs/t1"),
        2,
        r"error: /runs/t1: Is a directory \(IsADirectoryError\)$",
    ),
    (
        "file not found",
        lambda t: FileNotFoundError(2, "No such file or directory", "/runs/t1/checkpoint.json"),
        2,
        r"error: /runs/t1/checkpoint\.json: No such file or directory",
    ),
    (
        "rename across devices",
        lambda t: OSError(18, "Invalid cross-device link", "/a/x", None, "/b/x"),
        2,
        r"error: /a/x -> /b/x: Invalid cross-device link \(OSError\)$",
    ),
    ("disk full", lambda t: OSError(28, "No space left on device"), 2, r"No space left on device"),
    (
        "decompression bomb",
        bomb_error,
        2,
        r"error: image too large \(refused as a possible decompression bomb\): Image size",
    ),
    ("corrupt ONNX file", lambda t: ort_error(), 2, r"error: not a valid ONNX model file: .*"),
    (
        "ONNX file that does not parse",
        lambda t: onnx_parse_error(),
        2,
        r"error: not a valid ONNX file \(its protobuf does not parse\)",
    ),
    ("interrupted", lambda t: KeyboardInterrupt(), 130, r"^crkd score: interrupted$"),
]


@pytest.mark.parametrize("case,make,code,pattern", ESCAPING, ids=[c[0] for c in ESCAPING])
def test_expected_exceptions_become_one_line(
    tmp_path, capsys, monkeypatch, case, make, code, pattern
):
    fail_with(monkeypatch, make(tmp_path))
    rc, _, err = crkd(capsys, "score", "--hyp", "h.ctm", "--ref", "r.stm")
    assert rc == code and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and re.search(pattern, err.strip()), err


def test_a_bug_keeps_its_traceback_and_is_labelled(capsys, monkeypatch):
    fail_with(monkeypatch, TypeError("unsupported operand type(s) for +: 'int' and 'str'"))
    rc, _, err = crkd(capsys, "score", "--hyp", "h.ctm", "--ref", "r.stm")
    assert rc == 1
    assert "Traceback" in err and "TypeError: unsupported operand" in err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            "crkd score: internal error (TypeError): this is a bug in crkd, not in your input"
        )
    )


def test_crkd_traceback_shows_expected_errors_in_full(capsys, monkeypatch):
    monkeypatch.setenv("CRKD_TRACEBACK", "1")
    fail_with(monkeypatch, PermissionError(13, "Permission denied", "/x"))
    rc, _, err = crkd(capsys, "score", "--hyp", "h.ctm", "--ref", "r.stm")
    assert rc == 2 and "Traceback" in err and "PermissionError" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_real_permission_denied(tmp_path, capsys):
    (tmp_path / "hyp.ctm").write_text(CTM)
    (tmp_path / "ref.stm").write_text(STM)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    rc, _, err = crkd(
        capsys, "score", "--hyp", tmp_path / "hyp.ctm", "--ref", tmp_path / "ref.stm",
        "--json", locked / "wer.json",
    )  # fmt: skip
    assert_refused(rc, err, re.escape(str(locked)) + r".*: Permission denied \(PermissionError\)")
