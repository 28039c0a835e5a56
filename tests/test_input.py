"""tf.data input (musicgen.datasets.input): NoteSequence shards and prepared Example shards give the
same padded batches; transposition; clear errors. Fixtures are NoteSequences built in code."""
import dataclasses
import os
from typing import Optional

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

import tensorflow as tf
from musicgen.converters.groove import GrooveConverter
from musicgen.converters.melody import OneHotMelodyConverter
from musicgen.datasets import input as input_lib
from musicgen.datasets.tfrecord import ShardedWriter
from musicgen.families.vae import VAE


@dataclasses.dataclass
class HParams:
    max_seq_len: int = 64
    batch_size: int = 4


@dataclasses.dataclass
class Config:
    """The fields of configs.Config that the input pipeline reads."""
    data_converter: object
    hparams: HParams
    train_examples_path: Optional[str] = None
    eval_examples_path: Optional[str] = None
    tfds_name: Optional[str] = None
    note_sequence_augmenter: object = None
    family: object = VAE


def drum_sequence(bars: int, seed: int) -> music_pb2.NoteSequence:
    """A 120 qpm 4/4 drum groove of `bars` bars with slightly off-grid, varied-velocity hits."""
    rng = np.random.default_rng(seed)
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    ns.time_signatures.add(numerator=4, denominator=4)
    step = 0.125
    for i in range(bars * 16):
        for pitch, every in ((36, 4), (38, 8), (42, 2)):
            if i % every == 0:
                t = max(0.0, i * step + rng.uniform(-0.02, 0.02))
                ns.notes.add(pitch=pitch, velocity=int(rng.integers(40, 127)), start_time=t,
                             end_time=t + 0.1, is_drum=True, instrument=9)
    ns.total_time = bars * 16 * step
    return ns


def write_shards(path, split, sequences):
    with ShardedWriter(str(path), split, num_shards=2) as w:
        for ns in sequences:
            w.write(ns.SerializeToString())


@pytest.fixture()
def groove_config():
    # Whole sequences (no windows) so lengths vary and padding shows.
    return Config(GrooveConverter(split_bars=None), HParams(max_seq_len=64, batch_size=4))


def _collect(ds):
    out = {k: [] for k in input_lib.KEYS}
    for batch in ds:
        for k in out:
            out[k].append(batch[k].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def test_note_sequence_path_batches_and_padding(tmp_path, groove_config):
    bars = [1, 2, 4, 3, 1, 2]
    write_shards(tmp_path, "validation", [drum_sequence(b, i) for i, b in enumerate(bars)])
    ds = input_lib.make_dataset(groove_config, "validation", dataset_dir=str(tmp_path))
    batches = list(ds)
    assert [int(b["lengths"].shape[0]) for b in batches] == [4, 2]  # eval keeps the remainder
    b = batches[0]
    assert b["inputs"].dtype == tf.float32 and b["outputs"].dtype == tf.float32
    assert b["controls"].dtype == tf.float32 and b["lengths"].dtype == tf.int32
    assert b["inputs"].shape == (4, 64, 27) and b["outputs"].shape == (4, 64, 27)
    assert b["controls"].shape == (4, 64, 0)
    got = _collect(ds)
    assert sorted(got["lengths"].tolist()) == sorted(16 * n for n in bars)
    for x, n in zip(got["outputs"], got["lengths"]):
        assert np.all(x[n:] == 0), "steps past the length must be zero padding"
        assert x[:n, :9].sum() > 0, "hits inside the length"
        assert np.all(x[:n, 9:18] <= 1.0) and np.all(x[:n, 18:] >= -1.0)


def test_training_dataset_repeats_shuffles_and_drops_remainder(tmp_path, groove_config):
    write_shards(tmp_path, "train", [drum_sequence(b, i) for i, b in enumerate([1, 2, 3])])
    ds = input_lib.make_dataset(groove_config, "train", dataset_dir=str(tmp_path), seed=1)
    batches = list(ds.take(5))  # 3 windows, batch 4: only a repeating dataset can give this
    assert all(b["inputs"].shape == (4, 64, 27) for b in batches)
    lengths = np.concatenate([b["lengths"].numpy() for b in batches])
    assert set(lengths.tolist()) == {16, 32, 48}


@pytest.mark.parametrize("bars", [[1, 4, 2, 3, 2], [4, 4, 4, 4, 4]], ids=["ragged", "all_full"])
def test_examples_path_equals_note_sequence_path(tmp_path, groove_config, bars):
    """Variable lengths take the padding parse; all-full windows the direct reshape."""
    sequences = [drum_sequence(b, i) for i, b in enumerate(bars)]
    write_shards(tmp_path / "ns", "validation", sequences)
    elements = input_lib.convert_note_sequences(sequences, groove_config, is_training=False)
    n = input_lib.write_examples(str(tmp_path / "ex" / "validation-00000-of-00001.tfrecord"),
                                 elements)
    assert n == 5
    direct = _collect(input_lib.make_dataset(groove_config, "validation",
                                             dataset_dir=str(tmp_path / "ns")))
    # ShardedWriter round-robins: shard 0 holds sequences 0, 2, 4 and shard 1 holds 1, 3.
    order = [0, 2, 4, 1, 3]
    prepared = _collect(input_lib.make_dataset(groove_config, "validation",
                                               examples_path=str(tmp_path / "ex")))
    for k in input_lib.KEYS:
        assert prepared[k].dtype == direct[k].dtype
        np.testing.assert_array_equal(prepared[k][order], direct[k])


def test_examples_path_training_batches(tmp_path, groove_config):
    elements = input_lib.convert_note_sequences([drum_sequence(b, b) for b in (1, 2, 4)],
                                                groove_config, is_training=True)
    input_lib.write_examples(str(tmp_path / "train-00000-of-00001.tfrecord"), elements)
    ds = input_lib.make_dataset(groove_config, "train", examples_path=str(tmp_path), batch_size=8)
    b = next(iter(ds))
    assert b["outputs"].shape == (8, 64, 27) and b["lengths"].shape == (8,)
    for x, n in zip(b["outputs"].numpy(), b["lengths"].numpy()):
        assert n in (16, 32, 64) and np.all(x[n:] == 0)


def melody_sequence(pitches):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, velocity=80, start_time=i * 0.5, end_time=i * 0.5 + 0.25)
    ns.total_time = len(pitches) * 0.5
    return ns


