"""Helpers shared by the event/token language-model converters (performance, REMI).

* `prepare_sequence`: sustain pedal -> longer notes, drop drums and out-of-range pitches
  (as Magenta's score2perf datagen does before encoding).
* `augment_sequence`: Music Transformer style time-stretch + transposition, with the
  transposition restricted to amounts that keep every note inside the pitch range.
* `samples_to_ids`: model samples (one-hot / probabilities / int ids) -> int id lists.
* `cut_windows`: split an id list into fixed-length windows (or truncate).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

# Music Transformer (magenta/models/score2perf) augmentation grid.
DEFAULT_STRETCH_FACTORS = (0.95, 0.975, 1.0, 1.025, 1.05)
DEFAULT_TRANSPOSE_AMOUNTS = tuple(range(-3, 4))


def prepare_sequence(note_sequence: music_pb2.NoteSequence, min_pitch: int, max_pitch: int,
                     apply_sustain: bool = True) -> music_pb2.NoteSequence:
    """Copy of `note_sequence` with sustain applied, control changes, drums and notes
    outside [min_pitch, max_pitch] removed."""
    if apply_sustain:
        ns = sequences_lib.apply_sustain_control_changes(note_sequence)
    else:
        ns = music_pb2.NoteSequence()
        ns.CopyFrom(note_sequence)
    del ns.control_changes[:]
    keep = [n for n in ns.notes if not n.is_drum and min_pitch <= n.pitch <= max_pitch]
    if len(keep) != len(ns.notes):
        del ns.notes[:]
        ns.notes.extend(keep)
    return ns


def allowed_transpositions(note_sequence: music_pb2.NoteSequence, amounts: Sequence[int],
                           min_pitch: int, max_pitch: int) -> list:
    """The amounts in `amounts` that keep every note inside [min_pitch, max_pitch]."""
    if not note_sequence.notes:
        return list(amounts)
    lo = min(n.pitch for n in note_sequence.notes)
    hi = max(n.pitch for n in note_sequence.notes)
    return [a for a in amounts if lo + a >= min_pitch and hi + a <= max_pitch]


def augment_sequence(note_sequence: music_pb2.NoteSequence, rng: np.random.Generator,
                     stretch_factors: Sequence[float], transpose_amounts: Sequence[int],
                     min_pitch: int, max_pitch: int) -> music_pb2.NoteSequence:
    """Randomly time-stretch and transpose a copy of `note_sequence`.

    The stretch factor is drawn uniformly from `stretch_factors`, the transposition
    uniformly from the members of `transpose_amounts` that keep all notes in range
    (Magenta drops an augmented copy whose transposition would delete notes; drawing
    only valid amounts keeps one example per input instead).
    """
    ns = music_pb2.NoteSequence()
    ns.CopyFrom(note_sequence)
    if stretch_factors:
        factor = float(rng.choice(np.asarray(stretch_factors, dtype=np.float64)))
        sequences_lib.stretch_note_sequence(ns, factor, in_place=True)
    amounts = allowed_transpositions(ns, transpose_amounts or (0,), min_pitch, max_pitch)
    amount = int(rng.choice(amounts)) if amounts else 0
    if amount:
        sequences_lib.transpose_note_sequence(
            ns, amount, min_allowed_pitch=min_pitch, max_allowed_pitch=max_pitch,
            transpose_chords=False, in_place=True)
    return ns


def samples_to_ids(sample, end_token: Optional[int] = None) -> list:
    """Token ids of one model sample.

    `sample` is a (T, depth) one-hot / probability array (argmax per step; all-zero rows
    are padding and end the sample) or a 1-D array of int ids. Decoding stops before
    `end_token` when given.
    """
    arr = np.asarray(sample)
    if arr.ndim == 1:
        ids = arr.astype(np.int64).tolist()
    elif arr.ndim == 2:
        nonzero = np.any(arr != 0, axis=-1)
        stop = int(np.argmin(nonzero)) if not nonzero.all() else len(arr)
        ids = np.argmax(arr[:stop], axis=-1).tolist()
    else:
        raise ValueError(f"sample must be 1-D ids or a 2-D (T, depth) array, got shape {arr.shape}")
    if end_token is not None and end_token in ids:
        ids = ids[:ids.index(end_token)]
    return ids


def cut_windows(ids: Sequence[int], max_len: Optional[int], hop: Optional[int] = None,
                min_len: int = 1, truncate: bool = False) -> list:
    """Split `ids` into windows of at most `max_len` ids.

    max_len None: one window with everything. truncate: only the first window.
    Otherwise windows start every `hop` ids (default max_len: no overlap); windows
    shorter than `min_len` are dropped (only the last one can be short).
    """
    ids = list(ids)
    if not ids:
        return []
    if max_len is None or len(ids) <= max_len:
        return [ids] if len(ids) >= min_len else []
    if truncate:
        return [ids[:max_len]]
    hop = hop or max_len
    windows = []
    for start in range(0, len(ids), hop):
        window = ids[start:start + max_len]
        if len(window) >= min_len:
            windows.append(window)
        if start + max_len >= len(ids):
            break
    return windows
