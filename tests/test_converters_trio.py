"""TrioConverter: the cases of Magenta's data_test.py TrioConverterTest (same sequence, same
expected sliced labels / chords / keys, same decoded NoteSequences), plus round trips and edge
rules.
"""
import note_seq
import numpy as np
import pytest
from note_seq import testing_lib

from converters_testlib import (assert_array_sets_equal, filter_instrument, new_sequence,
                                notes_of, onehot)
from musicgen.converters.drums import DrumsConverter
from musicgen.converters.melody import OneHotMelodyConverter
from musicgen.converters.trio import TrioConverter

NO_EVENT, NOTE_OFF, NO_DRUMS = note_seq.MELODY_NO_EVENT, note_seq.MELODY_NOTE_OFF, 0
NO_CHORD = note_seq.NO_CHORD
CHORDS = note_seq.MajorMinorChordOneHotEncoding()


def trio_sequence():
    seq = new_sequence(qpm=60)
    testing_lib.add_track_to_sequence(seq, 1, [(51, 1, 13, 37)])  # melody 1
    testing_lib.add_track_to_sequence(seq, 2, [(52, 1, 4, 16)])  # melody 2
    testing_lib.add_track_to_sequence(seq, 3, [(50, 1, 2, 5), (49, 1, 16, 25)])  # bass
    testing_lib.add_track_to_sequence(
        seq, 4, [(35, 1, 0, 1), (40, 1, 4, 5), (35, 1, 9, 9), (35, 1, 25, 25), (40, 1, 29, 29)],
        is_drum=True)
    testing_lib.add_chords_to_sequence(seq, [('C', 4), ('Am', 16), ('G', 32)])
    testing_lib.add_key_signatures_to_sequence(seq, [(0, 0), (7, 32)])
    for n in seq.notes:
        n.program = {1: 0, 2: 10, 3: 33}.get(n.instrument, n.program)
    return seq


N = NO_EVENT
M1 = np.array([N] * 13 + [30] + [N] * 23 + [NOTE_OFF] + [N] * 2) + 2
M2 = np.array([N] * 4 + [31] + [N] * 11 + [NOTE_OFF] + [N] * 23) + 2
BASS = np.array([N, N, 29, N, N, NOTE_OFF] + [N] * 10 + [28] + [N] * 8 + [NOTE_OFF]
                + [N] * 14) + 2
DRUMS = np.array([1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0] + [0] * 12
                 + [0, 1, 0, 0, 0, 2, 0, 0] + [0] * 4)
CHORD_EVENTS = [NO_CHORD] * 4 + ['C'] * 12 + ['Am'] * 16 + ['G'] * 4
KEYS = [0] * 32 + [7] * 4
SLICED_SETS = [((2, 4), (M1, BASS, DRUMS)), ((5, 7), (M1, BASS, DRUMS)),
               ((6, 8), (M1, BASS, DRUMS)), ((0, 2), (M2, BASS, DRUMS)),
               ((1, 3), (M2, BASS, DRUMS)), ((2, 4), (M2, BASS, DRUMS))]
SLICED_LABELS = [np.stack([part[i * 4:j * 4] for part in parts]) for (i, j), parts in SLICED_SETS]
SLICED_CHORDS = [np.array([CHORDS.encode_event(c) for c in CHORD_EVENTS[i * 4:j * 4]])
                 for (i, j), _ in SLICED_SETS]
SLICED_KEYS = [np.array(KEYS[i * 4:j * 4]) for (i, j), _ in SLICED_SETS]


def part_labels(t):
    return np.stack([np.argmax(s, axis=-1) for s in np.split(t, [90, 180], axis=-1)])


def test_depths():
    conv = TrioConverter(steps_per_quarter=4, slice_bars=16, gap_bars=2)
    assert (conv.input_depth, conv.output_depth, conv.control_depth) == (692, 692, 0)
    assert TrioConverter(chord_encoding=CHORDS, condition_on_key=True).control_depth == 37


