"""TrainedModel on tiny real models (groovae_4bar and cat-mel_2bar_small with small hparams)."""
import os

import numpy as np
import pytest

from conftest import TEST_DATA
from generate_testlib import (TINY_GROOVE, TINY_MELODY, export_tiny, groove_sequence,
                              melody_sequence, note_tuples)
from musicgen import checkpoints, midi_io
from musicgen.converters.groove import REDUCED_DRUM_PITCH_CLASSES
from musicgen.trained_model import (MultipleExtractedExamplesError, NoExtractedExamplesError,
                                    TrainedModel, slerp)

GROOVE_PITCHES = {c[0] for c in REDUCED_DRUM_PITCH_CLASSES}


@pytest.fixture(scope="module")
def groove_ckpt(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("groove"), "groovae_4bar", TINY_GROOVE)


@pytest.fixture(scope="module")
def groove(groove_ckpt):
    return TrainedModel(checkpoint_path=groove_ckpt, batch_size=4)


@pytest.fixture(scope="module")
def melody(tmp_path_factory):
    path = export_tiny(tmp_path_factory.mktemp("melody"), "cat-mel_2bar_small", TINY_MELODY)
    return TrainedModel("cat-mel_2bar_small", path, batch_size=4)


def test_loads_config_and_hparams_from_checkpoint_json(groove):
    assert groove.config_name == "groovae_4bar"
    assert groove.z_size == 8 and groove.max_seq_len == 64
    assert groove.converter.mode == "infer"


def test_shared_config_converter_is_not_switched_to_infer(groove):
    import configs
    assert configs.CONFIG_MAP["groovae_4bar"].data_converter is not groove.converter
    assert configs.CONFIG_MAP["groovae_4bar"].data_converter.mode != "infer"


def test_sample_gives_n_distinct_4bar_drum_sequences(groove):
    seqs = groove.sample(n=5, temperature=1.0)   # n > batch_size: two model calls
    assert len(seqs) == 5
    for ns in seqs:
        assert ns.notes and all(n.is_drum for n in ns.notes)
        assert {n.pitch for n in ns.notes} <= GROOVE_PITCHES
        assert max(n.start_time for n in ns.notes) < 8.0 + 0.07  # 4 bars at 120 qpm
    assert len({tuple(note_tuples(ns)) for ns in seqs}) == 5


def test_same_z_greedy_samples_are_identical(groove):
    a, b, c = groove.sample(n=3, temperature=0.0, same_z=True)
    assert note_tuples(a) == note_tuples(b) == note_tuples(c)


def test_seed_makes_sampling_reproducible(groove_ckpt):
    runs = [TrainedModel(checkpoint_path=groove_ckpt, seed=7).sample(2, temperature=1.0)
            for _ in range(2)]
    assert [note_tuples(ns) for ns in runs[0]] == [note_tuples(ns) for ns in runs[1]]


def test_encode_returns_posterior_of_the_converter_window(groove):
    seqs = [groove_sequence(seed=0), groove_sequence(seed=1)]
    z, mu, sigma = groove.encode(seqs)
    assert z.shape == mu.shape == sigma.shape == (2, 8)
    assert np.all(sigma > 0) and not np.allclose(z, mu)
    window = groove.converter.to_tensors(seqs[0])
    x = np.zeros((1, 64, 27), np.float32)
    x[0, :len(window.inputs[0])] = window.inputs[0]
    _, mu_direct, _ = groove.model.encode(x, np.array([len(window.inputs[0])]))
    np.testing.assert_allclose(mu[0], mu_direct[0], rtol=1e-5, atol=1e-6)
    # batch_size 4 < 5 sequences: batching must not change the encodings
    _, mu5, _ = groove.encode([seqs[0]] * 5)
    np.testing.assert_allclose(mu5, np.repeat(mu[:1], 5, axis=0), rtol=1e-5, atol=1e-6)


def _as_drums(ns):
    for note in ns.notes:
        note.is_drum = True
    return ns


@pytest.mark.parametrize("make, why", [
    (lambda: groove_sequence(bars=0, filename="empty.mid"), "extracted no window"),
    (lambda: groove_sequence(numerator=3, filename="waltz.mid"), "3/4"),
    (lambda: _as_drums(melody_sequence(pitches=(100,), filename="odd.mid")), "pitch 100"),
    (lambda: melody_sequence(filename="piano.mid"), "no drum notes"),
])
def test_encode_error_names_the_input_and_why(groove, make, why):
    with pytest.raises(NoExtractedExamplesError) as err:
        groove.encode([make()])
    assert why in str(err.value)
    assert make().filename in str(err.value)


