"""make_examples job: a converter over NoteSequence shards -> Example shards, spec.json, tf parse side."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import pipeline_testlib as lib
from musicgen.config import Config
from musicgen.converters.groove import GrooveConverter
from musicgen.families.vae import VAE
from musicgen.models.vae_hparams import VAEHParams
from musicgen.datasets import examples as examples_lib
from musicgen.datasets import tfrecord
from pipelines import convert_midi, make_examples


@pytest.fixture(scope="module")
def ns_dir(tmp_path_factory):
    groove = lib.make_groove_dir(str(tmp_path_factory.mktemp("groove")))
    out = str(tmp_path_factory.mktemp("groove_ns"))
    convert_midi.convert(out, "groove", groove, num_workers=1)
    return out


def _converter():
    return GrooveConverter(split_bars=2, max_tensors_per_notesequence=None)


def _config(converter=None):
    """A VAE-family config around the test converter (2 bars of 16 steps)."""
    return Config(family=VAE, model=None, data_converter=converter or _converter(),
                  hparams=VAEHParams(max_seq_len=32))


@pytest.fixture(scope="module")
def examples_out(tmp_path_factory, ns_dir):
    out = str(tmp_path_factory.mktemp("examples"))
    manifest = make_examples.make_examples(_config(), os.path.join(ns_dir, "*.tfrecord"), out,
                                           config_name="test-groove", num_workers=2)
    return out, manifest


def _expected_windows(ns_dir, split):
    conv = _converter()
    conv.set_mode("eval")
    tensors = [conv.to_tensors(ns) for ns in
               tfrecord.iterate_note_sequences(os.path.join(ns_dir, f"{split}-*.tfrecord"))]
    return tensors, [t for ts in tensors for t in zip(ts.inputs, ts.outputs, ts.controls, ts.lengths)]


def test_examples_equal_the_converter_tensors(ns_dir, examples_out):
    out, manifest = examples_out
    for split in ("train", "validation", "test"):
        _, windows = _expected_windows(ns_dir, split)
        records = list(tfrecord.iterate_records(os.path.join(out, f"{split}-*.tfrecord")))
        assert manifest["counts"][split] == len(records) == len(windows)
        for record, (inputs, outputs, controls, length) in zip(records, windows):
            got = examples_lib.decode_example(record)
            np.testing.assert_array_equal(got["inputs"], inputs.astype(np.float32))
            np.testing.assert_array_equal(got["outputs"], outputs.astype(np.float32))
            assert got["controls"].shape == controls.shape and int(got["lengths"]) == length
    # 4-bar 4/4 sequences give windows; the 1-bar fill gives none and 3/4 does not fit 4/4 bars
    assert manifest["counts"]["train"] > 0 and manifest["counts"]["validation"] == 0
    reasons = {os.path.basename(s["path"]): s["reason"] for s in manifest["skipped"]}
    assert reasons == {"2_funk_120_fill_4-4.mid": "converter produced no tensors",
                       "4_jazz-swing_140_beat_3-4.mid": "converter produced no tensors"}
    assert manifest["note_sequences"] == 5


def test_spec_json(examples_out):
    out, manifest = examples_out
    with open(os.path.join(out, "spec.json"), encoding="utf-8") as f:
        spec = json.load(f)
    conv = _converter()
    assert spec["config"] == "test-groove" and spec["converter"] == "GrooveConverter"
    assert (spec["input_depth"], spec["output_depth"], spec["control_depth"]) == (
        conv.input_depth, conv.output_depth, conv.control_depth)
    assert spec["max_seq_len"] == spec["observed_max_length"] == 32  # 2 bars of 16 steps
    assert spec["output_dtype"] == np.dtype(conv.output_dtype).name
    assert spec["counts"] == manifest["counts"] and spec["mode"] == "eval"


def test_tf_parse_side_gives_the_batch_format(ns_dir, examples_out):
    out, _ = examples_out
    spec = examples_lib.load_spec(out)
    files = sorted(glob.glob(os.path.join(out, "train-*.tfrecord")))
    max_len = 40  # longer than the windows: zero padding
    single = (tf.data.TFRecordDataset(files).map(examples_lib.make_parse_fn(spec, max_len))
              .batch(3).take(1).get_single_element())
    batched = (tf.data.TFRecordDataset(files).batch(3)
               .map(examples_lib.make_parse_fn(spec, max_len, batched=True)).take(1).get_single_element())
    _, windows = _expected_windows(ns_dir, "train")
    for batch in (single, batched):
        assert batch["inputs"].shape == (3, max_len, spec["input_depth"])
        assert batch["outputs"].dtype == tf.float32 and batch["lengths"].dtype == tf.int32
        assert batch["controls"].shape == (3, max_len, 0)
        np.testing.assert_array_equal(batch["lengths"].numpy(), [w[3] for w in windows[:3]])
        np.testing.assert_array_equal(batch["outputs"][0, :32].numpy(), windows[0][1].astype(np.float32))
        assert not batch["outputs"][:, 32:].numpy().any()


def test_rerun_identical_and_train_mode_seeded(tmp_path, ns_dir, examples_out):
    out, _ = examples_out
    pattern = os.path.join(ns_dir, "*.tfrecord")
    again = str(tmp_path / "again")
    make_examples.make_examples(_config(), pattern, again, config_name="test-groove", num_workers=1)
    for path in glob.glob(os.path.join(out, "*.tfrecord")):
        assert open(path, "rb").read() == open(os.path.join(again, os.path.basename(path)), "rb").read()
    conv = GrooveConverter(split_bars=2, max_tensors_per_notesequence=None,
                           max_note_dropout_probability=0.5)
    runs = []
    for i in range(2):
        d = str(tmp_path / f"train{i}")
        make_examples.make_examples(_config(conv), pattern, d, mode="train", seed=7, num_workers=1 + i)
        runs.append(b"".join(open(p, "rb").read() for p in sorted(glob.glob(d + "/*.tfrecord"))))
    assert runs[0] == runs[1]


def test_beam_runner_same_counts(tmp_path, ns_dir, examples_out):
    _, local = examples_out
    manifest = make_examples.make_examples(_config(), os.path.join(ns_dir, "*.tfrecord"),
                                           str(tmp_path), config_name="test-groove", runner="beam")
    assert manifest["counts"] == local["counts"]
    assert manifest["skipped"] == local["skipped"]


def test_config_lookup():
    config = make_examples.load_config("groovae_4bar")
    assert isinstance(config.data_converter, GrooveConverter)
    with pytest.raises(ValueError, match="groovae_4bar"):
        make_examples.load_config("no-such-config")
