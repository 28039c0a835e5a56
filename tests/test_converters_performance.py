"""PerformanceConverter: note_seq parity cases, round trips, windows, sustain, augmentation.

The parity cases repeat the inputs and expected events of note-seq's
performance_lib_test.py and performance_encoder_decoder_test.py, checked through the
converter's one-hot tensors.
"""
import glob
import os

import numpy as np
import pytest
from note_seq import testing_lib
from note_seq.performance_lib import PerformanceEvent as PE
from note_seq.protobuf import music_pb2

from conftest import SHARED_DATA
from musicgen.converters.base import np_onehot
from musicgen.converters.performance import PerformanceConverter

ON, OFF, SHIFT, VEL = PE.NOTE_ON, PE.NOTE_OFF, PE.TIME_SHIFT, PE.VELOCITY
MAESTRO = os.path.join(SHARED_DATA, "maestro-v2.0.0")
THREE_NOTES = [(60, 100, 0.0, 4.0), (64, 100, 0.0, 3.0), (67, 127, 1.0, 2.0)]


def make_ns(notes, ticks_per_quarter=220):
    ns = music_pb2.NoteSequence(ticks_per_quarter=ticks_per_quarter)
    testing_lib.add_track_to_sequence(ns, 0, notes)
    return ns


def note_tuples(ns):
    return sorted((n.pitch, n.velocity, round(n.start_time, 6), round(n.end_time, 6))
                  for n in ns.notes)


def event_ids(conv, ns):
    (onehot,) = conv.to_tensors(ns).outputs
    assert onehot.shape[1] == conv.output_depth
    assert onehot.sum(axis=1).tolist() == [1] * len(onehot)
    return np.argmax(onehot, axis=1).tolist()


def encode(conv, events):
    return [conv.encoding.encode_event(PE(t, v)) for t, v in events]


def test_depths_full_and_piano_range():
    assert PerformanceConverter().output_depth == 388
    assert PerformanceConverter(min_pitch=21, max_pitch=108).output_depth == 308
    conv = PerformanceConverter(add_end_token=True)
    assert (conv.output_depth, conv.end_token, conv.input_depth) == (389, 388, 389)


def test_index_layout_matches_note_seq_encoder_test():
    # performance_encoder_decoder_test.PerformanceOneHotEncodingTest.testEncodeDecode (16 bins)
    conv = PerformanceConverter(num_velocity_bins=16)
    pairs = [((ON, 60), 60), ((ON, 0), 0), ((ON, 127), 127), ((OFF, 72), 200),
             ((OFF, 0), 128), ((OFF, 127), 255), ((SHIFT, 10), 265), ((SHIFT, 1), 256),
             ((SHIFT, 100), 355), ((VEL, 5), 360), ((VEL, 1), 356), ((VEL, 16), 371)]
    for event, index in pairs:
        assert conv.encoding.encode_event(PE(*event)) == index
        assert conv.encoding.decode_event(index) == PE(*event)
    piano = PerformanceConverter(min_pitch=21, max_pitch=108)
    for event, index in [((ON, 21), 0), ((ON, 108), 87), ((OFF, 21), 88), ((OFF, 108), 175),
                         ((SHIFT, 1), 176), ((SHIFT, 100), 275), ((VEL, 1), 276), ((VEL, 32), 307)]:
        assert piano.encoding.encode_event(PE(*event)) == index


TAIL = [(SHIFT, 100), (OFF, 67), (SHIFT, 100), (OFF, 64), (SHIFT, 100), (OFF, 60)]


@pytest.mark.parametrize("bins,expected", [
    # testFromQuantizedNoteSequence (no velocity events)
    (0, [(ON, 60), (ON, 64), (SHIFT, 100), (ON, 67)] + TAIL),
    # testFromQuantizedNoteSequenceWithVelocity
    (127, [(VEL, 100), (ON, 60), (ON, 64), (SHIFT, 100), (VEL, 127), (ON, 67)] + TAIL),
    # testFromQuantizedNoteSequenceWithQuantizedVelocity
    (16, [(VEL, 13), (ON, 60), (ON, 64), (SHIFT, 100), (VEL, 16), (ON, 67)] + TAIL),
    # our default: 32 bins of 4 velocities each
    (32, [(VEL, 25), (ON, 60), (ON, 64), (SHIFT, 100), (VEL, 32), (ON, 67)] + TAIL),
])
def test_events_match_note_seq_performance_lib_test(bins, expected):
    conv = PerformanceConverter(num_velocity_bins=bins)
    assert event_ids(conv, make_ns(THREE_NOTES)) == encode(conv, expected)


def test_to_sequence_with_velocity_is_exact():
    # testToSequenceWithVelocity: 127 bins give back the original notes.
    notes = [(60, 100, 0.0, 4.0), (64, 115, 0.0, 3.0), (67, 127, 1.0, 2.0)]
    conv = PerformanceConverter(num_velocity_bins=127)
    t = conv.to_tensors(make_ns(notes))
    (decoded,) = conv.from_tensors(t.outputs)
    assert note_tuples(decoded) == sorted(notes)
    assert decoded.total_time == 4.0


