import numpy as np
import pytest
import torch

from crkd_core.data.corpus import open_dataset
from crkd_core.data.dataset import SLRDataset, collate
from crkd_core.data.frames import load_store
from crkd_core.data.sampler import BucketBatchSampler
from crkd_core.data.transforms import ViewSpec, make_views, temporal_indices
from crkd_core.data.vocab import BLANK, Vocab
from crkd_core.errors import ConfigError, DataError, VocabError

from .helpers import write_phoenix


def test_vocab_blank_zero_sorted_and_round_trip(tmp_path):
    v = Vocab.from_glosses(["B", "A", "C", "A"])
    assert v.tokens == (BLANK, "A", "B", "C")
    assert v.encode(["C", "A"]) == [3, 1]
    assert v.decode([3, 0, 1]) == ["C", "A"]
    v.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == v


def test_vocab_unknown_gloss_names_source_and_row():
    with pytest.raises(VocabError, match=r"dev.csv, row 7: gloss 'ZZ' is not in the vocabulary"):
        Vocab.from_glosses(["A"]).encode(["A", "ZZ"], "dev.csv", 7)


def test_empty_vocab_refused():
    with pytest.raises(VocabError, match="empty"):
        Vocab.from_glosses([])


@pytest.fixture
def tiny_root(tmp_path):
    rows = {"train": [("v1", "A B"), ("v2", "B C A")], "dev": [("v3", "A")], "test": [("v4", "C")]}
    return write_phoenix(tmp_path / "d", rows)


def test_phoenix_layout_reads_rows_in_natural_frame_order(tiny_root):
    layout = open_dataset(tiny_root)
    entries = layout.read_split("train")
    assert [e.id for e in entries] == ["v1", "v2"]
    assert entries[1].glosses == ("B", "C", "A")
    assert [p.name for p in entries[0].frames][:2] == ["v1_fn000000-0.png", "v1_fn000001-0.png"]
    assert entries[0].row == 2


def test_missing_frame_folder_names_file_and_row(tiny_root):
    import shutil

    shutil.rmtree(next(tiny_root.glob("features/*/train/v2")))
    with pytest.raises(DataError, match=r"train.corpus.csv, row 3: frame folder .* does not exist"):
        open_dataset(tiny_root).read_split("train")


def test_frame_store_cache_round_trip(tiny_root, tmp_path):
    entries = open_dataset(tiny_root).read_split("train")
    a = load_store(entries, 16, tmp_path / "cache", "train")
    b = load_store(entries, 16, tmp_path / "cache", "train")  # from the cache now
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert np.array_equal(a.get("v2"), b.get("v2")) and a.get("v2").shape == (12, 16, 16, 3)


def test_views_share_one_crop_and_are_scaled():
    yy, xx = np.mgrid[0:72, 0:72]
    smooth = (127 + 120 * np.sin(xx / 9.0) * np.cos(yy / 7.0)).astype(np.uint8)
    frames = np.repeat(np.stack([smooth] * 3, -1)[None], 9, 0)
    spec = ViewSpec(72, 64, 16)
    v = make_views(frames, spec, train=False)
    assert v.teacher.shape == (9, 3, 64, 64) and v.student.shape == (9, 3, 16, 16)
    assert v.teacher.min() >= -1 and v.teacher.max() <= 1
    # the student's view is the teacher's crop, downscaled: block means agree closely
    pooled = torch.nn.functional.avg_pool2d(v.teacher, 4)
    assert (pooled - v.student).abs().mean() < 0.02
    centre = frames[:, 4:68, 4:68].astype(np.float32) / 127.5 - 1
    assert np.allclose(v.teacher.permute(0, 2, 3, 1).numpy(), centre, atol=1e-6)


def test_train_views_are_reproducible_per_seed():
    frames = np.random.default_rng(0).integers(0, 256, (20, 72, 72, 3), dtype=np.uint8)
    spec = ViewSpec(72, 64, 16)
    a = make_views(frames, spec, True, np.random.default_rng(5))
    b = make_views(frames, spec, True, np.random.default_rng(5))
    assert torch.equal(a.teacher, b.teacher)
    assert 16 <= a.teacher.shape[0] <= 24


def test_view_spec_refuses_impossible_sizes():
    with pytest.raises(ConfigError):
        ViewSpec(60, 64)
    with pytest.raises(ConfigError):
        ViewSpec(72, 64, 80)


def test_temporal_indices():
    assert temporal_indices(10, 1.0).tolist() == list(range(10))
    assert len(temporal_indices(10, 0.8)) == 8
    assert temporal_indices(10, 1.2).max() == 9


def test_dataset_and_collate(tiny_root, tmp_path):
    layout = open_dataset(tiny_root)
    entries = layout.read_split("train")
    vocab = Vocab.from_glosses(g for e in entries for g in e.glosses)
    store = load_store(entries, 24, None, "train")
    ds = SLRDataset(entries, vocab, store, ViewSpec(24, 20, 8), train=False)
    batch = collate([ds[0], ds[1]])
    assert batch.video.shape == (2, 12, 3, 20, 20)
    assert batch.student_video.shape == (2, 12, 3, 8, 8)
    assert batch.targets.tolist() == [[1, 2, 0], [2, 3, 1]]
    assert batch.target_lengths.tolist() == [2, 3]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_bucket_sampler_covers_all_and_splits_ranks(world):
    lengths = list(np.random.default_rng(0).integers(10, 50, 23))
    seen = []
    for rank in range(world):
        s = BucketBatchSampler(lengths, 4, True, seed=1, rank=rank, world_size=world)
        s.set_epoch(3)
        batches = list(s)
        assert len(batches) == len(s)
        seen += [i for b in batches for i in b]
    assert set(seen) == set(range(23))


def test_streaming_frames_match_the_cache(tiny_root, tmp_path):
    from crkd_core.data.frames import StreamingFrames

    entries = open_dataset(tiny_root).read_split("train")
    cached = load_store(entries, 16, tmp_path / "cache", "train")
    streamed = StreamingFrames(entries, 16)
    assert streamed.length("v2") == cached.length("v2") == 12
    assert np.array_equal(streamed.get("v2"), cached.get("v2"))
