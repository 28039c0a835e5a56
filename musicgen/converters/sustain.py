"""Sustain pedal (CC64) applied to note arrays, vectorised, with note_seq's exact semantics.

`note_seq.sequences_lib.apply_sustain_control_changes` replays every note-on, note-off and
pedal event in (time, type) order — pedal on < pedal off < note on < note off at equal times,
ties kept in list order — keeping a per-instrument list of active notes. Each non-drum note
leaves that list at the first of these events after its note-on:

* its own note-off while the instrument's pedal is up: its end time stays;
* a note-on of the same pitch and instrument while the pedal is down (a re-strike): it ends
  there, and is deleted if that is its own start time (two onsets at one time);
* the first pedal-off after both its note-on and its note-off: it ends there (the pedal held
  it), and the sequence's total_time grows to that time when later;
* the end of the event list: it ends at the last event's time, and total_time is set to that
  time (even when smaller).

`sustained_notes` computes which of those comes first for every note at once with sorted
event keys and `np.searchsorted`; no per-note Python. Drum notes are not touched. The one
departure: note_seq finds notes in its lists by value (`list.remove`, `in`), so two notes
identical in every field may swap roles; the resulting notes are equal as a multiset, and
the only output order that can differ is that of such identical notes.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from musicgen.converters.note_arrays import NoteArrays, control_arrays

SUSTAIN_CONTROL = 64
_SUSTAIN_ON, _SUSTAIN_OFF, _NOTE_ON, _NOTE_OFF = 0, 1, 2, 3


def _last_at_or_before(sorted_keys: np.ndarray, query: np.ndarray, side: str) -> np.ndarray:
    """Index of the last key < query (side='left') or <= query (side='right'), -1 if none."""
    return np.searchsorted(sorted_keys, query, side=side) - 1


def sustained_notes(notes: NoteArrays, cc_time: np.ndarray, cc_value: np.ndarray,
                    cc_instrument: np.ndarray, total_time: float
                    ) -> Tuple[np.ndarray, np.ndarray, float]:
    """(end times, keep mask, total_time) of `notes` after applying the sustain pedal events
    (cc_time, cc_value, cc_instrument), as apply_sustain_control_changes computes them."""
    end = notes.end.copy()
    keep = np.ones(len(notes), np.bool_)
    melodic = np.flatnonzero(~notes.is_drum)
    n, m = len(melodic), len(cc_time)
    if n + m == 0:
        return end, keep, float(total_time)
    start, stop = notes.start[melodic], notes.end[melodic]
    pitch = notes.pitch[melodic]
    # Event list in note_seq's order: ons, offs, pedal events; stable sort on (time, type).
    times = np.concatenate([start, stop, cc_time.astype(np.float64)])
    types = np.concatenate([np.full(n, _NOTE_ON), np.full(n, _NOTE_OFF),
                            np.where(cc_value >= 64, _SUSTAIN_ON, _SUSTAIN_OFF)])
    order = np.lexsort((np.arange(len(times)), types, times))
    pos = np.empty(len(times), np.int64)
    pos[order] = np.arange(len(times))
    sorted_times = times[order]
    last_time = float(sorted_times[-1])
    if n == 0:
        return end, keep, float(total_time)
    span = len(times) + 1  # key = group * span + event position
    instruments, inst = np.unique(np.concatenate([notes.instrument[melodic], cc_instrument]),
                                  return_inverse=True)
    note_inst, cc_inst = inst[:n], inst[n:]
    pos_on, pos_off, pos_cc = pos[:n], pos[n:2 * n], pos[2 * n:]

    # Pedal state of an instrument just before an event position: the last pedal event's type.
    cc_keys = cc_inst * span + pos_cc
    cc_sort = np.argsort(cc_keys, kind="stable")
    cc_keys, cc_on = cc_keys[cc_sort], (types[2 * n:] == _SUSTAIN_ON)[cc_sort]

    def pedal_down(inst_ids, positions):
        j = _last_at_or_before(cc_keys, inst_ids * span + positions, "left")
        ok = j >= 0
        jj = np.where(ok, j, 0)
        return ok & (cc_keys[jj] // span == inst_ids) & cc_on[jj] if m else np.zeros_like(ok)

    # First re-strike: a later note-on of the same (instrument, pitch) with the pedal down.
    group = note_inst * 128 + pitch
    on_keys = group * span + pos_on
    strike_keys = np.sort(on_keys[pedal_down(note_inst, pos_on)])
    j = np.searchsorted(strike_keys, on_keys, side="right")
    jj = np.minimum(j, max(len(strike_keys) - 1, 0))
    has_strike = (j < len(strike_keys)) & (strike_keys[jj] // span == group) if len(strike_keys) \
        else np.zeros(n, np.bool_)
    strike_pos = np.where(has_strike, strike_keys[jj] % span if len(strike_keys) else 0, span)

    # Own note-off with the pedal up ends the note as it is.
    own_off = (pos_off > pos_on) & ~pedal_down(note_inst, pos_off)
    # Otherwise the first pedal-off after both its on and its off.
    off_keys = np.sort(cc_keys[~cc_on]) if m else cc_keys
    after = note_inst * span + np.maximum(pos_on, pos_off)
    k = np.searchsorted(off_keys, after, side="right")
    kk = np.minimum(k, max(len(off_keys) - 1, 0))
    has_release = (k < len(off_keys)) & (off_keys[kk] // span == note_inst) if len(off_keys) \
        else np.zeros(n, np.bool_)
    release_pos = np.where(has_release, off_keys[kk] % span if len(off_keys) else 0, span)
    leave_pos = np.where(own_off, pos_off, release_pos)

    struck = has_strike & (strike_pos < leave_pos)
    released = ~struck & ~own_off & has_release
    at_end = ~struck & ~own_off & ~has_release
    new_end = stop.copy()
    new_end[struck] = sorted_times[strike_pos[struck]]
    new_end[released] = sorted_times[release_pos[released]]
    new_end[at_end] = last_time
    end[melodic] = new_end
    keep[melodic[struck & (start == new_end)]] = False
    total = float(total_time)
    if released.any():
        total = max(total, float(new_end[released].max()))
    if at_end.any():
        total = last_time
    return end, keep, total


def sustain_arrays(note_sequence: music_pb2.NoteSequence, notes: NoteArrays = None,
                   control_number: int = SUSTAIN_CONTROL) -> Tuple[NoteArrays, float]:
    """(sustained notes, total_time) of a NoteSequence, as arrays: the notes that
    apply_sustain_control_changes keeps, in its order, with its end times."""
    if sequences_lib.is_quantized_sequence(note_sequence):
        raise sequences_lib.QuantizationStatusError(
            "Can only apply sustain to unquantized NoteSequence.")
    notes = NoteArrays.from_sequence(note_sequence) if notes is None else notes
    end, keep, total = sustained_notes(notes, *control_arrays(note_sequence, control_number),
                                       note_sequence.total_time)
    out = notes.replace(end=end)
    return (out if keep.all() else out.take(keep)), total


def apply_sustain(note_sequence: music_pb2.NoteSequence,
                  control_number: int = SUSTAIN_CONTROL) -> music_pb2.NoteSequence:
    """Drop-in for `sequences_lib.apply_sustain_control_changes`: a copy of `note_sequence`
    with the pedal applied (control changes kept, as note_seq keeps them)."""
    if sequences_lib.is_quantized_sequence(note_sequence):
        raise sequences_lib.QuantizationStatusError(
            "Can only apply sustain to unquantized NoteSequence.")
    notes = NoteArrays.from_sequence(note_sequence)
    end, keep, total = sustained_notes(notes, *control_arrays(note_sequence, control_number),
                                       note_sequence.total_time)
    out = music_pb2.NoteSequence()
    out.CopyFrom(note_sequence)
    changed = np.flatnonzero(end != notes.end)
    for i, e in zip(changed.tolist(), end[changed].tolist()):
        out.notes[i].end_time = e
    if not keep.all():
        kept = [out.notes[i] for i in np.flatnonzero(keep).tolist()]
        del out.notes[:]
        out.notes.extend(kept)
    out.total_time = total
    return out
