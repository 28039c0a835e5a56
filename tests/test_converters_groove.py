"""GrooveConverter: Magenta data_test.py GrooveConverterTest cases plus exact tensors.

Sequences are built in code (as Magenta's tests: 120 qpm, 4/4, 0.125 s per 16th step);
expected arrays are written out as (step, class, velocity, offset) tables.
"""
import glob
import os

import numpy as np
import pytest
from note_seq import testing_lib
from note_seq.protobuf import music_pb2

from conftest import SHARED_DATA, TEST_DATA
from musicgen.converters.groove import (REDUCED_DRUM_PITCH_CLASSES, ROLAND_DRUM_PITCH_CLASSES,
                                        GrooveConverter)

KICK, SNARE, CLOSED_HH, TAP = (REDUCED_DRUM_PITCH_CLASSES[i][0] for i in range(4))

ONE_BAR = [  # (pitch, velocity, start, end) as Magenta's one_bar_sequence
    (KICK, 80, 0, 0.125), (CLOSED_HH, 72, 0, 0.125),
    (CLOSED_HH, 127, 0.26125, 0.375),  # not on the beat
    (SNARE, 103, 0.5, 0.625), (CLOSED_HH, 107, 0.5, 0.625), (CLOSED_HH, 80, 0.75, 0.825),
    (KICK, 80, 1, 1.125), (CLOSED_HH, 80, 1, 1.125), (CLOSED_HH, 80, 1.25, 1.375),
    (SNARE, 82, 1.523, 1.625),  # not on the beat
    (CLOSED_HH, 80, 1.5, 1.625), (CLOSED_HH, 80, 1.75, 1.825)]
# The same bar as a table (step, class, velocity, offset), offset = 2 * (grid - onset) / step.
ONE_BAR_CELLS = [
    (0, 0, 80, 0.0), (0, 2, 72, 0.0), (2, 2, 127, -0.18), (4, 1, 103, 0.0), (4, 2, 107, 0.0),
    (6, 2, 80, 0.0), (8, 0, 80, 0.0), (8, 2, 80, 0.0), (10, 2, 80, 0.0), (12, 1, 82, -0.368),
    (12, 2, 80, 0.0), (14, 2, 80, 0.0)]
TWO_BAR = [
    (KICK, 80, 0, 0.125), (CLOSED_HH, 72, 0, 0.125), (CLOSED_HH, 127, 0.26, 0.375),
    (SNARE, 103, 0.5, 0.625), (CLOSED_HH, 107, 0.5, 0.625), (CLOSED_HH, 80, 0.75, 0.825),
    (KICK, 80, 1, 1.125), (CLOSED_HH, 80, 1, 1.125), (CLOSED_HH, 80, 1.25, 1.375),
    (SNARE, 80, 1.5, 1.625), (CLOSED_HH, 80, 1.5, 1.625), (CLOSED_HH, 80, 1.75, 1.825),
    (KICK, 80, 2, 2.125), (CLOSED_HH, 72, 2, 2.125), (CLOSED_HH, 127, 2.25, 2.375),
    (SNARE, 103, 2.5, 2.625), (CLOSED_HH, 107, 2.5, 2.625), (CLOSED_HH, 80, 2.75, 2.825),
    (KICK, 80, 3.06, 3.125),  # not on the beat
    (CLOSED_HH, 109, 3, 3.125), (CLOSED_HH, 80, 3.25, 3.375), (SNARE, 80, 3.5, 3.625),
    (CLOSED_HH, 80, 3.50, 3.625), (CLOSED_HH, 90, 3.75, 3.825)]
TAP_BAR = [  # tapify(ONE_BAR): loudest hit of each step, on the open hi-hat
    (TAP, 80, 0, 0.125), (TAP, 127, 0.26125, 0.375), (TAP, 107, 0.5, 0.625),
    (TAP, 80, 0.75, 0.825), (TAP, 80, 1, 1.125), (TAP, 80, 1.25, 1.375),
    (TAP, 82, 1.523, 1.625), (TAP, 80, 1.75, 1.825)]
