"""Token-LM data and commands: token windows <-> MIDI, int64 Example shards with the vocabulary in
spec.json, tf.data batches with a padding mask, and train (+ resume) / evaluate / export / generate
through the same commands as the VAEs. Fixtures: piano NoteSequences made in code."""
import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import configs
from lm_testlib import LM_CONFIG, TINY_LM, export_tiny_lm, piano_sequence, write_piano_shards
from musicgen import checkpoints, evaluate, generate, midi_io, train
from musicgen.config import converter_for, get_config
from musicgen.converters.token_utils import BOS_ID, EOS_ID, NUM_RESERVED
from musicgen.datasets import input as input_lib
from musicgen.datasets.convert import Conversion
from musicgen.trained_lm import TrainedLM
from pipelines import make_examples


@pytest.fixture(scope="module")
def ns_dir(tmp_path_factory):
    return write_piano_shards(tmp_path_factory.mktemp("piano_ns"))


@pytest.fixture(scope="module")
def config():
    return get_config(LM_CONFIG, TINY_LM)[1]


# ---- tokens -------------------------------------------------------------------------------------
def test_tokens_midi_round_trip(tmp_path, config):
    """Events -> tokens -> NoteSequence -> MIDI file -> NoteSequence -> the same tokens."""
    conv = converter_for(config, "eval")
    ns = piano_sequence(400, seed=3, sustain=True)
    windows = conv.lm_windows(ns)
    assert len(windows) > 1 and windows[0][0] == BOS_ID and windows[-1][-1] == EOS_ID
    assert all(w[-1] != EOS_ID for w in windows[:-1])  # EOS only where the piece ends
    assert all(w.min() >= 1 and w.max() < conv.vocab_size for w in windows)
    tokens = conv.lm_encode_primer(ns)  # [BOS] + every event (sustain applied)
    decoded = conv.lm_decode(np.append(tokens, EOS_ID))
    path = str(tmp_path / "rt.mid")
    midi_io.note_sequence_to_midi_file(decoded, path)
    again = conv.lm_encode_primer(midi_io.midi_file_to_note_sequence(path))
    assert again.tolist() == tokens.tolist()
    assert len(decoded.notes) == len(ns.notes)
    # One window of a short piece: the same events, closed by EOS.
    short = piano_sequence(20, seed=4)
    (window,) = conv.lm_windows(short)
    assert window[-1] == EOS_ID and window[:-1].tolist() == conv.lm_encode_primer(short).tolist()


def test_conversion_copies_the_converter_and_never_switches_the_config(config):
    shared = configs.CONFIG_MAP[LM_CONFIG].data_converter
    assert shared.mode == "eval"
    train_conv = Conversion(config, "train", seed=5)
    assert train_conv.converter is not shared and train_conv.converter.mode == "train"
    assert shared.mode == "eval"
    ns = piano_sequence(200, seed=1)
    a = [t.tolist() for t, _ in Conversion(config, "train", seed=5)(ns)]
    b = [t.tolist() for t, _ in Conversion(config, "train", seed=5)(ns)]
    plain = [t.tolist() for t, _ in Conversion(config, "eval")(ns)]
    assert a == b and a != plain  # stretched / transposed in train mode only


# ---- Example shards and tf.data -----------------------------------------------------------------
@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory, ns_dir, config):
    out = str(tmp_path_factory.mktemp("lm_examples"))
    make_examples.make_examples(config, os.path.join(ns_dir, "*.tfrecord"), out,
                                config_name=LM_CONFIG, num_workers=1)
    return out


def test_example_shards_store_int64_tokens_and_the_vocabulary(examples_dir, config):
    spec = json.load(open(os.path.join(examples_dir, "spec.json")))
    assert spec["format"] == "tokens" and spec["stored_dtype"] == "int64"
    assert spec["vocabulary"]["size"] == 391 and spec["vocabulary"]["reserved"] == {
        "PAD": 0, "EOS": 1, "BOS": 2}
    record = next(iter(tf.data.TFRecordDataset(glob.glob(os.path.join(examples_dir, "train-*")))))
    ex = tf.train.Example.FromString(record.numpy())
    tokens = list(ex.features.feature["tokens"].int64_list.value)
    assert tokens[0] == BOS_ID and ex.features.feature["length"].int64_list.value[0] == len(tokens)