@pytest.mark.parametrize("events,expected", [
    # testToSequenceWithUnmatchedNoteOffs: the NOTE_OFF 67 is ignored
    ([(ON, 60), (ON, 64), (SHIFT, 50), (OFF, 60), (OFF, 64), (OFF, 67)],
     [(60, 100, 0.0, 0.5), (64, 100, 0.0, 0.5)]),
    # testToSequenceWithUnmatchedNoteOns: notes end at the last step
    ([(ON, 60), (ON, 64), (SHIFT, 100)], [(60, 100, 0.0, 1.0), (64, 100, 0.0, 1.0)]),
    # testToSequenceWithRepeatedNotes
    ([(ON, 60), (ON, 64), (SHIFT, 100), (ON, 60), (SHIFT, 100)],
     [(60, 100, 0.0, 2.0), (64, 100, 0.0, 2.0), (60, 100, 1.0, 2.0)]),
])
def test_decode_matches_note_seq_to_sequence_tests(events, expected):
    conv = PerformanceConverter(num_velocity_bins=0)
    ids = encode(conv, events)
    (decoded,) = conv.from_tensors([np_onehot(ids, conv.output_depth)])
    assert note_tuples(decoded) == sorted(expected)
    (from_ids,) = conv.from_tensors([np.array(ids)])
    assert note_tuples(from_ids) == sorted(expected)


def random_notes(rng, n=60, lo=21, hi=108):
    """Random notes off the 10 ms grid, gaps > 1 s included, no same-pitch overlap."""
    notes, free_at = [], {}
    t = 0.0
    for _ in range(n):
        t += float(rng.choice([0.0, 0.0123, 0.25, 1.73, 3.3]))
        pitch = int(rng.integers(lo, hi + 1))
        if free_at.get(pitch, -1.0) > t - 0.02:
            continue
        dur = float(rng.uniform(0.004, 2.5))
        notes.append((pitch, int(rng.integers(1, 128)), t, t + dur))
        free_at[pitch] = t + dur + 0.02
    return notes