QUANTIZED_BAR = [  # humanize(ONE_BAR): on the grid, velocity 0
    (KICK, 0, 0, 0), (CLOSED_HH, 0, 0, 0), (CLOSED_HH, 0, 0.25, 0), (SNARE, 0, 0.5, 0),
    (CLOSED_HH, 0, 0.5, 0), (CLOSED_HH, 0, 0.75, 0), (KICK, 0, 1, 0), (CLOSED_HH, 0, 1, 0),
    (CLOSED_HH, 0, 1.25, 0), (SNARE, 0, 1.5, 0), (CLOSED_HH, 0, 1.5, 0),
    (CLOSED_HH, 0, 1.75, 0)]


def make_seq(notes, qpm=120, numerator=4, denominator=4, is_drum=True):
    ns = music_pb2.NoteSequence(ticks_per_quarter=240)
    ns.tempos.add(qpm=qpm)
    ns.time_signatures.add(numerator=numerator, denominator=denominator)
    testing_lib.add_track_to_sequence(ns, 9, notes, is_drum=is_drum)
    return ns


def expected_tensor(cells, num_steps=16, num_drums=9):
    out = np.zeros((num_steps, 3 * num_drums), np.float32)
    for step, drum, velocity, offset in cells:
        out[step, drum] = 1
        out[step, num_drums + drum] = velocity / 127
        out[step, 2 * num_drums + drum] = offset
    return out


def note_tuples(notes):
    return [(n.pitch, n.velocity, n.start_time) for n in notes]


def assert_notes(expected, actual, time_tol=1e-6, velocity_tol=0):
    """Same count, same pitches; start times and velocities within tolerance."""
    expected = [(p, v, s) for p, v, s, _ in expected] if expected and len(expected[0]) == 4 \
        else expected
    actual = note_tuples(actual)
    assert len(actual) == len(expected), (actual, expected)
    for (p1, v1, s1), (p2, v2, s2) in zip(expected, actual):
        assert p1 == p2, (expected, actual)
        assert abs(v1 - v2) <= velocity_tol, (v1, v2)
        assert abs(s1 - s2) <= time_tol, (s1, s2)


def sorted_by_step(notes):
    """Magenta decodes step by step, class by class: order the expected notes the same way."""
    classes = GrooveConverter().pitch_class_map
    return sorted(notes, key=lambda n: (round(n[2] / 0.125), classes[n[0]]))


def test_one_bar_exact_tensor_and_round_trip():
    conv = GrooveConverter(split_bars=None, max_tensors_per_notesequence=5)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert len(t) == 1 and t.lengths == [16]
    assert t.outputs[0].dtype == np.float32 and t.inputs[0].dtype == np.float32
    np.testing.assert_allclose(t.outputs[0], expected_tensor(ONE_BAR_CELLS), atol=1e-6)
    np.testing.assert_array_equal(t.inputs[0], t.outputs[0])
    assert t.controls[0].shape == (16, 0)
    seqs = conv.from_tensors(t.outputs)
    assert len(seqs) == 1
    assert_notes(ONE_BAR, seqs[0].notes)
    assert seqs[0].tempos[0].qpm == 120
    assert all(n.is_drum and n.instrument == 9 for n in seqs[0].notes)
    assert seqs[0].notes[2].end_time == pytest.approx(0.26125 + 0.125)


def test_two_bar_round_trip_and_padding_to_whole_bar():
    conv = GrooveConverter(split_bars=None)
    t = conv.to_tensors(make_seq(TWO_BAR))
    assert t.outputs[0].shape == (32, 27)
    assert_notes(sorted_by_step(TWO_BAR), conv.from_tensors(t.outputs)[0].notes)
    # Notes up to step 16 round up to two bars; an empty bar after the notes is not added.
    t = conv.to_tensors(make_seq([(KICK, 90, 2.0, 2.1)]))
    assert t.outputs[0].shape == (32, 27)
    assert t.outputs[0][:, 0].nonzero()[0].tolist() == [16]


