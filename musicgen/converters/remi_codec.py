"""REMI token ids <-> note arrays, vectorised (the grammar is in `remi`'s module docstring).

`RemiIds` maps every vocabulary id to a (kind, value) pair once, so that encoding builds the
whole piece's id stream with one sort of (step, rank) keys — Bar, Position, Chord, then the
notes' Velocity/Pitch/Duration triples in (start, pitch, end, velocity) order — and decoding
reads a stream with cumulative sums / maxima instead of a token loop:

* the step of a token is (bars before it, from 0) * positions_per_bar + the value of the last
  Position since the last Bar (0 if none);
* a Duration makes a note iff the token before it is a Pitch (any other token clears a
  pending pitch), with the velocity of the last Velocity token (100 if none);
* a TempoValue needs an earlier TempoClass; it replaces the tempos at or after its step, so a
  tempo survives iff its step is below every later tempo's step.

Chords: `segment_chords` is `remi_chords.segment_profiles` + `match_chord` for all segments
at once (the same scores, rounded to 9 decimals, and tie-breaks).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from note_seq import constants, sequences_lib
from note_seq.performance_lib import velocity_bin_to_velocity, velocity_to_bin
from note_seq.protobuf import music_pb2

from musicgen.converters import remi_chords
from musicgen.converters.note_arrays import NoteArrays, add_notes

KINDS = ("Bar", "Position", "TempoClass", "TempoValue", "Chord", "Velocity", "Pitch",
         "Duration", "EOS")
BAR, POSITION, TEMPO_CLASS, TEMPO_VALUE, CHORD, VELOCITY, PITCH, DURATION, EOS = range(9)
CHORD_SYMBOL = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
_SYMBOLS = [remi_chords.chord_symbol(remi_chords.parse_chord_name(n))
            for n in remi_chords.chord_names()]
_MASKS_T = remi_chords._MASKS.T.astype(np.float64)  # (12, 60)


class RemiIds:
    """Kind / value of each id of a REMI vocabulary (token list), and the first id of each
    kind. Values: Position p, TempoClass start qpm, TempoValue v, Chord index in
    chord_names(), Velocity bin, Pitch, Duration steps."""

    def __init__(self, tokens: Sequence[str], tempo_classes: Sequence):
        starts = dict(tempo_classes)
        chord_index = {n: i for i, n in enumerate(remi_chords.chord_names())}
        self.kind = np.zeros(len(tokens), np.int64)
        self.value = np.zeros(len(tokens), np.int64)
        self.first = {}
        for i, token in enumerate(tokens):
            name, _, value = token.partition("_")
            k = KINDS.index(name)
            self.kind[i] = k
            self.first.setdefault(k, i)
            if k == TEMPO_CLASS:
                self.value[i] = starts[value]
            elif k == CHORD:
                self.value[i] = chord_index[value]
            elif value:
                self.value[i] = int(value)
        self.min_value = {k: int(self.value[self.first[k]]) for k in self.first}

    def id_of(self, kind: int, value) -> np.ndarray:
        """Ids of tokens of one kind by value (values consecutive from the kind's first)."""
        return self.first[kind] + np.asarray(value, np.int64) - self.min_value[kind]


def segment_chords(starts, ends, pitches, segment_steps: int, num_segments: int) -> np.ndarray:
    """Chord index (into chord_names(); N.C. = 60) of every segment [k*s, (k+1)*s)."""
    weights = np.zeros((num_segments, 12))
    bass = np.full(num_segments, 128, np.int64)
    end_step = segment_steps * num_segments
    lo, hi = np.maximum(starts, 0), np.minimum(ends, end_step)
    live = hi > lo
    lo, hi, pitch = lo[live], hi[live], pitches[live]
    first, last = lo // segment_steps, (hi - 1) // segment_steps
    count = last - first + 1
    owner = np.repeat(np.arange(len(lo)), count)
    seg = first[owner] + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    seg_start = seg * segment_steps
    overlap = np.minimum(hi[owner], seg_start + segment_steps) - np.maximum(lo[owner], seg_start)
    np.add.at(weights, (seg, pitch[owner] % 12), overlap)
    np.minimum.at(bass, seg, pitch[owner])
    total = weights.sum(axis=1)
    sounding = total > 0
    w = weights[sounding] / total[sounding, None]
    inside = w @ _MASKS_T
    missing = (~(w > 0)).astype(np.float64) @ _MASKS_T
    scores = np.round(2 * inside - 1 - remi_chords.MISSING_PENALTY * missing, 9)
    best_score = scores.max(axis=1, keepdims=True)
    tied = scores == best_score
    bass_pc = bass[sounding] % 12
    preferred = tied & (remi_chords._ROOTS[None, :] == bass_pc[:, None])
    best = np.where(preferred.any(axis=1), preferred.argmax(axis=1), tied.argmax(axis=1))
    out = np.full(num_segments, len(_SYMBOLS) - 1, np.int64)
    out[sounding] = np.where(best_score[:, 0] < remi_chords.DEFAULT_MIN_SCORE,
                             len(_SYMBOLS) - 1, best)
    return out


def quantize_to_grid(notes: NoteArrays, steps_per_quarter: int, qpm: float):
    """(start steps, end steps) as `sequences_lib.quantize_note_sequence` at one tempo."""
    sps = sequences_lib.steps_per_quarter_to_steps_per_second(steps_per_quarter, qpm)
    offset = 1.0 - sequences_lib.QUANTIZE_CUTOFF
    qs = (notes.start * sps + offset).astype(np.int64)
    qe = (notes.end * sps + offset).astype(np.int64)
    qe = np.where(qe == qs, qe + 1, qe)
    if len(qs) and (qs.min() < 0 or qe.min() < 0):
        i = int(np.flatnonzero((qs < 0) | (qe < 0))[0])
        raise sequences_lib.NegativeTimeError(
            f"Got negative note time: start_step = {qs[i]}, end_step = {qe[i]}")
    return qs, qe


def piece_ids(ids: RemiIds, qs, qe, pitch, velocity, positions_per_bar: int,
              num_velocity_bins: int, max_duration_steps: int, chord_steps: Optional[int]):
    """(flat id stream of all bars, index where each bar starts, chord sounding at each bar
    start or -1) of quantized notes; no tempo tokens, no EOS."""
    order = np.lexsort((velocity, qe, pitch, qs))
    qs, qe, pitch, velocity = qs[order], qe[order], pitch[order], velocity[order]
    n = len(qs)
    ppb = positions_per_bar
    num_bars = int(qs[-1]) // ppb + 1
    total_steps = num_bars * ppb
    vbin = velocity_to_bin(velocity, num_velocity_bins)
    if len(vbin) and (vbin.min() < 1 or vbin.max() > num_velocity_bins):
        bad = int(vbin[(vbin < 1) | (vbin > num_velocity_bins)][0])
        raise ValueError(f"token 'Velocity_{bad}' is not in the REMI vocabulary")
    duration = np.clip(qe - qs, 1, max_duration_steps)
    note_tokens = np.stack([ids.id_of(VELOCITY, vbin), ids.id_of(PITCH, pitch),
                            ids.id_of(DURATION, duration)], axis=1).reshape(-1)
    bar_start_chord = np.full(num_bars, -1, np.int64)
    if chord_steps:
        num_segments = -(-total_steps // chord_steps)
        chords = segment_chords(qs, qe, pitch, chord_steps, num_segments)
        change = np.ones(num_segments, np.bool_)
        change[1:] = chords[1:] != chords[:-1]
        chord_seg = np.flatnonzero(change)
        chord_step, chord_tok = chord_seg * chord_steps, ids.id_of(CHORD, chords[chord_seg])
        # chord sounding at bar b > 0: that of the last segment starting before b * ppb
        last_seg = -(-(np.arange(1, num_bars) * ppb) // chord_steps) - 1
        bar_start_chord[1:] = chords[last_seg]
    else:
        chord_step, chord_tok = np.zeros(0, np.int64), np.zeros(0, np.int64)
    position_steps = np.union1d(qs, chord_step)
    bar_steps = np.arange(num_bars) * ppb
    # keys: (step, rank, sub): Bar 0, Position 1, Chord 2, note tokens 3 (sub = order).
    step = np.concatenate([bar_steps, position_steps, chord_step, np.repeat(qs, 3)])
    rank = np.concatenate([np.zeros(num_bars, np.int64), np.ones(len(position_steps), np.int64),
                           np.full(len(chord_step), 2), np.full(3 * n, 3)])
    sub = np.concatenate([np.zeros(num_bars + len(position_steps) + len(chord_step), np.int64),
                          np.arange(3 * n)])
    token = np.concatenate([np.full(num_bars, ids.first[BAR]),
                            ids.id_of(POSITION, position_steps % ppb), chord_tok, note_tokens])
    order = np.lexsort((sub, rank, step))
    stream = token[order]
    bar_index = np.flatnonzero(rank[order] == 0)
    return stream, bar_index, bar_start_chord


def decode_ids(ids: RemiIds, stream, positions_per_bar: int, steps_per_quarter: int,
               num_velocity_bins: int, report: Optional[dict] = None) -> music_pb2.NoteSequence:
    """NoteSequence of a REMI id stream, with `RemiConverter.decode_tokens`' lenient rules."""
    stream = np.asarray(stream, np.int64).reshape(-1)
    kind = ids.kind[stream]
    eos = np.flatnonzero(kind == EOS)
    if len(eos):
        stream, kind = stream[:eos[0]], kind[:eos[0]]
    value = ids.value[stream]
    n = len(stream)
    idx = np.arange(n)
    is_bar = kind == BAR
    bar_before = np.cumsum(is_bar) - is_bar - 1  # bar index in force before each token
    marker = np.where(is_bar | (kind == POSITION), idx, -1)
    last_marker = np.concatenate([[-1], np.maximum.accumulate(marker)[:-1]]) if n else marker
    pos_before = np.where(last_marker >= 0, np.where(kind[np.maximum(last_marker, 0)] == POSITION,
                                                     value[np.maximum(last_marker, 0)], 0), 0)
    step = np.maximum(bar_before, 0) * positions_per_bar + pos_before
    prev_kind = np.concatenate([[-1], kind[:-1]])
    next_kind = np.concatenate([kind[1:], [-1]])
    # Counts (reason -> (count, first position)), inserted in order of first occurrence.
    reasons = []

    def note_reason(name, where):
        if len(where):
            reasons.append((int(where[0]), name, len(where)))
    note_reason("pitch without a duration",
                idx[(kind == PITCH) & (next_kind != DURATION)] * 2 + 2)
    note_reason("position before any bar", idx[(kind == POSITION) & (bar_before < 0)] * 2 + 1)
    tc_marker = np.where(kind == TEMPO_CLASS, idx, -1)
    last_tc = np.maximum.accumulate(tc_marker) if n else tc_marker
    is_tv = kind == TEMPO_VALUE
    note_reason("tempo value without a tempo class", idx[is_tv & (last_tc < 0)] * 2 + 1)
    is_note = (kind == DURATION) & (prev_kind == PITCH)
    note_reason("duration with no note", idx[(kind == DURATION) & ~is_note] * 2 + 1)
    if report is not None:
        for _, name, count in sorted(reasons):
            report[name] = report.get(name, 0) + count
    # Tempos: the initial 120 qpm at step 0, then each valid TempoValue at its step; one
    # survives iff its step is below every later one's.
    tv = np.flatnonzero(is_tv & (last_tc >= 0))
    t_step = np.concatenate([[0], step[tv]])
    t_qpm = np.concatenate([[float(constants.DEFAULT_QUARTERS_PER_MINUTE)],
                            (value[last_tc[tv]] + value[tv]).astype(np.float64)])
    later_min = np.minimum.accumulate(np.append(t_step, np.iinfo(np.int64).max)[::-1])[::-1][1:]
    alive = t_step < later_min
    t_step, t_qpm = t_step[alive], t_qpm[alive]
    # Notes and chords.
    dur = np.flatnonzero(is_note)
    vel_marker = np.where(kind == VELOCITY, idx, -1)
    last_vel = np.maximum.accumulate(vel_marker) if n else vel_marker
    vel = np.where(last_vel[dur] >= 0,
                   velocity_bin_to_velocity(value[np.maximum(last_vel[dur], 0)], num_velocity_bins),
                   100)
    chords = np.flatnonzero(kind == CHORD)
    return _sequence(t_step, t_qpm, steps_per_quarter, value[dur - 1], vel, step[dur],
                     step[dur] + value[dur], step[chords], [_SYMBOLS[c] for c in value[chords]])


def _sequence(t_step, t_qpm, steps_per_quarter, pitch, velocity, start, end, chord_step,
              chord_text) -> music_pb2.NoteSequence:
    """NoteSequence of step-timed tempos, notes and chords (4/4, note_seq's 220 ppq)."""
    secs_per_step = 60.0 / (t_qpm * steps_per_quarter)
    starts = np.concatenate([[0.0], np.cumsum(np.diff(t_step) * secs_per_step[:-1])])

    def seconds(steps):
        i = np.searchsorted(t_step, steps, side="right") - 1
        return starts[i] + (steps - t_step[i]) * secs_per_step[i]

    ns = music_pb2.NoteSequence(ticks_per_quarter=constants.STANDARD_PPQ)
    ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
    for time, qpm in zip(seconds(t_step).tolist(), t_qpm.tolist()):
        ns.tempos.add(time=time, qpm=qpm)
    start_time, end_time = seconds(start), seconds(end)
    add_notes(ns, pitch, velocity, start_time, end_time)
    for time, text in zip(seconds(chord_step).tolist(), chord_text):
        ns.text_annotations.add(time=time, text=text, annotation_type=CHORD_SYMBOL)
    ns.total_time = float(end_time.max()) if len(end_time) else 0.0
    return ns