def test_transposition_shifts_pitches_within_range(tmp_path):
    conv = OneHotMelodyConverter(min_pitch=48, max_pitch=84, slice_bars=2,
                                 max_tensors_per_notesequence=None)
    config = Config(conv, HParams(max_seq_len=32, batch_size=16))
    seqs = [melody_sequence([60 + i, 62, 64, 65, 67, 69, 71, 84 - i]) for i in range(8)]
    seqs.append(melody_sequence([48, 84, 48, 84, 48, 84, 48, 84]))   # no room to move
    write_shards(tmp_path, "validation", seqs)
    plain = _collect(input_lib.make_dataset(config, "validation", dataset_dir=str(tmp_path)))
    moved = _collect(input_lib.make_dataset(config, "validation", dataset_dir=str(tmp_path),
                                            transpose_range=5, seed=3))
    shifts, pinned = [], 0
    top = conv.output_depth  # no end token: pitch indices are 2 .. depth-1
    for a, b in zip(plain["outputs"], moved["outputs"]):
        ia, ib = a.argmax(-1), b.argmax(-1)
        np.testing.assert_array_equal(a.sum(-1), b.sum(-1))     # still one-hot, same padding
        special = ia < 2
        np.testing.assert_array_equal(ia[special], ib[special])  # NO_EVENT / NOTE_OFF unchanged
        delta = set((ib[~special] - ia[~special]).tolist())
        assert len(delta) == 1, "one shift per example"
        shift = delta.pop()
        lo, hi = ia[~special].min(), ia[~special].max()
        assert -min(5, lo - 2) <= shift <= min(5, top - 1 - hi), (shift, lo, hi)
        pinned += (lo == 2 and hi == top - 1)
        shifts.append(shift)
    np.testing.assert_array_equal(moved["inputs"], moved["outputs"])
    assert pinned >= 1, "the 48..84 melody spans the whole range and must stay in place"
    assert len(set(shifts)) > 2, f"shifts should vary: {shifts}"


def test_transposition_refused_for_non_melody(groove_config):
    with pytest.raises(ValueError, match="one-hot melody converter"):
        input_lib.transpose_fn(groove_config, 3)


def test_missing_input_errors_name_the_flag(tmp_path, groove_config):
    with pytest.raises(FileNotFoundError, match="--dataset_dir"):
        input_lib.make_dataset(groove_config, "train", dataset_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--examples_path"):
        input_lib.make_dataset(groove_config, "train", examples_path=str(tmp_path))
    with pytest.raises(ValueError, match="--examples_path, --dataset_dir or --tfds_name"):
        input_lib.make_dataset(groove_config, "train")


def test_window_longer_than_max_seq_len_is_an_error(tmp_path):
    config = Config(GrooveConverter(split_bars=None), HParams(max_seq_len=16, batch_size=2))
    with pytest.raises(ValueError, match="max_seq_len=16"):
        list(input_lib.convert_note_sequences([drum_sequence(2, 0)], config, is_training=False))


def test_tfds_path_reads_midi_feature(tmp_path, groove_config):
    """A locally prepared TFDS dataset with a `midi` bytes feature (as TFDS `groove`), built here
    from the Groove fixture files, gives the same batches as NoteSequence shards of those files."""
    import glob as glob_lib
    import tensorflow_datasets as tfds
    from conftest import TEST_DATA
    from musicgen import midi_io

    files = sorted(glob_lib.glob(os.path.join(TEST_DATA, "groove", "**", "*.mid"), recursive=True))

    class MusicgenGrooveFixture(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
                {"midi": tfds.features.Tensor(shape=(), dtype=tf.string)}))

        def _split_generators(self, dl_manager):
            return {"validation": self._generate_examples(files)}

        def _generate_examples(self, paths):
            for path in paths:
                with open(path, "rb") as f:
                    yield os.path.basename(path), {"midi": f.read()}

    MusicgenGrooveFixture(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    config = Config(GrooveConverter(split_bars=4, hop_size=16), HParams(max_seq_len=64, batch_size=8))
    via_tfds = _collect(input_lib.make_dataset(config, "validation",
                                               tfds_name="musicgen_groove_fixture",
                                               tfds_data_dir=str(tmp_path / "tfds")))
    expected = list(input_lib.convert_note_sequences(
        [midi_io.midi_file_to_note_sequence(f) for f in files], config, is_training=False))
    assert len(via_tfds["lengths"]) == len(expected) > 0
    key = lambda a: a.tobytes()  # noqa: E731 — TFDS may store the records in another order
    assert sorted(map(key, via_tfds["outputs"])) == sorted(key(e[1]) for e in expected)
    with pytest.raises(FileNotFoundError, match="not prepared"):
        list(input_lib.make_dataset(config, "validation", tfds_name="musicgen_groove_fixture",
                                    tfds_data_dir=str(tmp_path / "elsewhere")))