def test_encode_multiple_windows_raises_unless_first_window(groove):
    long = groove_sequence(bars=8, filename="long.mid")
    with pytest.raises(MultipleExtractedExamplesError, match=r"input 'long.mid': \d+ windows"):
        groove.encode([long])
    _, mu_long, _ = groove.encode([long], first_window=True)
    _, mu_first, _ = groove.encode([groove_sequence(bars=4)])
    np.testing.assert_allclose(mu_long, mu_first, rtol=1e-5, atol=1e-6)


def test_interpolation_endpoints_are_the_reconstructions(groove):
    a, b = groove_sequence(seed=0), groove_sequence(seed=5, filename="b.mid")
    steps = groove.interpolate(a, b, num_steps=4, temperature=0.0)
    assert len(steps) == 4
    _, mu, _ = groove.encode([a, b])
    first, last = groove.decode(mu, temperature=0.0)
    assert note_tuples(steps[0]) == note_tuples(first)
    assert note_tuples(steps[-1]) == note_tuples(last)


def test_reconstruct_of_a_real_groove_file(groove):
    path = os.path.join(TEST_DATA, "groove", "drummer7", "session1", "10_rock_93_beat_4-4.mid")
    ns = midi_io.midi_file_to_note_sequence(path)
    one = groove.reconstruct(ns, first_window=True, temperature=0.0)
    listed = groove.reconstruct([ns], first_window=True, temperature=0.0)
    assert not isinstance(one, list) and len(listed) == 1
    assert note_tuples(listed[0]) == note_tuples(one)
    assert all(n.is_drum for n in one.notes)


def test_slerp_endpoints_norm_and_parallel_fallback():
    p0, p1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(slerp(p0, p1, 0.0), p0, atol=1e-12)
    np.testing.assert_allclose(slerp(p0, p1, 1.0), p1, atol=1e-12)
    mid = slerp(p0, p1, 0.5)
    np.testing.assert_allclose(mid, [np.sqrt(0.5)] * 2)           # stays on the unit circle
    np.testing.assert_allclose(slerp(p0, 2 * p0, 0.5), 1.5 * p0)  # parallel: linear


def test_melody_model_sample_encode_interpolate(melody):
    seqs = melody.sample(n=3, temperature=1.0)
    assert len(seqs) == 3
    for ns in seqs:   # monophonic: no two notes overlap
        starts = sorted((n.start_time, n.end_time) for n in ns.notes)
        assert all(e <= s2 + 1e-6 for (_, e), (s2, _) in zip(starts, starts[1:]))
    up, down = melody_sequence(), melody_sequence(pitches=(72, 71, 69, 67, 65, 64, 62, 60))
    z, mu, sigma = melody.encode([up, down])
    assert mu.shape == (2, 8)
    steps = melody.interpolate(up, down, num_steps=3, temperature=0.0)
    assert len(steps) == 3
    assert note_tuples(steps[0]) == note_tuples(melody.reconstruct(up, temperature=0.0))


def test_default_loads_the_bundled_model_path(tmp_path, monkeypatch):
    export_tiny(tmp_path, "groovae_4bar", TINY_GROOVE, name="groovae_4bar")
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", str(tmp_path))
    tm = TrainedModel.default(seed=1)
    assert tm.config_name == "groovae_4bar" and len(tm.sample(2)) == 2
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="bundled model"):
        TrainedModel.default()


def test_constructor_needs_weights_or_model():
    with pytest.raises(ValueError, match="checkpoint_path or model"):
        TrainedModel("groovae_4bar")


def test_wraps_a_built_model_with_its_own_hparams():
    """model=...: the one-hot drums config (DrumsConverter) with the model's tiny hparams."""
    _, model = checkpoints.build_model_for("cat-drums_2bar_small", TINY_MELODY)
    tm = TrainedModel("cat-drums_2bar_small", model=model, seed=0)
    assert tm.z_size == 8 and tm.max_seq_len == 32
    seqs = tm.sample(2, temperature=1.0)
    assert len(seqs) == 2 and all(n.is_drum for ns in seqs for n in ns.notes)
    assert max(n.start_time for ns in seqs for n in ns.notes) < 4.0  # 2 bars at 120 qpm


def test_sample_api_traps_are_errors(groove):
    with pytest.raises(TypeError):
        groove.sample(4, 1.0)            # Magenta's positional length: keyword-only here
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="n must be a whole number >= 1"):
            groove.sample(bad)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
            groove.sample(2, temperature=bad)
    with pytest.raises(ValueError, match="length must be a whole number of steps >= 1"):
        groove.sample(2, length=1.0)
    assert len(groove.sample(2, length=16, temperature=0.5)) == 2


