"""Dataset layouts on tiny fixture trees in the real release layouts (8x8 px frames, offline)."""

import pickle
import shutil
from collections import OrderedDict

import av
import numpy as np
import pytest
from PIL import Image

from crkd_core.data.corpus import BrokenVideoWarning, Phoenix2014, open_dataset
from crkd_core.data.frames import read_entry
from crkd_core.data.layouts import CSLDaily, CustomCSV, Phoenix2014T
from crkd_core.data.video import read_video
from crkd_core.errors import DataError, ToolMissingError
from crkd_core.pipeline import build_vocab

# train glosses {A, B, C}; dev adds D, test adds E: 'train' gives blank + 3 classes, 'all' blank + 5
ROWS = {"train": [("v1", "A B"), ("v2", "B C")], "dev": [("v3", "A D")], "test": [("v4", "E")]}
PHOENIX_BROKEN = "13April_2011_Wednesday_tagesschau_default-14"
CSL_BROKEN = "S000005_P0004_T00"


def write_frames(folder, n=3, suffix=".png", name="{i:06d}"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        px = np.full((8, 8, 3), 30 * i, np.uint8)
        Image.fromarray(px).save(folder / f"{name.format(i=i)}{suffix}")


def write_video(path, n=10, size=16):
    """A tiny MPEG-4 video of n frames (n=0: a valid file with a video stream and no frames)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = size, size, "yuv420p"
        c.start_encoding()
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 20 * i, np.uint8), "rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_phoenix2014(base, rows=ROWS, skip_frames=()):
    """phoenix2014-release/phoenix-2014-multisigner under `base`; returns the multisigner root."""
    root = base / "phoenix2014-release" / "phoenix-2014-multisigner"
    (root / "annotations" / "manual").mkdir(parents=True)
    for split, split_rows in rows.items():
        lines = ["id|folder|signer|annotation"]
        for vid, glosses in split_rows:
            lines.append(f"{vid}|{vid}/1/*.png|Signer01|{glosses}")
            if vid not in skip_frames:
                folder = root / "features" / "fullFrame-210x260px" / split / vid / "1"
                write_frames(folder, name=vid + ".avi_pid0_fn{i:06d}-0")
        text = "\n".join(lines) + "\n"
        (root / "annotations" / "manual" / f"{split}.corpus.csv").write_text(text, "utf-8")
    return root


def write_phoenix2014t(base, rows=ROWS, with_one=False):
    """PHOENIX-2014-T-release-v3/PHOENIX-2014-T under `base`; returns the PHOENIX-2014-T root."""
    root = base / "PHOENIX-2014-T-release-v3" / "PHOENIX-2014-T"
    (root / "annotations" / "manual").mkdir(parents=True)
    for split, split_rows in rows.items():
        lines = ["name|video|start|end|speaker|orth|translation"]
        for vid, glosses in split_rows:
            lines.append(f"{vid}|{vid}/1/*.png|-1|-1|Signer08|{glosses}|und nun das wetter {vid}")
            folder = root / "features" / "fullFrame-210x260px" / split / vid
            write_frames(folder / "1" if with_one else folder, name="images{i:04d}")
        name = f"PHOENIX-2014-T.{split}.corpus.csv"
        (root / "annotations" / "manual" / name).write_text("\n".join(lines) + "\n", "utf-8")
    return root


def csl_name(i):
    return f"S{i:06d}_P{i % 3:04d}_T00"


def write_csl_daily(
    base, rows=ROWS, labels="video_map", frames="sentence/frames_512x512", extra_split=()
):
    """CSL-Daily/ under `base`: split_1.txt, video_map.txt or the pickle, and JPG frames."""
    root, ann = base / "CSL-Daily", base / "CSL-Daily" / "sentence_label"
    ann.mkdir(parents=True)
    split_lines, map_lines, info = ["name|split"], ["index|name|length|gloss|char|word|postag"], []
    for i, (split, vid, glosses) in enumerate(
        [(s, v, g) for s, rs in rows.items() for v, g in rs], start=1
    ):
        name = vid if vid.startswith("S0") else csl_name(i)
        split_lines.append(f"{name}|{split}")
        map_lines.append(f"{i}|{name}|3|{glosses}|你 好|你好|r")
        info.append(
            {
                "name": name,
                "length": 3,
                "label_gloss": glosses.split(),
                "label_char": ["你", "好"],
                "signer": i % 3,
            }
        )
        if name != CSL_BROKEN:
            write_frames(root / frames / name, suffix=".jpg")
    split_lines += [f"{name}|{split}" for name, split in extra_split]
    (ann / "split_1.txt").write_text("\n".join(split_lines) + "\n", "utf-8")
    if labels == "video_map":
        (ann / "video_map.txt").write_text("\n".join(map_lines) + "\n", "utf-8")
    else:
        (ann / "csl2020ct_v2.pkl").write_bytes(pickle.dumps({"info": info}))
    return root


def write_custom(base, rows=ROWS, video_ids=("v2",)):
    """custom/ under `base`: {split}.csv, frame folders, and .avi videos for `video_ids`."""
    root = base / "custom"
    root.mkdir(parents=True)
    for split, split_rows in rows.items():
        lines = ["id,path,signer,glosses"]
        for vid, glosses in split_rows:
            if vid in video_ids:
                (root / "videos").mkdir(exist_ok=True)
                path = f"videos/{vid}.avi"
                write_video(root / path)
            else:
                path = f"frames/{vid}"
                write_frames(root / path)
            lines.append(f'{vid},{path},signer 1,"{glosses}"')
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n", "utf-8")
    return root


WRITERS = {
    "phoenix2014": write_phoenix2014,
    "phoenix2014t": write_phoenix2014t,
    "csl-daily": write_csl_daily,
    "custom": write_custom,
}


# --- auto-detection and the nested release folders ---------------------------------------------


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_each_layout_is_detected_at_its_root(tmp_path, name):
    root = WRITERS[name](tmp_path)
    layout = open_dataset(root)
    assert layout.name == name and layout.root == root
    assert [len(layout.read_split(s)) for s in ("train", "dev", "test")] == [2, 1, 1]


@pytest.mark.parametrize(
    "name, up",
    [
        ("phoenix2014", 1),
        ("phoenix2014", 2),  # phoenix2014-release/, the folder above it
        ("phoenix2014t", 1),
        ("phoenix2014t", 2),  # PHOENIX-2014-T-release-v3/, the folder above it
        ("csl-daily", 1),  # the folder above CSL-Daily/
    ],
)
def test_release_folders_above_the_root_resolve_to_it(tmp_path, name, up):
    root = WRITERS[name](tmp_path)
    given = root.parents[up - 1]
    layout = open_dataset(given)
    assert layout.name == name and layout.root == root
    assert open_dataset(given, name).root == root


def test_a_folder_with_two_releases_is_ambiguous(tmp_path):
    write_phoenix2014(tmp_path)
    write_phoenix2014t(tmp_path)
    with pytest.raises(DataError, match=r"several layouts \(phoenix2014, phoenix2014t\)"):
        open_dataset(tmp_path)
    assert open_dataset(tmp_path, "phoenix2014t").name == "phoenix2014t"


def test_an_unknown_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="no known layout matches"):
        open_dataset(tmp_path)


# --- PHOENIX-2014 -------------------------------------------------------------------------------


def test_phoenix2014_release_frames_in_natural_order(tmp_path):
    entries = open_dataset(write_phoenix2014(tmp_path)).read_split("train")
    assert [e.id for e in entries] == ["v1", "v2"] and entries[0].signer == "Signer01"
    assert entries[0].frames[0].name == "v1.avi_pid0_fn000000-0.png"
    assert read_entry(entries[0], 8).shape == (3, 8, 8, 3)


@pytest.mark.parametrize("state", ["missing", "empty", "present"])
def test_phoenix2014_known_broken_train_video_is_skipped_with_a_warning(tmp_path, state):
    rows = {**ROWS, "train": [*ROWS["train"], (PHOENIX_BROKEN, "A")]}
    root = write_phoenix2014(
        tmp_path, rows, skip_frames=() if state == "present" else (PHOENIX_BROKEN,)
    )
    if state == "empty":
        (root / "features" / "fullFrame-210x260px" / "train" / PHOENIX_BROKEN / "1").mkdir(
            parents=True
        )
    layout = open_dataset(tmp_path)
    with pytest.warns(
        BrokenVideoWarning,
        match=rf"train.corpus.csv, row 4: skipped video "
        rf"'{PHOENIX_BROKEN}'",
    ):
        entries = layout.read_split("train")
    assert [e.id for e in entries] == ["v1", "v2"]
    assert layout.skipped == {("train", PHOENIX_BROKEN)}


def test_phoenix2014_strict_turns_the_broken_video_into_a_data_error(tmp_path):
    rows = {**ROWS, "train": [*ROWS["train"], (PHOENIX_BROKEN, "A")]}
    write_phoenix2014(tmp_path, rows, skip_frames=(PHOENIX_BROKEN,))
    layout = Phoenix2014(tmp_path, strict=True)
    with pytest.raises(DataError, match=r"train.corpus.csv, row 4: frame folder .* does not exist"):
        layout.read_split("train")


def test_phoenix2014_other_missing_videos_still_fail(tmp_path):
    rows = {**ROWS, "dev": [(PHOENIX_BROKEN, "A")]}  # known-broken in train only
    write_phoenix2014(tmp_path, rows, skip_frames=("v2", PHOENIX_BROKEN))
    layout = open_dataset(tmp_path)
    with pytest.raises(DataError, match=r"train.corpus.csv, row 3: frame folder .*v2"):
        layout.read_split("train")
    with pytest.raises(DataError, match=r"dev.corpus.csv, row 2: frame folder"):
        layout.read_split("dev")


# --- PHOENIX-2014-T -----------------------------------------------------------------------------


@pytest.mark.parametrize("with_one", [False, True])
def test_phoenix2014t_frames_with_and_without_the_1_folder(tmp_path, with_one):
    layout = open_dataset(write_phoenix2014t(tmp_path, with_one=with_one))
    assert isinstance(layout, Phoenix2014T)
    e = layout.read_split("dev")[0]
    assert (e.id, e.signer, e.glosses) == ("v3", "Signer08", ("A", "D"))
    assert e.translation == "und nun das wetter v3"
    assert [p.name for p in e.frames] == ["images0000.png", "images0001.png", "images0002.png"]
    assert (e.frames[0].parent.name == "1") == with_one


# --- CSL-Daily ----------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["video_map", "pickle"])
def test_csl_daily_reads_split_file_labels_and_jpg_frames(tmp_path, labels):
    layout = open_dataset(write_csl_daily(tmp_path, labels=labels))
    assert isinstance(layout, CSLDaily)
    e = layout.read_split("dev")[0]
    assert (e.id, e.glosses, e.translation) == (csl_name(3), ("A", "D"), "你好")
    assert e.signer == ("P0000" if labels == "video_map" else "0")
    assert len(e.frames) == 3 and e.frames[0].suffix == ".jpg"
    assert e.source.endswith("video_map.txt" if labels == "video_map" else "csl2020ct_v2.pkl")


def test_csl_daily_frames_unpacked_under_sentence_frames_folder(tmp_path):
    root = write_csl_daily(tmp_path, frames="sentence_frames-512x512/frames_512x512")
    assert len(open_dataset(root).read_split("train")) == 2


def test_csl_daily_known_broken_train_video_is_skipped(tmp_path):
    rows = {**ROWS, "train": [*ROWS["train"], (CSL_BROKEN, "A")]}
    layout = open_dataset(write_csl_daily(tmp_path, rows))
    warning = rf"split_1.txt, row 4: skipped video '{CSL_BROKEN}'"
    with pytest.warns(BrokenVideoWarning, match=warning):
        assert len(layout.read_split("train")) == 2
    with pytest.raises(DataError, match=rf"video_map.txt, row 4: frame folder .*{CSL_BROKEN}"):
        CSLDaily(layout.root, strict=True).read_split("train")


def test_csl_daily_unannotated_split_names_warn_or_fail_when_strict(tmp_path):
    root = write_csl_daily(tmp_path, extra_split=[("S999999_P0001_T00", "train")])
    with pytest.warns(BrokenVideoWarning, match=r"split_1.txt, row 6: video 'S999999_P0001_T00'"):
        assert len(open_dataset(root).read_split("train")) == 2
    with pytest.raises(DataError, match=r"split_1.txt, row 6: .* has no annotation"):
        CSLDaily(root, strict=True).read_split("train")


def test_csl_daily_pickle_with_classes_is_refused(tmp_path):
    root = write_csl_daily(tmp_path, labels="pickle")
    pkl = root / "sentence_label" / "csl2020ct_v2.pkl"
    pkl.write_bytes(pickle.dumps(OrderedDict(info=[])))
    with pytest.raises(DataError, match=r"csl2020ct_v2.pkl: .*collections.OrderedDict"):
        open_dataset(root).read_split("train")


# --- custom CSV and video files -----------------------------------------------------------------


def test_custom_csv_with_a_frame_folder_and_a_video_file(tmp_path):
    layout = open_dataset(write_custom(tmp_path))
    assert isinstance(layout, CustomCSV)
    folder, video = layout.read_split("train")
    assert folder.video is None and len(folder.frames) == 3 and folder.glosses == ("A", "B")
    assert video.video.name == "v2.avi" and video.signer == "signer 1" and video.row == 3
    frames = read_entry(video, 12)
    assert frames.shape == (10, 12, 12, 3) and frames.dtype == np.uint8
    assert frames[0].mean() < frames[-1].mean()  # frames come in temporal order


def test_read_video_resizes_every_frame(tmp_path):
    out = read_video(write_video(tmp_path / "a.avi", n=4, size=16), 8)
    assert out.shape == (4, 8, 8, 3)


@pytest.mark.parametrize(
    "content, cause",
    [
        (None, "video file is missing"),
        (b"not a video" * 20, "cannot decode video"),
        ("empty", "video has no frames"),
    ],
)
def test_read_video_errors_name_the_file(tmp_path, content, cause):
    path = tmp_path / "clip.avi"
    if content == "empty":
        write_video(path, n=0)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=rf"clip.avi: {cause}"):
        read_video(path, 8)


def test_read_video_without_pyav_or_opencv(tmp_path, monkeypatch):
    path = write_video(tmp_path / "a.avi", n=2)
    monkeypatch.setattr("crkd_core.data.video.importlib.util.find_spec", lambda name: None)
    with pytest.raises(ToolMissingError, match="PyAV"):
        read_video(path, 8)


def test_custom_undecodable_video_names_csv_and_row(tmp_path):
    root = write_custom(tmp_path)
    (root / "videos" / "v2.avi").write_bytes(b"garbage" * 50)
    with pytest.raises(DataError, match=r"train.csv, row 3: video .*v2.avi: cannot open video"):
        open_dataset(root).read_split("train")


def test_custom_path_that_is_neither_folder_nor_video(tmp_path):
    root = write_custom(tmp_path)
    shutil.rmtree(root / "frames" / "v1")
    with pytest.raises(DataError, match=r"train.csv, row 2: path .*v1 does not exist, and is not"):
        open_dataset(root).read_split("train")


# --- bad corpus files ---------------------------------------------------------------------------

CORPUS = {  # layout -> (corpus file of train, relative to the root; id of its first row)
    "phoenix2014": ("annotations/manual/train.corpus.csv", "v1"),
    "phoenix2014t": ("annotations/manual/PHOENIX-2014-T.train.corpus.csv", "v1"),
    "csl-daily": ("sentence_label/video_map.txt", csl_name(1)),
    "custom": ("train.csv", "v1"),
}


def edit_line(path, index, edit):
    lines = path.read_text("utf-8").splitlines()
    lines[index] = edit(lines[index])
    path.write_text("\n".join(lines) + "\n", "utf-8")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_wrong_header_names_file_and_row(tmp_path, name):
    root = WRITERS[name](tmp_path)
    path = root / CORPUS[name][0]
    edit_line(path, 0, lambda line: line.replace("name", "nom").replace("id", "key", 1))
    with pytest.raises(DataError, match=rf"{path.name}, row 1: wrong header"):
        open_dataset(root, name).read_split("train")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_missing_corpus_file_names_it(tmp_path, name):
    root = WRITERS[name](tmp_path)
    path = root / CORPUS[name][0].replace("train", "test")
    if name == "csl-daily":
        path = root / "sentence_label" / "video_map.txt"
    path.unlink()
    with pytest.raises(DataError, match=rf"{path.name}: corpus file is missing"):
        open_dataset(root, name).read_split("test")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_duplicate_ids_name_file_and_row(tmp_path, name):
    root = WRITERS[name](tmp_path)
    path, first = root / CORPUS[name][0], CORPUS[name][1]
    second = csl_name(2) if name == "csl-daily" else "v2"
    edit_line(path, 2, lambda line: line.replace(second, first))
    with pytest.raises(DataError, match=rf"{path.name}, row 3: duplicate id '{first}'"):
        open_dataset(root, name).read_split("train")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_empty_annotation_names_file_and_row(tmp_path, name):
    root = WRITERS[name](tmp_path)
    path, first = root / CORPUS[name][0], CORPUS[name][1]
    edit_line(path, 1, lambda line: line.replace("A B", " ").replace('" "', '""'))
    with pytest.raises(DataError, match=rf"{path.name}, row 2: video '{first}' has an empty"):
        open_dataset(root, name).read_split("train")


# --- vocabulary conventions ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_vocabulary_class_counts_for_both_conventions(tmp_path, name):
    layout = open_dataset(WRITERS[name](tmp_path))
    train, full = build_vocab(layout, "train"), build_vocab(layout, "all")
    assert (len(train), len(full)) == (4, 6)  # blank + A B C; blank + A B C D E
    assert full.tokens == ("<blank>", "A", "B", "C", "D", "E")