@pytest.mark.parametrize("use_chords,use_key", [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_sliced_matches_magenta(use_chords, use_key):
    conv = TrioConverter(steps_per_quarter=1, gap_bars=1, slice_bars=2,
                         max_tensors_per_notesequence=None,
                         chord_encoding=CHORDS if use_chords else None, condition_on_key=use_key)
    seq = trio_sequence()
    before = seq.SerializeToString()
    tensors = conv.to_tensors(seq)
    assert seq.SerializeToString() == before  # input untouched
    assert_array_sets_equal(tensors.inputs, tensors.outputs)
    # Check (melody, bass, drums[, chords][, keys]) jointly per window.
    got = [np.concatenate([part_labels(o)]
                          + ([np.argmax(c[:, :25], -1)[None]] if use_chords else [])
                          + ([np.argmax(c[:, -12:], -1)[None]] if use_key else []))
           for o, c in zip(tensors.outputs, tensors.controls)]
    want = [np.concatenate([labels]
                           + ([chords[None]] if use_chords else [])
                           + ([keys[None]] if use_key else []))
            for labels, chords, keys in zip(SLICED_LABELS, SLICED_CHORDS, SLICED_KEYS)]
    assert_array_sets_equal(want, got)


EXPECTED_NOTES = [  # (pitch, velocity, start, end, instrument, program, is_drum)
    (52, 80, 2.0, 4.0, 0, 0, False), (50, 80, 1.0, 2.5, 1, 33, False),
    (36, 80, 0.0, 0.5, 9, 0, True), (38, 80, 2.0, 2.5, 9, 0, True)]


def _sample3():
    labels = SLICED_LABELS[3]
    return np.concatenate([onehot(labels[0], 90), onehot(labels[1], 90), onehot(labels[2], 512)],
                          axis=-1)


@pytest.mark.parametrize("use_chords,use_key", [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_to_note_sequence(use_chords, use_key):
    conv = TrioConverter(steps_per_quarter=1, slice_bars=2, max_tensors_per_notesequence=1,
                         chord_encoding=CHORDS if use_chords else None, condition_on_key=use_key)
    parts = ([onehot(SLICED_CHORDS[3], 25)] if use_chords else []) + \
            ([onehot(SLICED_KEYS[3], 12)] if use_key else [])
    controls = [np.concatenate(parts, axis=-1)] if parts else None
    (seq,) = conv.from_tensors([_sample3()], controls)
    assert notes_of(seq) == sorted(EXPECTED_NOTES)
    assert seq.total_time == 4.0 and seq.ticks_per_quarter == 220 and seq.tempos[0].qpm == 120
    chords = [(ta.time, ta.text) for ta in seq.text_annotations]
    assert chords == ([(0.0, 'N.C.'), (2.0, 'C')] if use_chords else [])
    assert [(k.time, k.key) for k in seq.key_signatures] == ([(0.0, 0)] if use_key else [])


def test_round_trip_is_exact():
    """Each decoded part re-encodes (whole, padded to the window) to the window's part."""
    conv = TrioConverter(steps_per_quarter=1, gap_bars=1, slice_bars=2,
                         max_tensors_per_notesequence=None)
    tensors = conv.to_tensors(trio_sequence())
    common = dict(steps_per_quarter=1, gap_bars=None, pad_to_total_time=True,
                  presplit_on_time_changes=False)
    melody, drums = OneHotMelodyConverter(**common), DrumsConverter(**common)
    checked = 0
    for window, ns in zip(tensors.outputs, conv.from_tensors(tensors.outputs)):
        ns.total_time = len(window) * 0.5  # the whole window, trailing silence included
        parts = np.split(window, [90, 180], axis=-1)
        for part, instrument, part_conv in [(parts[0], 0, melody), (parts[1], 1, melody),
                                            (parts[2], 9, drums)]:
            again = part_conv.to_tensors(filter_instrument(ns, instrument))
            if len(again):
                np.testing.assert_array_equal(again.outputs[0], part)
                checked += 1
            else:  # nothing decoded: the part was silent
                assert not np.argmax(part, -1)[np.argmax(part, -1) > 1].size
    assert checked == 10  # the other 8 parts hold no onset (rests, holds, note-offs)


def test_missing_part_and_bar_rules():
    seq = trio_sequence()
    kept = [n for n in seq.notes if n.instrument != 3]  # drop the bass
    del seq.notes[:]
    seq.notes.extend(kept)
    conv = TrioConverter(steps_per_quarter=1, gap_bars=1, slice_bars=2)
    assert len(conv.to_tensors(seq)) == 0
    waltz = trio_sequence()
    waltz.time_signatures.add(numerator=3, denominator=4)
    assert len(conv.to_tensors(waltz)) == 0
    with pytest.raises(ValueError, match="slice_bars"):
        TrioConverter().to_tensors(trio_sequence())


def test_max_tensors_and_instrument_conflict():
    conv = TrioConverter(steps_per_quarter=1, gap_bars=1, slice_bars=2,
                         max_tensors_per_notesequence=2)
    assert len(conv.to_tensors(trio_sequence())) == 2
    seq = trio_sequence()
    seq.notes[0].program = 33  # melody 1 also plays a bass program -> instrument 1 invalid
    seq.notes.add(pitch=60, velocity=1, start_time=20, end_time=21, instrument=1, program=0)
    conv.max_tensors_per_notesequence = None
    labels = [part_labels(t) for t in conv.to_tensors(seq).outputs]
    assert len(labels) == 3 and all(not np.array_equal(l_[0], M1[8:16]) for l_ in labels)