def _decoded(groove, last_step: int, first_offset: float = 0.0):
    """A decoded 4-bar groove (hi-hat 8ths) whose last hit is at 16th step `last_step`."""
    conv = groove.converter
    d = len(conv.pitch_classes)
    sample = np.zeros((64, 3 * d), np.float32)
    for step in range(0, last_step + 1, 2):
        sample[step, 2] = 1.0                        # closed hi-hat
        sample[step, d + 2] = 0.7
    sample[0, 0], sample[0, d] = 1.0, 0.9            # kick on 1, pushed early
    sample[0, 2 * d] = first_offset
    return conv.from_tensors([sample])[0]


def test_own_samples_with_silent_last_bars_encode_again_from_midi(groove, tmp_path):
    """The bar grid, not the last hit, sets a window: a groove whose bar 4 is silent still
    encodes after a MIDI round trip (NoExtractedExamplesError before)."""
    ns = _decoded(groove, last_step=40)                 # hits in bars 1-3 only
    assert ns.total_time == pytest.approx(8.0)         # 4 whole bars at 120 qpm
    path = str(tmp_path / "short.mid")
    midi_io.note_sequence_to_midi_file(ns, path)
    back = midi_io.midi_file_to_note_sequence(path)
    assert back.total_time < 6.0                       # note_seq: the last note's end
    assert groove.count_windows(back) == 1 and groove.count_windows(ns) == 1
    assert len(groove.reconstruct([back, ns])) == 2
    # training windows stay Magenta's: the shared converter extracts nothing from 3 bars
    from musicgen import config as config_lib
    assert not len(config_lib.converter_for(groove.config, "eval").to_tensors(back))


def test_written_groove_spans_its_bars_in_one_drum_track(groove, tmp_path):
    import mido
    path = str(tmp_path / "g.mid")
    midi_io.note_sequence_to_midi_file(_decoded(groove, last_step=40), path)
    mid = mido.MidiFile(path)
    assert mid.length == pytest.approx(8.0, abs=1e-3)    # ends at bar 5's downbeat
    tracks = [t for t in mid.tracks if any(m.type == "note_on" for m in t)]
    assert len(mid.tracks) == 2 and len(tracks) == 1   # conductor + drums, no empty track
    assert {m.channel for m in tracks[0] if m.type == "note_on"} == {9}


def test_early_first_hit_starts_at_zero_and_others_keep_their_offsets(groove):
    ns = _decoded(groove, last_step=62, first_offset=0.6)   # 0.3 of a 16th early
    kick = [n for n in ns.notes if n.pitch == 36]
    assert kick[0].start_time == 0.0
    assert min(n.start_time for n in ns.notes) == 0.0


def test_midi_paths_are_inputs_and_errors_name_the_file(groove, tmp_path):
    from note_seq.protobuf import music_pb2
    path = str(tmp_path / "short_groove.mid")
    midi_io.note_sequence_to_midi_file(groove_sequence(bars=4), path)
    assert len(groove.reconstruct([path])) == 1
    assert groove.count_windows(path) == 1
    waltz = str(tmp_path / "waltz.mid")
    midi_io.note_sequence_to_midi_file(groove_sequence(numerator=3), waltz)
    with pytest.raises(NoExtractedExamplesError, match="waltz.mid.*3/4"):
        groove.encode([path, waltz])
    with pytest.raises(NoExtractedExamplesError, match="missing.mid.*file not found"):
        groove.reconstruct(str(tmp_path / "missing.mid"))
    with pytest.raises(TypeError, match="list"):
        groove.encode(path)
    nameless = music_pb2.NoteSequence()
    nameless.CopyFrom(groove_sequence(numerator=3, filename=""))
    with pytest.raises(NoExtractedExamplesError, match=r"note_sequences\[0\] \(no filename"):
        groove.encode([nameless])


def test_a_piano_file_through_a_drum_model_is_refused_and_mixed_input_keeps_drums(groove):
    piano = melody_sequence(filename="piano.mid")
    with pytest.raises(NoExtractedExamplesError, match="piano.mid.*no drum notes.*8 notes are pitched"):
        groove.reconstruct(piano)
    mixed = groove_sequence(bars=4, filename="band.mid")
    drums_only = len(mixed.notes)
    for note in melody_sequence().notes:
        mixed.notes.add().CopyFrom(note)
    _, mu_mixed, _ = groove.encode([mixed])
    _, mu_drums, _ = groove.encode([groove_sequence(bars=4)])
    np.testing.assert_allclose(mu_mixed, mu_drums, atol=1e-6)   # the piano notes are ignored
    assert len(mixed.notes) > drums_only                        # the input is not modified
