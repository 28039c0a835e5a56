"""DrumsConverter: the cases of Magenta's data_test.py OneHotDrumsConverterTest,
RollInputsOneHotDrumsConverterTest and RollOutputsDrumsConverterTest (same sequences, same expected
tensors), plus the 61-class mode and round trips.

One-hot labels are bitmasks over the 9 classes (1 kick, 2 snare, 4 closed hh, ..., 256 ride).
"""
import numpy as np
import pytest
from note_seq import testing_lib

from converters_testlib import (argmax_all, assert_array_sets_equal, expected_sequence,
                                labels_to_inputs, new_sequence, notes_of)
from musicgen.converters.drums import (FULL_DRUM_PITCH_CLASSES, REDUCED_DRUM_PITCH_CLASSES,
                                       DrumsConverter)

UNSLICED = [np.array(x) for x in [
    (1, 5, 0, 0, 2, 0, 0, 0),
    (0, 1, 0, 0, 0, 2, 0, 0, 160, 0, 0, 256),
    (0, 2, 0, 0, 160, 0, 0, 256)]]
SLICED = [np.array(x) for x in [
    (1, 5, 0, 0, 2, 0, 0, 0),
    (0, 1, 0, 0, 0, 2, 0, 0),
    (0, 2, 0, 0, 160, 0, 0, 256)]]


def one_hot_sequence():
    seq = new_sequence(qpm=60)
    testing_lib.add_track_to_sequence(
        seq, 0, [(35, 100, 0, 10), (44, 55, 1, 2), (40, 45, 4, 5), (35, 45, 9, 10),
                 (40, 45, 13, 13), (55, 120, 16, 18), (60, 100, 16, 17), (53, 99, 19, 20)],
        is_drum=True)
    testing_lib.add_track_to_sequence(
        seq, 1, [(35, 55, 1, 2), (40, 45, 25, 26), (55, 120, 28, 30), (60, 100, 28, 29),
                 (53, 99, 31, 33)], is_drum=True)
    return seq


def roll_sequence():
    seq = new_sequence(qpm=60)
    testing_lib.add_track_to_sequence(
        seq, 0, [(35, 100, 0, 10), (35, 55, 1, 2), (44, 55, 1, 2), (40, 45, 4, 5),
                 (35, 45, 9, 10), (40, 45, 13, 13), (55, 120, 16, 18), (60, 100, 16, 17),
                 (53, 99, 19, 20), (40, 45, 33, 34), (55, 120, 36, 37), (60, 100, 36, 37),
                 (53, 99, 39, 42)], is_drum=True)
    testing_lib.add_track_to_sequence(
        seq, 1, [(35, 100, 5, 10), (35, 55, 6, 8), (44, 55, 7, 9)], is_drum=False)
    return seq


def roll_inputs(labels_list, converter):
    """Magenta's RollInputs test encoding: class bits, then end-token bit, then silence bit."""
    inputs = []
    for labels in labels_list:
        arr = np.zeros((len(labels), converter.input_depth), converter.input_dtype)
        for i, label in enumerate(labels):
            if label == converter.end_token:
                arr[i, -2] = 1
            elif label == 0:
                arr[i, -1] = 1
            else:
                for j in range(9):
                    arr[i, j] = (label >> j) & 1
        inputs.append(arr)
    return inputs


@pytest.fixture(params=[False, True], ids=["one_hot_input", "roll_input"])
def roll_input(request):
    return request.param


def _inputs(labels, conv, roll_input):
    return roll_inputs(labels, conv) if roll_input else labels_to_inputs(labels, conv)


def test_depths():
    assert (DrumsConverter().input_depth, DrumsConverter().output_depth) == (512, 512)
    assert DrumsConverter(roll_input=True).input_depth == 10
    assert DrumsConverter(roll_input=True, roll_output=True).output_depth == 9
    conv = DrumsConverter(roll_input=True, roll_output=True, add_end_token=True)
    assert (conv.input_depth, conv.output_depth, conv.end_token) == (11, 10, 9)
    full = DrumsConverter(pitch_classes=FULL_DRUM_PITCH_CLASSES, roll_input=True,
                          roll_output=True)
    assert (full.input_depth, full.output_depth) == (62, 61)


def test_full_classes_need_rolls():
    with pytest.raises(ValueError, match="roll_input=True and roll_output=True"):
        DrumsConverter(pitch_classes=FULL_DRUM_PITCH_CLASSES)