def test_slicing_one_bar_windows():
    conv = GrooveConverter(split_bars=1, max_tensors_per_notesequence=5)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert [o.shape for o in t.outputs] == [(16, 27)]
    t = conv.to_tensors(make_seq(TWO_BAR))
    assert [o.shape for o in t.outputs] == [(16, 27), (16, 27)]
    seqs = conv.from_tensors(t.outputs)
    assert len(seqs) == 2
    first = [n for n in TWO_BAR if n[2] < 2]
    second = [(p, v, s - 2, e - 2) for p, v, s, e in TWO_BAR if s >= 2]
    assert_notes(sorted_by_step(first), seqs[0].notes)
    assert_notes(sorted_by_step(second), seqs[1].notes)


def test_tapify():
    conv = GrooveConverter(split_bars=None, tapify=True)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes)
    assert_notes(TAP_BAR, conv.from_tensors(t.inputs)[0].notes)
    # Only the open hi-hat channel (class 3) carries input hits.
    assert set(np.nonzero(t.inputs[0][:, :9])[1].tolist()) == {3}


def test_tapify_with_fixed_velocities():
    conv = GrooveConverter(split_bars=None, tapify=True, fixed_velocities=True)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes)
    # Magenta decodes the fixed (zero) tap velocities as velocity 0, a MIDI note-off: clipped to 1.
    assert_notes([(p, 1, s, e) for p, _, s, e in TAP_BAR], conv.from_tensors(t.inputs)[0].notes)


def test_tapify_with_note_dropout():
    tap = GrooveConverter(split_bars=None, tapify=True, fixed_velocities=True)
    drop = GrooveConverter(split_bars=None, tapify=True, fixed_velocities=True,
                           max_note_dropout_probability=0.8)
    seq = make_seq(ONE_BAR)
    n_tap = len(tap.from_tensors(tap.to_tensors(seq).inputs)[0].notes)
    counts = []
    for seed in range(20):
        drop.seed(seed)
        t = drop.to_tensors(seq)
        assert_notes(ONE_BAR, drop.from_tensors(t.outputs)[0].notes)
        counts.append(len(drop.from_tensors(t.inputs)[0].notes))
    assert max(counts) <= n_tap == 8
    assert min(counts) < n_tap  # dropout really drops
    drop.seed(3)
    a = drop.to_tensors(seq).inputs[0]
    drop.seed(3)
    np.testing.assert_array_equal(a, drop.to_tensors(seq).inputs[0])  # seeded = reproducible


def test_note_dropout_keeps_a_subset_of_hits():
    conv = GrooveConverter(split_bars=None, max_note_dropout_probability=1.0)
    conv.seed(0)
    t = conv.to_tensors(make_seq(TWO_BAR))
    in_hits, out_hits = t.inputs[0][:, :9], t.outputs[0][:, :9]
    assert np.all(in_hits <= out_hits) and in_hits.sum() < out_hits.sum()
    kept = in_hits.astype(bool)
    np.testing.assert_array_equal(t.inputs[0][:, 9:18][kept], t.outputs[0][:, 9:18][kept])


def test_humanize():
    conv = GrooveConverter(split_bars=None, humanize=True)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes)
    # Magenta decodes the zeroed input velocities as 0 (a MIDI note-off): clipped to 1 here.
    assert_notes([(p, 1, s, e) for p, _, s, e in QUANTIZED_BAR],
                 conv.from_tensors(t.inputs)[0].notes)
    np.testing.assert_array_equal(t.inputs[0][:, 9:], 0)


def test_add_instruments_removes_drums_from_inputs_only():
    seq = make_seq(ONE_BAR)
    for removed, drop_pitch in ((2, CLOSED_HH), (1, SNARE)):
        conv = GrooveConverter(split_bars=None, add_instruments=[removed])
        t = conv.to_tensors(seq)
        assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes)
        assert_notes([n for n in ONE_BAR if n[0] != drop_pitch],
                     conv.from_tensors(t.inputs)[0].notes)
        for block in range(3):
            np.testing.assert_array_equal(t.inputs[0][:, 9 * block + removed], 0)


