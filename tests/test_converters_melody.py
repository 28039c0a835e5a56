"""OneHotMelodyConverter: the cases of Magenta's data_test.py OneHotMelodyConverterTest (same input
sequence, same expected labels), plus round trips and the 4/4, polyphony, program and mutation
rules.

Labels are melody events + 2: 0 = no event, 1 = note-off, 2 + pitch - 21 = note-on.
"""
import note_seq
import numpy as np
import pytest
from note_seq import testing_lib

from converters_testlib import (argmax_all, assert_array_sets_equal, expected_sequence,
                                filter_instrument, labels_to_inputs, new_sequence, notes_of,
                                reencode_window)
from musicgen.converters.melody import MEL_PROGRAMS, NoteSequenceAugmenter, OneHotMelodyConverter

NO_EVENT, NOTE_OFF = note_seq.MELODY_NO_EVENT, note_seq.MELODY_NOTE_OFF
NO_CHORD = note_seq.NO_CHORD
CHORDS = note_seq.MajorMinorChordOneHotEncoding()


def magenta_sequence():
    seq = new_sequence(qpm=60)
    testing_lib.add_track_to_sequence(
        seq, 0, [(32, 100, 2, 4), (33, 1, 6, 11), (34, 1, 11, 13), (35, 1, 17, 19)])
    testing_lib.add_track_to_sequence(
        seq, 1, [(35, 127, 2, 4), (36, 50, 6, 8), (71, 100, 33, 37), (73, 100, 34, 37),
                 (33, 1, 50, 55), (34, 1, 55, 56)])
    testing_lib.add_chords_to_sequence(
        seq, [('F', 2), ('C', 8), ('Am', 16), ('N.C.', 20), ('Bb7', 32), ('G', 36), ('F', 48),
              ('C', 52)])
    testing_lib.add_key_signatures_to_sequence(seq, [(0, 2), (5, 20), (0, 36)])
    return seq


def _labels(events_list):
    return [np.array(es) + 2 for es in events_list]


N, OFF = NO_EVENT, NOTE_OFF
UNSLICED = _labels([
    (N, N, 11, N, OFF, N, 12, N, N, N, N, 13, N, OFF, N, N),
    (N, 14, N, OFF),
    (N, N, 14, N, OFF, N, 15, N),
    (N, 50, 52, N, N, OFF, N, N),
    (N, N, 12, N, N, N, N, 13),
])
SLICED = _labels([
    (N, N, 11, N, OFF, N, 12, N),
    (N, N, 12, N, N, N, N, 13),
    (N, N, N, 13, N, OFF, N, N),
    (N, N, 14, N, OFF, N, 15, N),
    (N, 50, 52, N, N, OFF, N, N),
])
UNSLICED_CHORDS = [np.array([CHORDS.encode_event(c) for c in cs]) for cs in [
    (NO_CHORD, NO_CHORD) + ('F',) * 6 + ('C',) * 8,
    ('Am',) * 4,
    (NO_CHORD, NO_CHORD) + ('F',) * 6,
    ('Bb7',) * 4 + ('G',) * 4,
    ('F',) * 4 + ('C',) * 4,
]]
SLICED_CHORDS = [np.array([CHORDS.encode_event(c) for c in cs]) for cs in [
    (NO_CHORD, NO_CHORD) + ('F',) * 6,
    ('F',) * 4 + ('C',) * 4,
    ('C',) * 8,
    (NO_CHORD, NO_CHORD) + ('F',) * 6,
    ('Bb7',) * 4 + ('G',) * 4,
]]
UNSLICED_KEYS = [np.array(k) for k in [(0,) * 16, (0,) * 4, (0,) * 8, (5,) * 4 + (0,) * 4,
                                       (0,) * 8]]
SLICED_KEYS = [np.array(k) for k in [(0,) * 8, (0,) * 8, (0,) * 8, (0,) * 8, (5,) * 4 + (0,) * 4]]


def convert(**kwargs):
    kwargs.setdefault("steps_per_quarter", 1)
    return OneHotMelodyConverter(**kwargs), magenta_sequence()


def test_depths_and_defaults():
    conv = OneHotMelodyConverter()
    assert (conv.input_depth, conv.output_depth, conv.control_depth) == (90, 90, 0)
    assert conv.end_token is None and conv.max_tensors_per_notesequence == 5
    assert conv.input_dtype == np.bool_


