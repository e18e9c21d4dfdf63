"""SignWorld (this project's synthetic dataset): layout, determinism, geometry, floor, atomicity."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crkd_core.data.corpus import open_dataset
from crkd_core.data.signworld import DataSize, build_gloss_table, generate_signworld, writer
from crkd_core.data.signworld.grammar import Grammar
from crkd_core.data.signworld.motion import SignInstance, build_timeline, sample_instances
from crkd_core.data.signworld.phonology import HANDSHAPES
from crkd_core.data.signworld.render import hand_box, make_scene, render_frame
from crkd_core.data.signworld.signer import sample_signer
from crkd_core.data.synthetic import SignWorld, blind_floor, handshape_blind_floor, read_metadata
from crkd_core.errors import ConfigError, DataError

TINY = DataSize("tiny", train=5, dev=2, test=2, signers=2, unseen_signers=1)
MICRO = DataSize("micro", train=2, dev=1, test=1, signers=1, unseen_signers=1, size=48)
TABLE = build_gloss_table()


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sw") / "data"
    generate_signworld(root, TINY, seed=3, unseen_signers=True)
    return root


def png_pixels(root: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(root.glob("features/*/*/*/1/*.png"))]


# --- layout and reader ------------------------------------------------------------------------


def test_layout_is_phoenix2014(tiny_root: Path):
    for split in ("train", "dev", "test", "test_unseen"):
        lines = (tiny_root / f"annotations/manual/{split}.corpus.csv").read_text().splitlines()
        assert lines[0] == "id|folder|signer|annotation"
        vid, folder, signer, annotation = lines[1].split("|")
        assert folder == f"{vid}/1/*.png" and signer.startswith("Signer") and annotation.split()
        frames = sorted((tiny_root / f"features/fullFrame-96x96px/{split}/{vid}/1").iterdir())
        assert frames[0].name == f"{vid}_fn000000-0.png"
        img = Image.open(frames[0])
        assert img.mode == "RGB" and img.size == (96, 96)


def test_open_dataset_detects_signworld(tiny_root: Path):
    ds = open_dataset(tiny_root)
    assert isinstance(ds, SignWorld)
    assert ds.splits == ("train", "dev", "test", "test_unseen")
    assert ds.declared_glosses() == [g.gloss for g in TABLE]
    entries = ds.read_split("train")
    assert len(entries) == TINY.train
    assert all(15 <= e.num_frames <= 90 and 2 <= len(e.glosses) <= 7 for e in entries)
    plain = open_dataset(tiny_root, "phoenix2014").read_split("train")
    assert [(e.id, e.glosses, e.frames) for e in plain] == [
        (e.id, e.glosses, e.frames) for e in entries
    ]


def test_unseen_signers_are_new(tiny_root: Path):
    ds = open_dataset(tiny_root)
    seen = {e.signer for e in ds.read_split("train")}
    assert seen.isdisjoint(e.signer for e in ds.read_split("test_unseen"))


def test_metadata(tiny_root: Path):
    meta = read_metadata(tiny_root)
    assert meta["frame_size"] == [96, 96] and meta["seed"] == 3
    assert meta["splits"] == {"train": 5, "dev": 2, "test": 2, "test_unseen": 2}
    row = meta["glosses"][0]
    assert {"handshape", "location", "movement", "hands", "orientation"} <= set(row)
    assert set(meta["handshape_blind_floor"]) == {"train", "dev", "test", "test_unseen"}


# --- determinism and atomic writing -----------------------------------------------------------


def test_same_seed_same_bytes_and_pixels(tmp_path: Path):
    a, b, c = (
        generate_signworld(tmp_path / n, MICRO, seed=s).root
        for n, s in (("a", 7), ("b", 7), ("c", 8))
    )
    for split in ("train", "dev", "test"):
        csv = f"annotations/manual/{split}.corpus.csv"
        assert (a / csv).read_bytes() == (b / csv).read_bytes()
    pa, pb, pc = png_pixels(a), png_pixels(b), png_pixels(c)
    assert len(pa) == len(pb) and all(np.array_equal(x, y) for x, y in zip(pa, pb, strict=True))
    differs = len(pa) != len(pc) or any(
        not np.array_equal(x, y) for x, y in zip(pa, pc, strict=False)
    )
    assert differs


def test_parallel_drawing_writes_the_same_dataset(tmp_path: Path):
    one = generate_signworld(tmp_path / "one", MICRO, seed=7).root
    two = generate_signworld(tmp_path / "two", MICRO, seed=7, jobs=2).root
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for f in files:  # PNGs, corpus files, timings and signworld.json: byte for byte
        assert (one / f).read_bytes() == (two / f).read_bytes(), f
    with pytest.raises(ConfigError, match="jobs"):
        generate_signworld(tmp_path / "three", MICRO, jobs=0)


def test_failure_leaves_no_dataset(tmp_path: Path, monkeypatch):
    calls = {"n": 0}
    real = writer.render_video

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "render_video", flaky)
    with pytest.raises(RuntimeError, match="simulated"):
        generate_signworld(tmp_path / "data", MICRO)
    assert list(tmp_path.iterdir()) == []  # neither the dataset nor a partial folder


def test_refuses_to_overwrite(tmp_path: Path):
    out = tmp_path / "data"
    out.mkdir()
    generate_signworld(out, MICRO)  # an empty folder is fine
    with pytest.raises(DataError, match="not empty"):
        generate_signworld(out, MICRO)
    (out / "old.txt").write_text("x")
    generate_signworld(out, MICRO, seed=1, force=True)
    assert not (out / "old.txt").exists() and read_metadata(out)["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


# --- the lexicon and the pixels -----------------------------------------------------------------


def test_gloss_table_groups():
    assert 30 <= len(TABLE) <= 60
    groups = {}
    for g in TABLE:
        groups.setdefault(g.group, []).append(g)
    for members in groups.values():
        assert 3 <= len(members) <= 4
        assert len({m.coarse for m in members}) == 1
        assert len({HANDSHAPES[m.handshape].family for m in members}) == 1
        assert len({sum(HANDSHAPES[m.handshape].extended) for m in members}) == 1
    assert len({members[0].coarse for members in groups.values()}) == len(groups)


def test_clip_lengths():
    rng = np.random.default_rng(0)
    grammar, spec = Grammar(TABLE), {g.gloss: g for g in TABLE}
    lengths, frames = [], []
    for _ in range(300):
        sentence = grammar.sample(rng)
        signs = sample_instances([spec[g] for g in sentence], rng, rng.uniform(0.8, 1.2), (5, 8))
        lengths.append(len(sentence))
        frames.append(len(build_timeline(signs, rng)))
    assert min(lengths) >= 2 and max(lengths) <= 7
    assert 28 <= np.mean(frames) <= 42


def scene(seed: int = 0):
    return make_scene(
        sample_signer(np.random.default_rng([11, seed]), 1), 96, np.random.default_rng(seed)
    )


def test_group_mates_differ_only_in_the_hand_region():
    sc = scene()
    for group in sorted({g.group for g in TABLE}):
        a, b = [g for g in TABLE if g.group == group][:2]
        pa, pb = SignInstance(a, 6).pose(0.3), SignInstance(b, 6).pose(0.3)
        fa, fb = render_frame(sc, pa), render_frame(sc, pb)
        mask = np.zeros((96, 96), bool)
        hands = [(p.dominant, False) for p in (pa, pb)]
        hands += [(p.other, True) for p in (pa, pb)] if a.hands == 2 else []
        for hand, mirror in hands:  # the union of both glosses' hand boxes
            x0, y0, x1, y1 = hand_box(sc, hand, mirror)
            mask[max(0, int(y0)) : int(y1) + 2, max(0, int(x0)) : int(x1) + 2] = True
        diff = np.abs(fa.astype(int) - fb.astype(int)).max(-1)
        assert diff[~mask].max() == 0, (a.gloss, b.gloss)
        assert diff[mask].max() > 40, (a.gloss, b.gloss)


def teacher_and_student(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cpu preset's views: resize 96 -> 72, centre crop 64; the student: that crop at 16.

    PIL's bilinear downscale is antialiased, as `transforms.resize_view` is (same numbers).
    """
    crop = Image.fromarray(frame).resize((72, 72), Image.BILINEAR).crop((4, 4, 68, 68))
    student = crop.resize((16, 16), Image.BILINEAR)
    return np.asarray(crop, np.float32) / 255, np.asarray(student, np.float32) / 255


