"""Performance event ids <-> note arrays, vectorised, equal to note_seq's own pipeline.

`encode_performance` gives the ids that `quantize_note_sequence_absolute` +
`performance_lib.Performance` + `PerformanceOneHotEncoding.encode_event` give for the same
notes (put in the canonical order of `performance.canonical_note_order` first):

* steps: int(seconds * steps_per_second + 0.5), an end on its start step moved one step on;
* notes in (start, pitch, end, velocity, instrument, program) order; events sorted by
  (step, note index, off after on), so at one step note-ons and note-offs interleave in
  note order;
* before an event at a later step, TIME_SHIFTs of max_shift_steps then one of the rest;
* before a NOTE_ON whose velocity bin differs from the last NOTE_ON's (0 at first), a
  VELOCITY event.

`decode_performance` is `Performance.to_sequence` on the events of those ids: one FIFO queue
of open onsets per pitch (a NOTE_OFF on an empty queue is ignored), zero-length notes
dropped, notes still open closed at the last step; notes listed as note_seq lists them
(closed ones in NOTE_OFF order, then the open ones by pitch in order of the pitch's first
event). The FIFO matching is a cumulative minimum: after the j-th NOTE_OFF of a pitch,
matched_j = min(matched_{j-1} + 1, onsets before it) = j + min_{i<=j}(onsets_before_i - i).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from note_seq import constants, sequences_lib
from note_seq.performance_lib import velocity_bin_to_velocity, velocity_to_bin
from note_seq.protobuf import music_pb2

from musicgen.converters.note_arrays import NoteArrays, add_notes

QUANTIZE_OFFSET = 1.0 - sequences_lib.QUANTIZE_CUTOFF


@dataclasses.dataclass(frozen=True)
class PerformanceLayout:
    """Id layout of note_seq's PerformanceOneHotEncoding."""

    min_pitch: int = 0
    max_pitch: int = 127
    max_shift_steps: int = 100
    num_velocity_bins: int = 32

    num_pitches = property(lambda self: self.max_pitch - self.min_pitch + 1)
    note_off = property(lambda self: self.num_pitches)
    time_shift = property(lambda self: 2 * self.num_pitches)
    velocity = property(lambda self: 2 * self.num_pitches + self.max_shift_steps)
    num_classes = property(lambda self: self.velocity + self.num_velocity_bins)


def quantize_seconds(seconds: np.ndarray, steps_per_second: float) -> np.ndarray:
    """note_seq's quantize_to_step on an array: int(seconds * sps + 0.5), toward zero."""
    return (np.asarray(seconds, np.float64) * steps_per_second + QUANTIZE_OFFSET).astype(np.int64)


def quantize_notes(start: np.ndarray, end: np.ndarray, steps_per_second: float):
    """(start steps, end steps) as note_seq's _quantize_notes: an end on its start step moves
    one step later; NegativeTimeError for a negative step."""
    qs, qe = quantize_seconds(start, steps_per_second), quantize_seconds(end, steps_per_second)
    qe = np.where(qe == qs, qe + 1, qe)
    if len(qs) and (qs.min() < 0 or qe.min() < 0):
        i = int(np.flatnonzero((qs < 0) | (qe < 0))[0])
        raise sequences_lib.NegativeTimeError(
            f"Got negative note time: start_step = {qs[i]}, end_step = {qe[i]}")
    return qs, qe


def canonical_order(notes: NoteArrays) -> np.ndarray:
    """Stable (start, pitch, end, velocity, instrument, program) order of the notes."""
    return np.lexsort((notes.program, notes.instrument, notes.velocity, notes.end, notes.pitch,
                       notes.start))