def test_categorical():
    conv = GrooveConverter(split_bars=None, add_instruments=[3], num_velocity_bins=32,
                           num_offset_bins=32)
    t = conv.to_tensors(make_seq(ONE_BAR))
    out = t.outputs[0]
    assert out.shape == (16, 585) and conv.output_depth == 585
    vel = out[:, 9:9 + 9 * 32].reshape(16, 9, 32)
    off = out[:, 9 + 9 * 32:].reshape(16, 9, 32)
    np.testing.assert_array_equal(vel.sum(-1), 1)
    np.testing.assert_array_equal(off.sum(-1), 1)
    # Bins as np.digitize(v, linspace(lo, hi + 1e-4, 32), right=True).
    assert vel[0, 0].argmax() == 20 and vel[2, 2].argmax() == 31 and vel[1, 0].argmax() == 0
    assert off[0, 0].argmax() == 16 and off[2, 2].argmax() == 13 and off[12, 1].argmax() == 10
    # All steps are decoded (Magenta decodes only the first 16 // 9 steps here: fixed).
    seq = conv.from_tensors(t.outputs)[0]
    assert_notes(ONE_BAR, seq.notes, time_tol=0.005, velocity_tol=4)
    assert note_tuples(seq.notes)[2] == (CLOSED_HH, 123, 0.26171875)


def test_continuous_split_instruments():
    conv = GrooveConverter(split_bars=None, split_instruments=True)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert t.outputs[0].shape == (16 * 9, 3) and t.controls[0].shape == (16 * 9, 9)
    assert t.controls[0].dtype == np.bool_
    np.testing.assert_array_equal(t.controls[0].argmax(-1), np.arange(144) % 9)
    # Row 9 * step + drum holds (hit, velocity, offset) of that drum.
    full = expected_tensor(ONE_BAR_CELLS)
    np.testing.assert_allclose(t.outputs[0][9 * 2 + 2], [1, 1.0, -0.18], atol=1e-6)
    np.testing.assert_allclose(t.outputs[0][:, 0], full[:, :9].reshape(-1))
    assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes)


def test_categorical_split_instruments():
    conv = GrooveConverter(split_bars=None, num_velocity_bins=32, num_offset_bins=32,
                           split_instruments=True)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert t.outputs[0].shape == (16 * 9, 585 // 9) and t.controls[0].shape == (16 * 9, 9)
    np.testing.assert_array_equal(t.controls[0].argmax(-1), np.arange(144) % 9)
    assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes, time_tol=0.005,
                 velocity_tol=4)


def test_cycle_data_hop_size():
    conv = GrooveConverter(split_bars=1, hop_size=4, max_tensors_per_notesequence=5)
    full = GrooveConverter(split_bars=None).to_tensors(make_seq(TWO_BAR)).outputs[0]
    t = conv.to_tensors(make_seq(TWO_BAR))
    assert len(t) == 5 and len(conv.from_tensors(t.outputs)) == 5
    for k, out in enumerate(t.outputs):
        np.testing.assert_array_equal(out, full[4 * k:4 * k + 16])


def test_cycle_data_split_instruments():
    conv = GrooveConverter(split_bars=1, hop_size=4, max_tensors_per_notesequence=10,
                           split_instruments=True)
    t = conv.to_tensors(make_seq(TWO_BAR))
    assert len(t.outputs) == len(t.controls) == 5
    assert all(o.shape == (144, 3) for o in t.outputs)
    assert all(c.shape == (144, 9) for c in t.controls)
    seq = conv.from_tensors(t.outputs)[0]
    assert_notes(sorted_by_step([n for n in TWO_BAR if n[2] < 2]), seq.notes)
    assert seq.notes[-1].start_time == 1.75


def test_max_tensors_is_not_applied_as_magenta():
    conv = GrooveConverter(split_bars=1, hop_size=4, max_tensors_per_notesequence=2)
    conv.set_mode("train")
    assert len(conv.to_tensors(make_seq(TWO_BAR))) == 5
    assert conv.max_tensors_per_notesequence == 2