def test_examples_and_note_sequence_input_give_the_same_batches(examples_dir, ns_dir, config):
    kw = dict(batch_size=3, is_training=False, repeat=False)
    from_ex = list(input_lib.make_dataset(config, "validation", examples_path=examples_dir, **kw))
    from_ns = list(input_lib.make_dataset(config, "validation", dataset_dir=ns_dir, **kw))
    assert len(from_ex) == len(from_ns) > 0
    for a, b in zip(from_ex, from_ns):
        assert set(a) == {"tokens", "lengths", "mask"}
        assert a["tokens"].dtype == tf.int32 and a["tokens"].shape[1] == config.hparams.max_seq_len
        for k in a:
            np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
        mask, lengths = a["mask"].numpy(), a["lengths"].numpy()
        np.testing.assert_array_equal(mask.sum(1), lengths)
        assert not a["tokens"].numpy()[~mask].any()  # PAD = 0 outside the mask


def test_shards_of_another_vocabulary_or_family_are_refused(examples_dir, tmp_path, config):
    spec = json.load(open(os.path.join(examples_dir, "spec.json")))
    other = tmp_path / "other"
    other.mkdir()
    spec["vocabulary"]["params"]["num_velocity_bins"] = 16
    (other / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="num_velocity_bins|vocabulary"):
        input_lib.make_dataset(config, "train", examples_path=str(other))
    groove = configs.CONFIG_MAP["groovae_4bar"]
    with pytest.raises(ValueError, match="format 'tokens'"):
        input_lib.make_dataset(groove, "train", examples_path=examples_dir)


def test_training_input_is_not_cached_and_augments_each_pass(ns_dir, config):
    ds = input_lib.make_dataset(config, "train", dataset_dir=ns_dir, batch_size=2, seed=3,
                                shuffle_buffer=1)
    first = [b["tokens"].numpy() for b in ds.take(12)]
    # 6 sequences x 1-2 windows: 12 batches of 2 cover more than one pass; later passes differ.
    flat = [tuple(r) for b in first for r in b]
    assert len(set(flat)) == len(flat)


# ---- train / evaluate / export / generate --------------------------------------------------------
@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, ns_dir):
    run_dir = str(tmp_path_factory.mktemp("lm_run"))
    step = train.train(LM_CONFIG, run_dir, num_steps=3, hparams_str=TINY_LM,
                       input_kwargs={"dataset_dir": ns_dir, "seed": 1}, save_checkpoint_steps=2,
                       log_every=1, progress=False)
    assert step == 3
    return run_dir


def test_train_resumes_and_checkpoints_carry_the_vocabulary(lm_run, ns_dir, tmp_path):
    import shutil
    run_dir = str(tmp_path / "run")
    shutil.copytree(lm_run, run_dir)
    meta = checkpoints.read_metadata(checkpoints.latest_checkpoint(run_dir))
    assert meta["step"] == 3 and meta["vocabulary"]["size"] == 391
    assert train.train(LM_CONFIG, run_dir, num_steps=5, hparams_str=TINY_LM,
                       input_kwargs={"dataset_dir": ns_dir}, progress=False) == 5
    _, model = checkpoints.load_for_inference(run_dir)
    assert int(model.global_step.numpy()) == 5


def test_evaluate_prints_nll_beside_uniform_and_unigram_floors(lm_run, ns_dir, tmp_path):
    fv = evaluate.define_flags(flags.FlagValues())
    fv(["evaluate", f"--config={LM_CONFIG}", f"--checkpoint={lm_run}", f"--dataset_dir={ns_dir}",
        "--split=test", f"--output_json={tmp_path / 'e.json'}"])
    report = evaluate.run(fv)
    rows = report["results"]
    assert set(rows) == {"trained", "uniform", "train unigram"}
    assert rows["uniform"]["nll"] == pytest.approx(math.log(391))
    assert rows["trained"]["tokens"] == rows["uniform"]["tokens"] == rows["train unigram"]["tokens"]
    assert rows["train unigram"]["nll"] < rows["uniform"]["nll"]
    for r in rows.values():
        assert r["perplexity"] == pytest.approx(math.exp(r["nll"]), rel=1e-6)
    assert "| train unigram |" in report["table"] and "NLL" in report["table"]
    via_train = train.evaluate(lm_run, "test", input_kwargs={"dataset_dir": ns_dir}, batch_size=64)
    assert via_train["results"] == json.loads(json.dumps(rows))


def test_export_checks_the_vocabulary_on_load(lm_run, tmp_path):
    path = train.export(lm_run, str(tmp_path / "prnn"))
    meta = json.load(open(str(tmp_path / "prnn.json")))
    assert meta["vocabulary"] == configs.CONFIG_MAP[LM_CONFIG].data_converter.lm_vocabulary()
    meta["vocabulary"]["size"] = 300
    open(str(tmp_path / "prnn.json"), "w").write(json.dumps(meta))
    with pytest.raises(ValueError, match="token vocabulary differs"):
        checkpoints.load_for_inference(path)


def run_generate(*argv):
    fv = generate.define_flags(flags.FlagValues())
    fv(["generate", *argv])
    return generate.run(fv)


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    return export_tiny_lm(tmp_path_factory.mktemp("lm_export"))