def encode_performance(notes: NoteArrays, layout: PerformanceLayout,
                       steps_per_second: float) -> np.ndarray:
    """int64 event ids of (prepared: in range, no drums) notes."""
    order = canonical_order(notes)
    qs, qe = quantize_notes(notes.start[order], notes.end[order], steps_per_second)
    pitch, velocity = notes.pitch[order], notes.velocity[order]
    n = len(order)
    if n == 0:
        return np.zeros(0, np.int64)
    # Events (step, note index, is_off), sorted.
    steps = np.concatenate([qs, qe])
    index = np.concatenate([np.arange(n), np.arange(n)])
    is_off = np.repeat([False, True], n)
    ev = np.lexsort((is_off, index, steps))
    steps, index, is_off = steps[ev], index[ev], is_off[ev]
    pitch_ids = pitch[index] - layout.min_pitch + np.where(is_off, layout.note_off, 0)
    # Time shifts before each event: `full` shifts of max_shift_steps, then the rest.
    gap = np.diff(steps, prepend=0)
    big = layout.max_shift_steps
    full = np.where(gap > 0, (gap - 1) // big, 0)
    rest = gap - full * big
    has_rest = gap > 0
    # Velocity before a note-on whose bin differs from the previous note-on's.
    if layout.num_velocity_bins:
        on = np.flatnonzero(~is_off)
        bins = velocity_to_bin(velocity[index[on]], layout.num_velocity_bins)
        change = bins != np.concatenate([[0], bins[:-1]])
        has_vel = np.zeros(len(steps), np.bool_)
        has_vel[on[change]] = True
        vel_bins = np.zeros(len(steps), np.int64)
        vel_bins[on] = bins
    else:
        has_vel = np.zeros(len(steps), np.bool_)
        vel_bins = np.zeros(len(steps), np.int64)
    count = full + has_rest + has_vel + 1
    stop = np.cumsum(count)
    begin = stop - count
    out = np.empty(int(stop[-1]), np.int64)
    out[stop - 1] = pitch_ids
    out[(stop - 2)[has_vel]] = layout.velocity + vel_bins[has_vel] - 1
    out[(begin + full)[has_rest]] = layout.time_shift + rest[has_rest] - 1
    total_full = int(full.sum())
    if total_full:
        owner_begin = np.repeat(begin, full)
        within = np.arange(total_full) - np.repeat(np.cumsum(full) - full, full)
        out[owner_begin + within] = layout.time_shift + big - 1
    return out


def _blocks(sorted_keys: np.ndarray):
    """(block id, index of its block's first element) of each element of a sorted key array."""
    n = len(sorted_keys)
    new_block = np.ones(n, np.bool_)
    new_block[1:] = sorted_keys[1:] != sorted_keys[:-1]
    block = np.cumsum(new_block) - 1
    return block, np.flatnonzero(new_block)[block]


def decode_performance(ids, layout: PerformanceLayout, steps_per_second: float,
                       max_note_duration: Optional[float] = None) -> music_pb2.NoteSequence:
    """NoteSequence of event ids (no END), as Performance.to_sequence builds it."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    bad = (ids < 0) | (ids >= layout.num_classes)
    if bad.any():
        raise ValueError(f"Unknown event index: {ids[bad][0]}")
    is_on = ids < layout.note_off
    is_off = (ids >= layout.note_off) & (ids < layout.time_shift)
    is_shift = (ids >= layout.time_shift) & (ids < layout.velocity)
    is_vel = ids >= layout.velocity
    pitch = np.where(is_off, ids - layout.note_off, ids) + layout.min_pitch
    step = np.cumsum(np.where(is_shift, ids - layout.time_shift + 1, 0))
    last_step = int(step[-1]) if len(step) else 0
    # Velocity in force at each event: that of the last VELOCITY event before it, else 100.
    last_vel = np.maximum.accumulate(np.where(is_vel, np.arange(len(ids)), -1)) if len(ids) \
        else np.zeros(0, np.int64)
    if layout.num_velocity_bins:
        values = velocity_bin_to_velocity(ids - layout.velocity + 1, layout.num_velocity_bins)
    else:
        values = np.zeros(len(ids), np.int64)
    velocity = np.where(last_vel >= 0, values[np.maximum(last_vel, 0)], 100)

    width = len(ids) + 1
    ons, offs = np.flatnonzero(is_on), np.flatnonzero(is_off)
    # Onsets by (pitch, position): the r-th onset of pitch p is on_sorted[first_of[p] + r].
    on_order = np.lexsort((ons, pitch[ons]))
    on_sorted, on_pitch = ons[on_order], pitch[ons][on_order]
    _, on_first = _blocks(on_pitch)
    on_rank = np.arange(len(ons)) - on_first
    # NOTE_OFFs by (pitch, position); j = 1-based index within the pitch; `before` = onsets of
    # the pitch earlier in the stream; matched_j = j + min(0, min_{i<=j}(before_i - i)).
    off_order = np.lexsort((offs, pitch[offs]))
    off_sorted, off_pitch = offs[off_order], pitch[offs][off_order]
    block, off_first = _blocks(off_pitch)
    j = np.arange(len(offs)) - off_first + 1
    on_keys = on_pitch * width + on_sorted
    before = (np.searchsorted(on_keys, off_pitch * width + off_sorted)
              - np.searchsorted(on_keys, off_pitch * width))
    shift = block * (2 * width)  # separates the pitches in one running minimum
    running = np.minimum.accumulate(before - j - shift) + shift if len(offs) else j
    matched = j + np.minimum(running, 0)
    previous = np.where(j > 1, np.roll(matched, 1), 0)
    is_match = matched > previous
    # Closed notes, in NOTE_OFF order.
    m_off, m_pitch, m_rank = off_sorted[is_match], off_pitch[is_match], matched[is_match] - 1
    m_on = on_sorted[np.searchsorted(on_pitch, m_pitch) + m_rank]
    by_off = np.argsort(m_off, kind="stable")
    m_off, m_on = m_off[by_off], m_on[by_off]
    # Open notes: onsets past their pitch's matched count, by the pitch's first event, FIFO.
    closed_count = np.zeros(129, np.int64)
    np.maximum.at(closed_count, m_pitch, m_rank + 1)
    open_on = on_sorted[on_rank >= closed_count[on_pitch]]
    events = np.flatnonzero(is_on | is_off)
    first_seen = np.full(129, len(ids), np.int64)
    np.minimum.at(first_seen, pitch[events], events)
    open_on = open_on[np.lexsort((open_on, first_seen[pitch[open_on]]))]

    start_pos = np.concatenate([m_on, open_on])
    start_step = step[start_pos]
    end_step = np.concatenate([step[m_off], np.full(len(open_on), last_step, np.int64)])
    keep = start_step != end_step
    start_pos, start_step, end_step = start_pos[keep], start_step[keep], end_step[keep]
    seconds_per_step = 1.0 / steps_per_second
    start_time = start_step * seconds_per_step + 0.0
    end_time = end_step * seconds_per_step + 0.0
    if max_note_duration:
        end_time = np.where(end_time - start_time > max_note_duration,
                            start_time + max_note_duration, end_time)
    ns = music_pb2.NoteSequence(ticks_per_quarter=constants.STANDARD_PPQ)
    add_notes(ns, pitch[start_pos], velocity[start_pos], start_time, end_time)
    ns.total_time = max(float(end_time.max()), 0.0) if len(end_time) else 0.0
    return ns