def test_hits_as_controls():
    conv = GrooveConverter(split_bars=None, hits_as_controls=True)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert t.controls[0].shape == (16, 9) and conv.control_depth == 9
    np.testing.assert_array_equal(t.controls[0], expected_tensor(ONE_BAR_CELLS)[:, :9] > 0)
    conv = GrooveConverter(split_bars=None, split_instruments=True, hits_as_controls=True)
    t = conv.to_tensors(make_seq(TWO_BAR))
    assert t.controls[0].shape == (32 * 9, 10) and conv.control_depth == 10
    np.testing.assert_array_equal(t.controls[0][:, 0], t.outputs[0][:, 0] > 0)


def test_small_drum_set():
    r = REDUCED_DRUM_PITCH_CLASSES
    small = [r[0], r[1] + r[4] + r[5] + r[6], r[2] + r[8], r[3] + r[7]]
    conv = GrooveConverter(split_bars=None, pitch_classes=small)
    t = conv.to_tensors(make_seq(ONE_BAR))
    assert t.outputs[0].shape == (16, 12)
    assert_notes(ONE_BAR, conv.from_tensors(t.outputs)[0].notes)


def test_mode_mappings():
    conv = GrooveConverter(split_bars=None, pitch_classes=[[0, 1], [2, 3]],
                           inference_pitch_classes=[[1, 2], [3, 0]])
    seq = make_seq([(0, 50, 0, 0), (1, 60, 0.25, 0.25), (2, 70, 0.5, 0.5), (3, 80, 0.75, 0.75)])
    default = [(0, 50, 0.0), (0, 60, 0.25), (2, 70, 0.5), (2, 80, 0.75)]
    for mode in ("eval", "train"):
        conv.set_mode(mode)
        assert note_tuples(conv.from_tensors(conv.to_tensors(seq).outputs)[0].notes) == default
    conv.set_mode("infer")
    assert note_tuples(conv.from_tensors(conv.to_tensors(seq).outputs)[0].notes) == [
        (3, 50, 0.0), (1, 60, 0.25), (1, 70, 0.5), (3, 80, 0.75)]


def test_roland_and_reduced_classes_by_mode():
    conv = GrooveConverter(split_bars=None, pitch_classes=ROLAND_DRUM_PITCH_CLASSES,
                           inference_pitch_classes=REDUCED_DRUM_PITCH_CLASSES)
    seq = make_seq([(58, 100, 0, 0.1), (26, 90, 0.25, 0.3)])  # vibraslap/tom, hi-hat edge
    assert np.nonzero(conv.to_tensors(seq).outputs[0][:, :9])[1].tolist() == [4, 3]
    conv.set_mode("infer")
    out = conv.to_tensors(seq).outputs[0]
    assert np.nonzero(out[:, :9])[1].tolist() == [7, 3]
    assert [n.pitch for n in conv.from_tensors([out])[0].notes] == [49, 46]
    assert conv.pitch_classes is conv._infer_pitch_classes


def test_loudest_hit_per_step_and_class_wins():
    seq = make_seq([(38, 60, 0.0, 0.1), (40, 90, 0.01, 0.1), (37, 90, 0.02, 0.1),
                    (36, 10, 0.03, 0.1)])
    out = GrooveConverter().to_tensors(seq).outputs[0]
    # snare class: velocity 90, first of the tied notes (onset 0.01 s -> offset -0.16).
    np.testing.assert_allclose(out[0, [1, 10, 19]], [1, 90 / 127, -0.16], atol=1e-6)
    np.testing.assert_allclose(out[0, [0, 9, 18]], [1, 10 / 127, -0.48], atol=1e-6)
    assert out[:, :9].sum() == 2


