"""Helpers shared by the melody / drums / trio converter tests (not a test module itself).

`assert_array_sets_equal` compares lists of arrays as multisets, the way Magenta's data_test.py does
(its converters return windows in Python set order).
"""
import numpy as np
from note_seq.protobuf import music_pb2

from musicgen.converters.trio import extract_instrument as filter_instrument  # noqa: F401


def onehot(labels, depth, dtype=bool):
    labels = np.asarray(labels, dtype=np.int64)
    out = np.zeros((len(labels), depth), dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


def labels_to_inputs(labels_list, converter):
    return [onehot(labels, converter.input_depth, converter.input_dtype) for labels in labels_list]


def _readable(a):
    """Bools to ints; exact one-hots to their argmax (easier error messages)."""
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(int)
    if a.ndim >= 2 and a.size and np.all(a >= 0) and np.all(a.sum(axis=-1) == 1) \
            and np.all(a.max(axis=-1) == 1):
        a = np.argmax(a, axis=-1)
    return a


def assert_array_sets_equal(lhs, rhs):
    """Same arrays, in any order."""
    assert len(lhs) == len(rhs), (len(lhs), len(rhs))
    key = lambda x: (np.asarray(x).shape, _readable(x).astype(np.int64).tobytes())  # noqa: E731
    for a, b in zip(sorted(lhs, key=key), sorted(rhs, key=key)):
        np.testing.assert_array_equal(_readable(a), _readable(b))


def argmax_all(arrays):
    return [np.argmax(a, axis=-1) for a in arrays]


def new_sequence(qpm=60.0, numerator=None, denominator=None):
    seq = music_pb2.NoteSequence()
    seq.tempos.add(qpm=qpm)
    if numerator:
        seq.time_signatures.add(numerator=numerator, denominator=denominator)
    return seq


def notes_of(sequence):
    """Sorted (pitch, velocity, start, end, instrument, program, is_drum) tuples."""
    return sorted((n.pitch, n.velocity, round(n.start_time, 6), round(n.end_time, 6), n.instrument,
                   n.program, n.is_drum) for n in sequence.notes)


def expected_sequence(notes, instrument=0, is_drum=False, program=0):
    """A decoded-style sequence: 220 ticks/quarter, 120 qpm, the given (pitch, vel, start, end)."""
    seq = music_pb2.NoteSequence(ticks_per_quarter=220)
    seq.tempos.add(qpm=120)
    for pitch, velocity, start, end in notes:
        seq.notes.add(pitch=pitch, velocity=velocity, start_time=start, end_time=end,
                      instrument=instrument, program=program, is_drum=is_drum)
    if seq.notes:
        seq.total_time = max(n.end_time for n in seq.notes)
    return seq


def reencode_window(converter_factory, sequence, num_steps, steps_per_quarter):
    """Re-encode one decoded window: whole (unsliced, gap-free) and padded to `num_steps`."""
    seq = music_pb2.NoteSequence()
    seq.CopyFrom(sequence)
    seq.total_time = num_steps * 60.0 / 120.0 / steps_per_quarter
    return converter_factory().to_tensors(seq)