@pytest.mark.parametrize("slice_bars,expected", [(None, UNSLICED), (2, SLICED)])
def test_labels_match_magenta(slice_bars, expected):
    conv, seq = convert(slice_bars=slice_bars, max_tensors_per_notesequence=None)
    tensors = conv.to_tensors(seq)
    assert_array_sets_equal(labels_to_inputs(expected, conv), tensors.inputs)
    assert_array_sets_equal(expected, argmax_all(tensors.outputs))
    assert tensors.lengths == [len(t) for t in tensors.inputs]
    assert all(c.shape == (len(t), 0) for c, t in zip(tensors.controls, tensors.inputs))


def test_unsliced_end_token():
    plain = OneHotMelodyConverter(steps_per_quarter=1)
    conv, seq = convert(slice_bars=None, add_end_token=True)
    assert conv.end_token == plain.output_depth == 90
    assert conv.input_depth == conv.output_depth == 91
    expected = [np.append(labels, [conv.end_token]) for labels in UNSLICED]
    tensors = conv.to_tensors(seq)
    assert_array_sets_equal(labels_to_inputs(expected, conv), tensors.inputs)
    assert_array_sets_equal(expected, argmax_all(tensors.outputs))


@pytest.mark.parametrize("slice_bars,labels,chords,keys", [
    (None, UNSLICED, UNSLICED_CHORDS, UNSLICED_KEYS), (2, SLICED, SLICED_CHORDS, SLICED_KEYS)])
@pytest.mark.parametrize("use_chords,use_key", [(True, False), (False, True), (True, True)])
def test_chord_and_key_conditioning(slice_bars, labels, chords, keys, use_chords, use_key):
    conv, seq = convert(slice_bars=slice_bars, max_tensors_per_notesequence=None,
                        chord_encoding=CHORDS if use_chords else None, condition_on_key=use_key)
    assert conv.control_depth == 25 * use_chords + 12 * use_key
    tensors = conv.to_tensors(seq)
    assert_array_sets_equal(labels_to_inputs(labels, conv), tensors.inputs)
    assert_array_sets_equal(labels, argmax_all(tensors.outputs))
    # Windows come in set order: check (events, chords, keys) jointly.
    got = [np.concatenate([np.argmax(o, -1)[None]]
                          + ([np.argmax(c[:, :25], -1)[None]] if use_chords else [])
                          + ([np.argmax(c[:, -12:], -1)[None]] if use_key else []))
           for o, c in zip(tensors.outputs, tensors.controls)]
    want = [np.stack([l_] + ([c_] if use_chords else []) + ([k_] if use_key else []))
            for l_, c_, k_ in zip(labels, chords, keys)]
    assert_array_sets_equal(want, got)


def test_max_outputs_per_notesequence():
    conv, seq = convert(slice_bars=2, max_tensors_per_notesequence=2)
    assert len(conv.to_tensors(seq).inputs) == 2
    conv.max_tensors_per_notesequence = 3
    assert len(conv.to_tensors(seq).inputs) == 3
    conv.max_tensors_per_notesequence = 100
    assert len(conv.to_tensors(seq).inputs) == 5


def test_is_training():
    conv, seq = convert(slice_bars=2, max_tensors_per_notesequence=2)
    conv.set_mode("train")
    assert len(conv.to_tensors(seq).inputs) == 2
    conv.max_tensors_per_notesequence = None
    assert len(conv.to_tensors(seq).inputs) == 5


def test_to_note_sequence():
    conv, seq = convert(slice_bars=4, max_tensors_per_notesequence=1)
    tensors = conv.to_tensors(filter_instrument(seq, 0))
    sequences = conv.from_tensors(tensors.outputs)
    assert len(sequences) == 1
    want = expected_sequence([(32, 80, 1.0, 2.0), (33, 80, 3.0, 5.5), (34, 80, 5.5, 6.5)])
    assert sequences[0] == want