def test_generate_sample_writes_distinct_piano_midi(tiny_export, tmp_path):
    paths = run_generate(f"--checkpoint_file={tiny_export}", "--num_outputs=3",
                         "--max_events=200", "--seed=4", f"--output_dir={tmp_path}")
    assert len(paths) == 3
    names = sorted(os.path.basename(p) for p in paths)
    assert all(n.startswith(f"{LM_CONFIG}_sample_") and n.endswith(f"-of-003.mid") for n in names)
    seqs = [midi_io.midi_file_to_note_sequence(p) for p in paths]
    assert all(s.notes and not any(n.is_drum for n in s.notes) for s in seqs)
    assert len({tuple((n.pitch, round(n.start_time, 3)) for n in s.notes) for s in seqs}) == 3


def test_generate_continue_keeps_the_primer(tiny_export, tmp_path):
    primer = piano_sequence(40, seed=9)
    primer_path = str(tmp_path / "primer.mid")
    midi_io.note_sequence_to_midi_file(primer, primer_path)
    paths = run_generate(f"--checkpoint_file={tiny_export}", "--mode=continue",
                         f"--primer_midi={primer_path}", "--num_outputs=2", "--max_events=64",
                         "--seed=1", f"--output_dir={tmp_path / 'out'}")
    conv = converter_for(configs.CONFIG_MAP[LM_CONFIG], "eval")
    want = conv.lm_encode_primer(midi_io.midi_file_to_note_sequence(primer_path)).tolist()
    for p in paths:
        assert "_continue_" in os.path.basename(p)
        got = conv.lm_encode_primer(midi_io.midi_file_to_note_sequence(p)).tolist()
        assert got[:len(want)] == want and len(got) > len(want)


def test_trained_lm_continue_keeps_primer_events_exactly(tiny_export):
    name, cfg, model = checkpoints.load_model(tiny_export)
    lm = TrainedLM(name, cfg, model, seed=2)
    primer = piano_sequence(30, seed=5)
    prompt = lm.encode_primer(primer)
    rows = lm.generate_tokens(prompt, 2, 40)
    for row in rows:
        assert row[:len(prompt)].tolist() == prompt.tolist() and len(row) > len(prompt)
    assert lm.events_of(rows[0])[:len(prompt) - 1] == [t - NUM_RESERVED for t in prompt[1:]]


def test_generate_flag_errors_name_the_flag(tiny_export, tmp_path):
    with pytest.raises(generate.FlagError, match="--mode=interpolate: not a mode of"):
        run_generate(f"--checkpoint_file={tiny_export}", "--mode=interpolate")
    with pytest.raises(generate.FlagError, match="--primer_midi is required"):
        run_generate(f"--checkpoint_file={tiny_export}", "--mode=continue")
    with pytest.raises(generate.FlagError, match="--primer_midi: file not found"):
        run_generate(f"--checkpoint_file={tiny_export}", "--mode=continue",
                     "--primer_midi=/no/such.mid")
    drums = tmp_path / "drums.mid"
    ns = piano_sequence(10)
    for n in ns.notes:
        n.is_drum = True
    midi_io.note_sequence_to_midi_file(ns, str(drums))
    with pytest.raises(generate.FlagError, match="--primer_midi: no playable note"):
        run_generate(f"--checkpoint_file={tiny_export}", "--mode=continue",
                     f"--primer_midi={drums}", f"--output_dir={tmp_path}")


def test_bundled_performance_rnn_small_generates_and_continues(tmp_path):
    """No checkpoint flag: the bundled model of --config (shipped in the package, <= 30 MB)."""
    weights = checkpoints.pretrained_path(LM_CONFIG) + checkpoints.WEIGHTS_SUFFIX
    assert os.path.exists(weights) and os.path.getsize(weights) <= 30e6
    meta = checkpoints.read_metadata(weights)
    assert meta["config"] == LM_CONFIG and meta["vocabulary"]["size"] == 391
    paths = run_generate(f"--config={LM_CONFIG}", "--num_outputs=2", "--max_events=256",
                         "--seed=3", f"--output_dir={tmp_path / 's'}")
    seqs = [midi_io.midi_file_to_note_sequence(p) for p in paths]
    assert all(len(s.notes) > 10 for s in seqs)
    primer = str(tmp_path / "primer.mid")
    midi_io.note_sequence_to_midi_file(piano_sequence(30, seed=2), primer)
    (path,) = run_generate(f"--config={LM_CONFIG}", "--mode=continue", f"--primer_midi={primer}",
                           "--num_outputs=1", "--max_events=64", f"--output_dir={tmp_path / 'c'}")
    assert len(midi_io.midi_file_to_note_sequence(path).notes) > 30