@pytest.mark.parametrize("slice_bars,expected", [(None, UNSLICED), (2, SLICED)])
def test_labels_match_magenta(slice_bars, expected, roll_input):
    conv = DrumsConverter(steps_per_quarter=1, slice_bars=slice_bars, roll_input=roll_input,
                          max_tensors_per_notesequence=None)
    tensors = conv.to_tensors(one_hot_sequence())
    assert_array_sets_equal(_inputs(expected, conv, roll_input), tensors.inputs)
    assert_array_sets_equal(expected, argmax_all(tensors.outputs))


def test_unsliced_end_token(roll_input):
    plain = DrumsConverter(steps_per_quarter=1, roll_input=roll_input)
    conv = DrumsConverter(steps_per_quarter=1, add_end_token=True, roll_input=roll_input)
    assert plain.end_token is None
    assert conv.input_depth == plain.input_depth + 1
    assert conv.end_token == plain.output_depth == 512
    assert conv.output_depth == plain.output_depth + 1
    expected = [np.append(labels, [conv.end_token]) for labels in UNSLICED]
    tensors = conv.to_tensors(one_hot_sequence())
    assert_array_sets_equal(_inputs(expected, conv, roll_input), tensors.inputs)
    assert_array_sets_equal(expected, argmax_all(tensors.outputs))


def test_max_outputs_and_training(roll_input):
    conv = DrumsConverter(steps_per_quarter=1, slice_bars=1, roll_input=roll_input,
                          max_tensors_per_notesequence=2)
    assert len(conv.to_tensors(one_hot_sequence()).inputs) == 2
    conv.max_tensors_per_notesequence = 3
    assert len(conv.to_tensors(one_hot_sequence()).inputs) == 3
    conv.max_tensors_per_notesequence = 100
    assert len(conv.to_tensors(one_hot_sequence()).inputs) == 5
    conv.max_tensors_per_notesequence = 2
    conv.set_mode("train")
    assert len(conv.to_tensors(one_hot_sequence()).inputs) == 2
    conv.max_tensors_per_notesequence = None
    assert len(conv.to_tensors(one_hot_sequence()).inputs) == 5


def test_to_note_sequence(roll_input):
    conv = DrumsConverter(steps_per_quarter=1, slice_bars=2, roll_input=roll_input,
                          max_tensors_per_notesequence=1)
    seq = one_hot_sequence()
    del seq.notes[:8]  # keep instrument 1 only
    sequences = conv.from_tensors(conv.to_tensors(seq).outputs)
    want = expected_sequence([(38, 80, 0.5, 1.0), (48, 80, 2.0, 2.5), (49, 80, 2.0, 2.5),
                              (51, 80, 3.5, 4.0)], instrument=9, is_drum=True)
    assert len(sequences) == 1
    assert notes_of(sequences[0]) == notes_of(want)
    assert sequences[0].total_time == want.total_time == 4.0
    assert sequences[0].ticks_per_quarter == 220 and sequences[0].tempos[0].qpm == 120


ROLL_SLICED_EVENTS = [
    ([0], [0, 2], [], [], [1], [], [], []),
    ([], [0], [], [], [], [1], [], []),
    ([], [1], [], [], [5, 7], [], [], [8]),
]
ROLL_SILENT = np.array([[0, 0, 1, 1, 0, 1, 1, 1],
                        [1, 0, 1, 1, 1, 0, 1, 1],
                        [1, 0, 1, 1, 0, 1, 1, 0]])


def test_roll_outputs_sliced():
    expected_out = np.zeros((3, 8, 9), bool)
    for i, events in enumerate(ROLL_SLICED_EVENTS):
        for j, classes in enumerate(events):
            expected_out[i, j, classes] = 1
    conv = DrumsConverter(pitch_classes=REDUCED_DRUM_PITCH_CLASSES, slice_bars=2,
                          steps_per_quarter=1, roll_input=True, roll_output=True,
                          max_tensors_per_notesequence=None)
    assert (conv.input_depth, conv.output_depth) == (10, 9)
    tensors = conv.to_tensors(roll_sequence())
    expected_in = np.append(expected_out, ROLL_SILENT[:, :, None].astype(bool), axis=2)
    assert_array_sets_equal(list(expected_in), tensors.inputs)
    assert_array_sets_equal(list(expected_out), tensors.outputs)