def test_offsets_span_half_a_step_each_way():
    # 120 qpm: 0.125 s steps; the grid point nearest the onset wins.
    seq = make_seq([(36, 100, 0.0624, 0.1), (38, 100, 0.0626, 0.1), (42, 100, 0.3, 0.4)])
    out = GrooveConverter().to_tensors(seq).outputs[0]
    np.testing.assert_allclose(out[0, 18], -0.9984, atol=1e-6)
    np.testing.assert_allclose(out[1, 19], 0.9984, atol=1e-6)
    np.testing.assert_allclose(out[2, 20], -0.8, atol=1e-6)
    assert np.all(np.abs(out[:, 18:]) <= 1)


def test_tempo_scales_offsets_and_decoding():
    seq = make_seq([(36, 100, 0.0, 0.1), (38, 64, 0.51, 0.6)], qpm=60)  # 0.25 s steps
    conv = GrooveConverter()
    out = conv.to_tensors(seq).outputs[0]
    np.testing.assert_allclose(out[2, 19], -0.08, atol=1e-6)
    assert_notes([(36, 100, 0.0), (38, 64, 0.51)], conv.from_tensors([out], qpm=60)[0].notes)
    # Magenta's default decoding tempo is 120 qpm: the same tensor plays twice as fast.
    assert_notes([(36, 100, 0.0), (38, 64, 0.255)], conv.from_tensors([out])[0].notes)


def test_decoding_clips_velocity_and_offset():
    sample = np.zeros((16, 27), np.float32)
    sample[3, [0, 9, 18]] = [0.7, 1.4, 3.0]
    sample[5, [1, 10, 19]] = [0.4, 0.9, 0.0]  # not a hit
    sample[6, [2, 11, 20]] = [0.9, -0.2, -5.0]
    sample[7, [8, 17, 26]] = [1.0, 0.7, 0.5]  # velocity 88.9 rounds to 89
    notes = note_tuples(GrooveConverter().from_tensors([sample])[0].notes)
    # velocity -0.2 clips to 1, not 0: a velocity-0 note-on is a note-off and would vanish
    assert notes == [(36, 127, pytest.approx(0.3125)), (42, 1, pytest.approx(0.8125)),
                     (51, 89, pytest.approx(0.84375))]


@pytest.mark.parametrize("seq, reason", [
    (make_seq(ONE_BAR, numerator=3), "3/4 bar"),
    (make_seq([]), "no notes"),
])
def test_sequences_without_tensors(seq, reason):
    assert len(GrooveConverter(split_bars=1).to_tensors(seq)) == 0, reason


def test_tempo_change_and_short_sequence_give_no_tensors():
    seq = make_seq(ONE_BAR)
    seq.tempos.add(qpm=90, time=1.0)
    assert len(GrooveConverter().to_tensors(seq)) == 0
    assert len(GrooveConverter(split_bars=2).to_tensors(make_seq(ONE_BAR))) == 0