def test_to_note_sequence_chord_conditioned():
    conv, seq = convert(slice_bars=4, max_tensors_per_notesequence=1, chord_encoding=CHORDS)
    tensors = conv.to_tensors(filter_instrument(seq, 0))
    sequences = conv.from_tensors(tensors.outputs, tensors.controls)
    want = expected_sequence([(32, 80, 1.0, 2.0), (33, 80, 3.0, 5.5), (34, 80, 5.5, 6.5)])
    testing_lib.add_chords_to_sequence(want, [('N.C.', 0), ('F', 1), ('C', 4)])
    assert len(sequences) == 1 and sequences[0] == want


def test_from_tensors_minor_chords_and_keys():
    """Chord labels above 12 (minor) survive decoding with a chord-only converter."""
    conv = OneHotMelodyConverter(steps_per_quarter=1, chord_encoding=CHORDS,
                                 condition_on_key=True)
    labels = np.array([2 + 39, 0, 1, 0])  # C4 (60) for 2 steps
    controls = np.concatenate([np.eye(25, dtype=bool)[[22, 22, 22, 22]],
                               np.eye(12, dtype=bool)[[9, 9, 9, 9]]], axis=1)
    seq = conv.from_tensors([np.eye(90, dtype=bool)[labels]], [controls])[0]
    assert [(ta.time, ta.text) for ta in seq.text_annotations] == [(0.0, 'Am')]
    assert [(k.time, k.key) for k in seq.key_signatures] == [(0.0, 9)]
    assert notes_of(seq) == [(60, 80, 0.0, 1.0, 0, 0, False)]


def test_end_token_cuts_decoding():
    conv = OneHotMelodyConverter(steps_per_quarter=1, add_end_token=True)
    labels = [2 + 39, 0, 90, 2 + 40]  # note, hold, END, (ignored) note
    seq = conv.from_tensors([np.eye(91, dtype=bool)[labels]])[0]
    assert notes_of(seq) == [(60, 80, 0.0, 1.0, 0, 0, False)]


def test_round_trip_is_exact():
    """from_tensors(to_tensors(x)) re-encodes to the same windows (4 steps/quarter, 2 bars)."""
    seq = new_sequence(qpm=90)
    rng = np.random.default_rng(0)
    t = 0.0
    for _ in range(60):
        dur = rng.choice([1, 2, 3, 4]) * 60 / 90 / 4
        if rng.random() < 0.8:
            seq.notes.add(pitch=int(rng.integers(40, 90)), velocity=90, start_time=t,
                          end_time=t + dur)
        t += dur
    seq.total_time = t
    conv = OneHotMelodyConverter(slice_bars=2, max_tensors_per_notesequence=None)
    tensors = conv.to_tensors(seq)
    assert len(tensors) > 5
    decoded = conv.from_tensors(tensors.outputs)
    whole = lambda: OneHotMelodyConverter(  # noqa: E731
        gap_bars=None, pad_to_total_time=True, presplit_on_time_changes=False)
    for window, ns in zip(tensors.outputs, decoded):
        again = reencode_window(whole, ns, len(window), 4)
        if not ns.notes:
            continue
        assert len(again) == 1
        np.testing.assert_array_equal(again.outputs[0], window)


def test_non_4_4_bars_are_skipped():
    """Magenta's rule: only bars of steps_per_quarter * quarters_per_bar steps are converted."""
    notes = [(60 + i, 100, i * 0.5, i * 0.5 + 0.5) for i in range(12)]  # 12 quarters
    for (num, den), expected in [((3, 4), 0), ((6, 8), 0), ((2, 2), 2), ((4, 4), 2)]:
        seq = new_sequence(qpm=120, numerator=num, denominator=den)
        testing_lib.add_track_to_sequence(seq, 0, notes)
        conv = OneHotMelodyConverter(slice_bars=2)
        assert len(conv.to_tensors(seq)) == expected, (num, den)
    seq = new_sequence(qpm=120, numerator=3, denominator=4)
    testing_lib.add_track_to_sequence(seq, 0, notes)
    assert len(OneHotMelodyConverter(slice_bars=2, quarters_per_bar=3).to_tensors(seq)) == 3