def test_roll_outputs_to_note_sequence():
    conv = DrumsConverter(pitch_classes=REDUCED_DRUM_PITCH_CLASSES, slice_bars=None,
                          gap_bars=None, steps_per_quarter=1, roll_input=True, roll_output=True,
                          max_tensors_per_notesequence=None)
    sequences = conv.from_tensors(conv.to_tensors(roll_sequence()).outputs)
    assert len(sequences) == 1
    want = expected_sequence(
        [(36, 80, 0, 0.5), (42, 80, 0.5, 1.0), (36, 80, 0.5, 1.0), (38, 80, 2.0, 2.5),
         (36, 80, 4.5, 5.0), (38, 80, 6.5, 7.0), (48, 80, 8.0, 8.5), (49, 80, 8.0, 8.5),
         (51, 80, 9.5, 10.0), (38, 80, 16.5, 17.0), (48, 80, 18.0, 18.5), (49, 80, 18.0, 18.5),
         (51, 80, 19.5, 20.0)], instrument=9, is_drum=True)
    assert notes_of(sequences[0]) == notes_of(want)
    assert sequences[0].total_time == 20.0


def test_roll_output_end_token_decoding():
    conv = DrumsConverter(roll_input=True, roll_output=True, add_end_token=True)
    sample = np.zeros((4, 10), bool)
    sample[0, 0] = sample[1, [1, 8]] = sample[2, 9] = sample[3, 0] = True  # kick, snare+ride, END
    seq = conv.from_tensors([sample])[0]
    hits = sorted((n.start_time, n.pitch) for n in seq.notes)
    assert hits == [(0.0, 36), (0.125, 38), (0.125, 51)]
    assert len(conv.from_tensors([sample[:2]])[0].notes) == 3  # no end token: all steps


def test_exemplar_pitches_one_hot():
    conv = DrumsConverter()
    seq = conv.from_tensors([np.eye(512, dtype=bool)[[511]]])[0]
    assert sorted(n.pitch for n in seq.notes) == sorted([36, 38, 42, 46, 45, 48, 50, 49, 51])


def test_full_classes_round_trip():
    seq = new_sequence(qpm=120)
    pitches = [36, 35, 38, 42, 46, 49, 51, 82, 27, 60]
    for step, pitch in enumerate(pitches * 3):
        seq.notes.add(pitch=pitch, velocity=100, start_time=step * 0.125,
                      end_time=step * 0.125 + 0.1, is_drum=True, instrument=9)
    seq.total_time = 30 * 0.125
    conv = DrumsConverter(pitch_classes=FULL_DRUM_PITCH_CLASSES, slice_bars=1, roll_input=True,
                          roll_output=True, max_tensors_per_notesequence=None)
    tensors = conv.to_tensors(seq)
    assert len(tensors) == 2 and tensors.outputs[0].shape == (16, 61)
    hits = []
    for window, ns in zip(tensors.outputs, conv.from_tensors(tensors.outputs)):
        assert int(window.sum()) == len(ns.notes)
        hits += [n.pitch for n in ns.notes]
    assert sorted(hits) == sorted(pitches * 3)  # every full-set pitch is its own exemplar


def test_round_trip_is_exact(roll_input):
    """Decoded windows hold exactly the quantized class hits of the source (exemplar pitches)."""
    rng = np.random.default_rng(1)
    seq = new_sequence(qpm=100)
    step = 60 / 100 / 4
    exemplar = {p: c[0] for c in REDUCED_DRUM_PITCH_CLASSES for p in c}
    source = set()
    for s in range(64):
        for pitch in rng.choice(sorted(exemplar), size=int(rng.integers(0, 4)), replace=False):
            seq.notes.add(pitch=int(pitch), velocity=90, start_time=s * step,
                          end_time=s * step + 0.05, is_drum=True)
            source.add((s, exemplar[int(pitch)]))
    seq.total_time = 64 * step
    conv = DrumsConverter(slice_bars=4, roll_input=roll_input, max_tensors_per_notesequence=None,
                          gap_bars=None)
    tensors = conv.to_tensors(seq)
    assert len(tensors) == 1
    (ns,) = conv.from_tensors(tensors.outputs)
    assert {(round(n.start_time / 0.125), n.pitch) for n in ns.notes} == source