def pair_stats(same_group: bool) -> np.ndarray:
    """Mean over gloss pairs of (mean |diff| 64 px, mean |diff| 16 px, max 64, max 16)."""
    rows = []
    for seed in range(2):
        sc = scene(seed)
        views = {
            g.gloss: teacher_and_student(render_frame(sc, SignInstance(g, 6).pose(0.25)))
            for g in TABLE
        }
        for a, b in itertools.combinations(TABLE, 2):
            if (a.group == b.group) == same_group:
                d64, d16 = (np.abs(views[a.gloss][k] - views[b.gloss][k]) for k in (0, 1))
                rows.append([d64.mean(), d16.mean(), d64.max(), d16.max()])
    return np.mean(rows, 0)


def test_handshape_is_fine_detail_and_location_is_coarse():
    """Measured (2 signers, all pairs): handshape pairs keep 0.49x of their mean |diff| and 0.36x
    of their peak at 16 px; pairs from different groups keep 0.83x and 0.78x."""
    mean64, mean16, max64, max16 = pair_stats(same_group=True)
    assert max64 > 0.3  # the teacher sees finger strokes clearly (0.72)
    assert max16 < 0.45 * max64  # the student sees a smudge (0.26)
    assert mean16 < 0.6 * mean64  # differences cancel inside student pixels
    c_mean64, c_mean16, c_max64, c_max16 = pair_stats(same_group=False)
    assert c_max16 > 0.6 * c_max64  # location and movement survive at 16 px (0.79 -> 0.61)
    assert c_mean16 > 0.75 * c_mean64