def test_polyphony_programs_range_and_no_mutation():
    seq = new_sequence(qpm=120)
    testing_lib.add_track_to_sequence(seq, 0, [(60, 100, 0, 1), (64, 100, 0, 1), (62, 100, 1, 2),
                                               (110, 100, 2, 3)])
    for n in seq.notes:
        n.program = 40
    before = seq.SerializeToString()
    # Highest note wins; pitch 110 is out of range and dropped.
    conv = OneHotMelodyConverter(slice_bars=1, steps_per_quarter=1)
    assert [list(l_) for l_ in argmax_all(conv.to_tensors(seq).outputs)] == [
        [2 + 64 - 21, 0, 2 + 62 - 21, 0]]
    assert seq.SerializeToString() == before
    assert len(OneHotMelodyConverter(slice_bars=1, steps_per_quarter=1,
                                     skip_polyphony=True).to_tensors(seq)) == 0
    assert len(OneHotMelodyConverter(slice_bars=1, steps_per_quarter=1,
                                     valid_programs=MEL_PROGRAMS).to_tensors(seq)) == 0


def test_gap_bars_max_bars_and_dedupe():
    seq = new_sequence(qpm=60)
    # One bar of a repeated figure, twice, then 3 silent bars, then the figure again.
    figure = [(60, 100, 0, 1), (62, 100, 1, 2), (64, 100, 2, 3), (65, 100, 3, 4)]
    notes = [(p, v, s + off, e + off) for off in (0, 4, 20) for p, v, s, e in figure]
    testing_lib.add_track_to_sequence(seq, 0, notes)
    kwargs = dict(steps_per_quarter=1, slice_bars=1, max_tensors_per_notesequence=None)
    assert len(OneHotMelodyConverter(**kwargs).to_tensors(seq)) == 1  # all identical bars
    assert len(OneHotMelodyConverter(dedupe_event_lists=False, **kwargs).to_tensors(seq)) == 3
    unsliced = dict(steps_per_quarter=1, max_tensors_per_notesequence=None)
    lengths = sorted(OneHotMelodyConverter(**unsliced).to_tensors(seq).lengths)
    assert lengths == [4, 8]  # the 3-bar gap splits the melody
    assert OneHotMelodyConverter(gap_bars=None, **unsliced).to_tensors(seq).lengths == [24]
    assert OneHotMelodyConverter(gap_bars=None, max_bars=2,
                                 **unsliced).to_tensors(seq).lengths == [8]


def _augmenter_sequence(qpm, melody, drums, chords):
    seq = new_sequence(qpm=qpm)
    testing_lib.add_track_to_sequence(seq, 0, melody)
    testing_lib.add_track_to_sequence(seq, 1, drums, is_drum=True)
    testing_lib.add_chords_to_sequence(seq, chords)
    return seq


AUG_MELODY = [(32, 100, 2, 4), (33, 100, 6, 11), (34, 100, 11, 13), (35, 100, 17, 18)]
AUG_DRUMS = [(57, 80, 4, 4.1), (58, 80, 12, 12.1)]


@pytest.mark.parametrize("kwargs,expected", [
    (dict(transpose_range=(2, 2)), _augmenter_sequence(
        60, [(34, 100, 2, 4), (35, 100, 6, 11), (36, 100, 11, 13), (37, 100, 17, 18)],
        AUG_DRUMS, [('N.C.', 0), ('D', 8), ('Bm', 16)])),
    (dict(stretch_range=(0.5, 0.5)), _augmenter_sequence(
        120, [(32, 100, 1, 2), (33, 100, 3, 5.5), (34, 100, 5.5, 6.5), (35, 100, 8.5, 9)],
        [(57, 80, 2, 2.05), (58, 80, 6, 6.05)], [('N.C.', 0), ('C', 4), ('Am', 8)])),
    (dict(transpose_range=(-3, -3), stretch_range=(2.0, 2.0)), _augmenter_sequence(
        30, [(29, 100, 4, 8), (30, 100, 12, 22), (31, 100, 22, 26), (32, 100, 34, 36)],
        [(57, 80, 8, 8.2), (58, 80, 24, 24.2)], [('N.C.', 0), ('A', 16), ('Gbm', 32)])),
])
def test_note_sequence_augmenter(kwargs, expected):
    """Magenta's NoteSequenceAugmenterTest cases (drums are not transposed)."""
    seq = _augmenter_sequence(60, AUG_MELODY, AUG_DRUMS, [('N.C.', 0), ('C', 8), ('Am', 16)])
    before = seq.SerializeToString()
    assert NoteSequenceAugmenter(**kwargs).augment(seq) == expected
    assert seq.SerializeToString() == before