def test_unknown_pitch_is_a_clear_error():
    with pytest.raises(ValueError, match="pitch 39"):
        GrooveConverter().to_tensors(make_seq([(39, 100, 0, 0.1)]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_velocity_bins=8), "together"),
    (dict(hop_size=4), "hop_size needs split_bars"),
    (dict(pitch_classes=[[36]], inference_pitch_classes=[[36], [38]]), "same number"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GrooveConverter(**kwargs)


def test_groovae_4bar_depths():
    conv = GrooveConverter(split_bars=4, steps_per_quarter=4, quarters_per_bar=4,
                           max_tensors_per_notesequence=20,
                           pitch_classes=ROLAND_DRUM_PITCH_CLASSES,
                           inference_pitch_classes=REDUCED_DRUM_PITCH_CLASSES)
    assert (conv.input_depth, conv.output_depth, conv.control_depth) == (27, 27, 0)
    assert conv.input_dtype == conv.output_dtype == np.float32 and conv.end_token is False
    assert (conv.num_drums, conv.steps_per_bar, conv.split_bars, conv.categorical_outputs) == (
        9, 16, 4, False)


GROOVE_FIXTURES = sorted(glob.glob(os.path.join(TEST_DATA, "groove", "**", "*.mid"),
                                   recursive=True))


def read_midi(path):
    try:
        from musicgen.midi_io import midi_file_to_note_sequence
    except ImportError:
        from note_seq.midi_io import midi_file_to_note_sequence
    return midi_file_to_note_sequence(path)


def check_real_file(path):
    """Each decoded window of a real Groove file matches the performance note for note.

    Every decoded note is an original note (class, exact velocity, onset within 1 us, or at the
    window start for a hit pushed up to half a step before it); every
    original note inside the window is represented by a decoded note of its class at most a
    step away and at least as loud (only the loudest hit per step and class is kept).
    """
    conv = GrooveConverter(split_bars=4, max_tensors_per_notesequence=20)
    ns = read_midi(path)
    t = conv.to_tensors(ns)
    qpm = ns.tempos[0].qpm if ns.tempos else 120.0
    step = 60.0 / qpm / 4
    cmap = conv.pitch_class_map
    orig = np.array([(cmap[n.pitch], n.velocity, n.start_time) for n in ns.notes])
    for k, (inp, out) in enumerate(zip(t.inputs, t.outputs)):
        assert out.shape == (64, 27) and np.array_equal(inp, out)
        assert np.all(np.abs(out[:, 18:]) <= 1) and out[:, :9].any()
        np.testing.assert_array_equal(out[:, 9:18] > 0, out[:, :9] > 0)  # Groove has no vel. 0
        start = k * 64 * step
        dec = np.array([(cmap[n.pitch], n.velocity, n.start_time + start)
                        for n in conv.from_tensors([out], qpm=qpm)[0].notes])
        assert len(dec) == int(out[:, :9].sum())
        for d, v, onset in dec:
            same = (orig[:, 0] == d) & (orig[:, 1] == v)
            exact = same & (np.abs(orig[:, 2] - onset) < 1e-6)
            # a hit pushed before the window's first step is decoded at the window's 0 s
            clamped = same & (onset == start) & (orig[:, 2] < start) & (orig[:, 2] >= start - 0.5 * step)
            assert np.any(exact | clamped), (path, k, d, v, onset)
        inside = (orig[:, 2] >= start - 0.49 * step) & (orig[:, 2] < start + 63.49 * step)
        for d, v, onset in orig[inside]:
            assert np.any((dec[:, 0] == d) & (dec[:, 1] >= v)
                          & (np.abs(dec[:, 2] - onset) < step)), (path, k, d, v, onset)
    return len(t)


@pytest.mark.skipif(not GROOVE_FIXTURES, reason="tests/data/groove fixtures not present")
def test_real_groove_fixtures_round_trip():
    assert sum(check_real_file(path) for path in GROOVE_FIXTURES) > 0


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "groove")),
                    reason="shared Groove data not present")
def test_shared_groove_files_round_trip():
    root = os.path.join(SHARED_DATA, "groove", "drummer1", "eval_session")
    paths = sorted(glob.glob(os.path.join(root, "*_4-4.mid")))[:6]
    assert len(paths) == 6
    assert sum(check_real_file(path) for path in paths) > 0


@pytest.mark.parametrize("categorical", [False, True])
def test_zero_velocity_hits_are_written_at_velocity_1(tmp_path, categorical):
    """A hit decoded with velocity 0 would be a MIDI note-off: it is clipped to 1 and kept."""
    from musicgen import midi_io
    conv = (GrooveConverter(split_bars=1, num_velocity_bins=8, num_offset_bins=8) if categorical
            else GrooveConverter(split_bars=1))
    d = len(conv.pitch_classes)
    sample = np.zeros((16, conv.output_depth), np.float32)
    if categorical:
        sample[0, 0] = 1.0                       # hit, velocity bin 0, offset bin 4 (centre)
        sample[0, d] = 1.0
        sample[0, d + 8 * d + 4] = 1.0
    else:
        sample[0, 0] = 1.0                       # hit of class 0 with velocity 0.0
    (ns,) = conv.from_tensors([sample])
    assert [n.velocity for n in ns.notes] == [1]
    path = str(tmp_path / "v.mid")
    midi_io.note_sequence_to_midi_file(ns, path)
    assert len(midi_io.midi_file_to_note_sequence(path).notes) == 1