def quantized_form(notes, sps=100, bin_size=4):
    out = []
    for pitch, vel, start, end in notes:
        s, e = round(start * sps), round(end * sps)
        e = max(e, s + 1)
        out.append((pitch, 1 + (vel - 1) // bin_size * bin_size, round(s / sps, 6), round(e / sps, 6)))
    return sorted(out)


@pytest.mark.parametrize("piano", [False, True])
def test_round_trip_equals_10ms_quantized_input(piano):
    rng = np.random.default_rng(3)
    notes = random_notes(rng)
    kwargs = dict(min_pitch=21, max_pitch=108) if piano else {}
    conv = PerformanceConverter(**kwargs)
    (decoded,) = conv.from_tensors(conv.to_tensors(make_ns(notes)).outputs)
    assert len(notes) > 40
    assert note_tuples(decoded) == quantized_form(notes)


def test_sustain_pedal_extends_notes_unless_disabled():
    ns = make_ns([(60, 80, 0.0, 0.5), (64, 80, 3.0, 3.5)])
    ns.control_changes.add(time=0.2, control_number=64, control_value=127)
    ns.control_changes.add(time=2.0, control_number=64, control_value=0)
    conv = PerformanceConverter()
    (decoded,) = conv.from_tensors(conv.to_tensors(ns).outputs)
    assert note_tuples(decoded) == [(60, 77, 0.0, 2.0), (64, 77, 3.0, 3.5)]
    raw = PerformanceConverter(apply_sustain=False)
    (decoded,) = raw.from_tensors(raw.to_tensors(ns).outputs)
    assert note_tuples(decoded) == [(60, 77, 0.0, 0.5), (64, 77, 3.0, 3.5)]


def test_piano_range_drops_out_of_range_and_drum_notes():
    ns = make_ns([(20, 90, 0.0, 1.0), (21, 90, 0.0, 1.0), (108, 90, 1.0, 2.0), (109, 90, 1.0, 2.0)])
    testing_lib.add_track_to_sequence(ns, 9, [(60, 90, 0.5, 0.6)], is_drum=True)
    conv = PerformanceConverter(min_pitch=21, max_pitch=108)
    (decoded,) = conv.from_tensors(conv.to_tensors(ns).outputs)
    assert [n.pitch for n in sorted(decoded.notes, key=lambda n: n.pitch)] == [21, 108]


def test_windows_truncation_hop_and_cap():
    ns = make_ns(THREE_NOTES)  # 12 events with 32 bins
    full = event_ids(PerformanceConverter(), ns)
    assert len(full) == 12
    windows = PerformanceConverter(max_events=5).to_tensors(ns)
    assert windows.lengths == [5, 5, 2]
    assert [np.argmax(w, 1).tolist() for w in windows.outputs] == [full[:5], full[5:10], full[10:]]
    assert all(w.shape == (n, 388) for w, n in zip(windows.inputs, windows.lengths))
    assert PerformanceConverter(max_events=5, min_events=3).to_tensors(ns).lengths == [5, 5]
    assert PerformanceConverter(max_events=8, window_hop=4).to_tensors(ns).lengths == [8, 8]
    truncated = PerformanceConverter(max_events=5, truncate=True).to_tensors(ns)
    assert truncated.lengths == [5]
    capped = PerformanceConverter(max_events=2, max_tensors_per_notesequence=3).to_tensors(ns)
    assert len(capped) == 3 and capped.lengths == [2, 2, 2]
    assert np.argmax(capped.outputs[0], 1).tolist() == full[:2]


def test_end_token_closes_the_sequence_and_stops_decoding():
    conv = PerformanceConverter(add_end_token=True)
    ns = make_ns(THREE_NOTES)
    (onehot,) = conv.to_tensors(ns).outputs
    ids = np.argmax(onehot, 1).tolist()
    assert ids[-1] == 388 and ids.count(388) == 1
    # Events after END and zero padding rows are ignored.
    garbage = np_onehot(ids + [60, 355], conv.output_depth)
    padded = np.concatenate([garbage, np.zeros((4, conv.output_depth), bool)])
    (decoded,) = conv.from_tensors([padded.astype(np.float32)])
    assert note_tuples(decoded) == quantized_form(THREE_NOTES)


def test_probabilities_are_decoded_by_argmax():
    conv = PerformanceConverter(num_velocity_bins=0)
    ids = encode(conv, [(ON, 60), (SHIFT, 50), (OFF, 60)])
    probs = np.full((3, conv.output_depth), 0.001, np.float32)
    probs[np.arange(3), ids] = 0.9
    (decoded,) = conv.from_tensors(probs[None])
    assert note_tuples(decoded) == [(60, 100, 0.0, 0.5)]


def test_augmentation_only_in_train_mode_and_stays_in_range():
    notes = [(60, 64, 0.0, 1.0), (104, 64, 1.0, 2.0), (107, 64, 2.0, 4.0)]
    ns = make_ns(notes)
    conv = PerformanceConverter(min_pitch=21, max_pitch=108)
    base = event_ids(conv, ns)
    conv.set_mode("eval")
    assert event_ids(conv, ns) == base
    conv.set_mode("train")
    conv.seed(0)
    seen_shifts, seen_ends = set(), set()
    for _ in range(30):
        (decoded,) = conv.from_tensors(conv.to_tensors(ns).outputs)
        got = sorted(decoded.notes, key=lambda n: n.start_time)
        shift = got[0].pitch - 60
        assert [n.pitch - p for n, (p, *_rest) in zip(got, notes)] == [shift] * 3
        assert -3 <= shift <= 1  # 107 + 1 = 108 is the top of the range
        seen_shifts.add(shift)
        end = got[-1].end_time
        assert any(abs(end - 4.0 * f) <= 0.011 for f in (0.95, 0.975, 1.0, 1.025, 1.05)), end
        seen_ends.add(round(end, 2))
    assert len(seen_shifts) >= 3 and len(seen_ends) >= 3
    conv.seed(0)
    first = event_ids(conv, ns)
    conv.seed(0)
    assert event_ids(conv, ns) == first  # seeded: reproducible
    assert len(ns.notes) == 3 and ns.notes[0].pitch == 60  # input untouched


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="min_pitch"):
        PerformanceConverter(min_pitch=50, max_pitch=40)
    with pytest.raises(ValueError, match="max_events"):
        PerformanceConverter(max_events=0)
    with pytest.raises(ValueError, match="shape"):
        PerformanceConverter().from_tensors([np.zeros((2, 2, 2))])


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isdir(MAESTRO), reason="needs ../shared/data/maestro-v2.0.0")
def test_maestro_excerpt_round_trip():
    from note_seq import sequences_lib

    from musicgen.midi_io import midi_file_to_note_sequence
    path = sorted(glob.glob(os.path.join(MAESTRO, "2004", "*.midi")))[0]
    ns = sequences_lib.extract_subsequence(midi_file_to_note_sequence(path), 0.0, 30.0)
    conv = PerformanceConverter(min_pitch=21, max_pitch=108, max_events=128)
    prepared = conv.prepare(ns)
    expected = quantized_form([(n.pitch, n.velocity, n.start_time, n.end_time)
                               for n in prepared.notes])
    tensors = conv.to_tensors(ns)
    assert len(tensors) >= 2 and max(tensors.lengths) == 128
    whole = PerformanceConverter(min_pitch=21, max_pitch=108)
    (decoded,) = whole.from_tensors(whole.to_tensors(ns).outputs)
    assert len(expected) > 50 and note_tuples(decoded) == expected