def overshoot(sc, amplitude: float) -> float:
    """How far (reference px) any hand box of any gloss leaves the teacher's 64 px centre crop."""
    lo, hi = 96 * 4 / 72, 96 * 68 / 72  # the 64 px centre crop of the 72 px resize
    worst = -np.inf
    for g, u in itertools.product(TABLE, np.linspace(0, 1, 11)):
        pose = SignInstance(g, 6, amplitude=amplitude).pose(u)
        hands = [(pose.dominant, False)] + ([(pose.other, True)] if g.hands == 2 else [])
        for hand, mirror in hands:
            x0, y0, x1, y1 = hand_box(sc, hand, mirror)
            worst = max(worst, lo - x0, lo - y0, x1 - hi, y1 - hi)
    return worst


def test_hands_of_a_typical_signer_stay_inside_the_teacher_crop():
    sc = scene()
    sc.cx, sc.chin_y, sc.body, sc.hand = 48.0, 43.0, 1.0, 1.41  # centred, mean body and hand
    assert overshoot(sc, 1.0) < 0  # measured: 1.5 reference px to spare (forehead)


@pytest.mark.parametrize("cx, chin_y", list(itertools.product((44.0, 52.0), (40.5, 45.5))))
def test_fingertips_of_the_largest_signer_barely_leave_the_crop(cx: float, chin_y: float):
    """The largest body and hands, at the extreme placements and the widest movement: the large
    hands' fingertips may cross the crop's edge, by 6.2 reference px at most (4.7 teacher px)."""
    sc = scene()
    sc.cx, sc.chin_y, sc.body, sc.hand = cx, chin_y, 1.06, 1.5
    assert overshoot(sc, 1.15) < 7.0


# --- the handshape-blind floor ------------------------------------------------------------------


def row(gloss: str, location: str = "chin") -> dict:
    return {
        "gloss": gloss,
        "location": location,
        "movement": "tap",
        "hands": 1,
        "orientation": "up",
    }


def test_floor_on_a_hand_made_table():
    table = [row("A"), row("B"), row("C"), row("D", location="chest")]
    train = {"A": 5, "B": 3, "D": 2}  # C never seen in train
    test = {"A": 2, "B": 3, "C": 1, "D": 4}  # the oracle says A for A, B, C; D for D
    assert blind_floor(table, train, test) == pytest.approx(40.0)
    meta = {"glosses": table, "gloss_counts": {"train": train, "test": test}}
    assert handshape_blind_floor(meta, "test") == pytest.approx(40.0)
    assert blind_floor(table, {"A": 2, "B": 2}, {"B": 1}) == 100.0  # tie -> smallest name
    with pytest.raises(DataError, match="not in the table"):
        blind_floor(table, train, {"Z": 1})
    with pytest.raises(DataError, match="no reference"):
        blind_floor(table, train, {})


def test_floor_from_disk_matches_metadata(tiny_root: Path):
    meta = read_metadata(tiny_root)
    for split, value in meta["handshape_blind_floor"].items():
        assert handshape_blind_floor(tiny_root, split) == pytest.approx(value)
    assert 0 < SignWorld(tiny_root).handshape_blind_floor("test") <= 100


def test_study_tables_find_the_floor_of_signworld_only(tiny_root: Path, tmp_path: Path):
    from crkd_core import study

    floor = study.signworld_floor(tiny_root)
    assert floor["dev"] == pytest.approx(handshape_blind_floor(tiny_root, "dev"))
    assert study.signworld_floor(tmp_path) == {}  # not SignWorld: no floor column


# --- command line -------------------------------------------------------------------------------


def test_cli_profiles_match_the_registry():
    from crkd_core.commands.synth import PROFILE_NAMES
    from crkd_core.data.signworld import DATA_SIZES

    assert sorted(PROFILE_NAMES) == DATA_SIZES.names()


def test_cli_parses_the_contract():
    from crkd_core.cli import build_parser

    args = build_parser(only="synth").parse_args(
        ["synth", "--out", "d", "--profile", "smoke", "--seed", "4", "--unseen-signers", "--force"]
    )
    assert (args.out, args.profile, args.seed, args.unseen_signers, args.force) == (
        "d",
        "smoke",
        4,
        True,
        True,
    )


def test_summary_names_the_numbers(tmp_path: Path):
    text = generate_signworld(tmp_path / "d", MICRO).summary()
    assert "videos: 4" in text and "glosses: 44" in text and "floor" in text and " s" in text


@pytest.mark.slow
def test_cli_synth_smoke(smoke_data: Path, capsys):
    """The session's smoke dataset (conftest) was drawn by `crkd synth`; it refuses to redraw."""
    from crkd_core.cli import main

    ds = open_dataset(smoke_data)
    assert isinstance(ds, SignWorld) and ds.splits == ("train", "dev", "test")
    assert [len(ds.read_split(s)) for s in ds.splits] == [24, 8, 8]
    assert main(["synth", "--out", str(smoke_data), "--profile", "smoke"]) == 2
    assert "not empty" in capsys.readouterr().err
