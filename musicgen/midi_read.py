"""The compiled MIDI reader: file bytes -> NoteSequence fields, in one numba call.

`read(data, max_events, max_seconds)` runs, without returning to Python in between:

1. `midi_scan`'s scanner (mido's reading rules) -> event arrays;
2. pretty_midi's tempo map from the track-0 tempos (a tempo at tick 0 replaces 120 qpm, a tempo
   equal to the previous one is dropped, segment start times summed in order as pretty_midi's
   array is filled), the duration limit and the time-signature checks pretty_midi / note_seq
   make;
3. `midi_pairing`'s note pairing and instruments;
4. `midi_wire`'s encoding of notes, pitch bends and control changes in note_seq's order.

One call keeps the fixed cost of a small file (a Groove fill, a Nottingham tune) to tens of
microseconds. `musicgen.midi_io` turns the result into a NoteSequence.
"""
from __future__ import annotations

import dataclasses

import numba
import numpy as np

from musicgen import midi_pairing, midi_scan, midi_wire

# error codes past midi_scan's
ERRORS = dict(midi_scan.ERRORS)
ERRORS.update({
    16: "set-tempo event of 0 microseconds per quarter at tick {arg}",
    17: "the music lasts more than {arg} hours (the per-file limit; a corrupt tempo or delta "
        "time?)",
    18: "invalid time signature (numerator 0 or denominator above 2**30) at tick {arg}",
    19: "more than {arg} instruments (the per-file limit)",
})


@dataclasses.dataclass
class Result:
    wire: np.ndarray         # uint8: serialized notes, pitch bends, control changes
    total_time: float
    tempo_ticks: np.ndarray  # tempo map segments
    tempo_scales: np.ndarray
    tempo_starts: np.ndarray
    time_signatures: np.ndarray  # (k, 3) tick, numerator, log2 denominator
    key_signatures: np.ndarray   # (k, 3) tick, sharps, mode
    names: np.ndarray        # (k, 3) instrument, offset, length of its track name
    counts: np.ndarray       # DROPPED_NOTES then DROPPED_EVENTS


ReadError = midi_scan.ScanError  # one error type for the caller


@numba.njit(cache=True, nogil=True)
def read_kernel(buf, pos, num_tracks, division, max_events, max_seconds):
    n = len(buf)
    cap = min(n // 2 + 1, max_events)  # a stored event takes >= 2 bytes
    trk = np.empty(cap, np.int32)
    tick = np.empty(cap, np.int64)
    st = np.empty(cap, np.uint8)
    d1 = np.empty(cap, np.uint8)
    d2 = np.empty(cap, np.uint8)
    off = np.empty(cap, np.int64)
    ln = np.empty(cap, np.int64)
    metas = np.empty((min(n // 6 + 1, cap), 4), np.int64)  # such a meta takes >= 6 bytes
    k, km, total, err, etrack, earg = midi_scan.scan_kernel(buf, pos, num_tracks, max_events, trk,
                                                  tick, st, d1, d2, off, ln, metas)
    empty_u8 = np.zeros(0, np.uint8)
    empty_i = np.zeros(1, np.int64)
    empty_f = np.zeros(1, np.float64)
    empty_2 = np.zeros((0, 3), np.int64)
    if err:
        return (err, etrack, earg, empty_u8, 0.0, empty_i, empty_f, empty_f, empty_2,
                empty_2, empty_2, empty_i)
    trk, tick, st, d1, d2, off, ln = trk[:k], tick[:k], st[:k], d1[:k], d2[:k], off[:k], ln[:k]
    metas = metas[:km]

    # tempo map (pretty_midi's _load_tempo_changes / _update_tick_to_time arithmetic)
    nt = 0
    for i in range(km):
        if metas[i, 0] == 0x51:
            nt += 1
    tm_ticks = np.zeros(nt + 1, np.int64)
    tm_scales = np.empty(nt + 1, np.float64)
    tm_scales[0] = 60.0 / (120.0 * division)
    m = 1
    for i in range(km):
        if metas[i, 0] != 0x51:
            continue
        mspq = metas[i, 2]
        if mspq == 0:
            return (16, 0, metas[i, 1], empty_u8, 0.0, empty_i, empty_f, empty_f, empty_2,
                    empty_2, empty_2, empty_i)
        scale = 60.0 / ((6e7 / np.float64(mspq)) * division)
        if metas[i, 1] == 0:
            m = 1
            tm_scales[0] = scale
        elif scale != tm_scales[m - 1]:
            tm_ticks[m] = metas[i, 1]
            tm_scales[m] = scale
            m += 1
    tm_ticks, tm_scales = tm_ticks[:m], tm_scales[:m]
    tm_starts = np.zeros(m, np.float64)
    for j in range(1, m):
        tm_starts[j] = tm_starts[j - 1] + tm_scales[j - 1] * np.float64(
            tm_ticks[j] - tm_ticks[j - 1])
    last = np.int64(0)
    for i in range(k):
        if tick[i] > last:
            last = tick[i]
    j = np.searchsorted(tm_ticks, last, side="right") - 1
    if tm_starts[j] + tm_scales[j] * np.float64(last - tm_ticks[j]) > max_seconds:
        return (17, 0, np.int64(max_seconds / 3600), empty_u8, 0.0, empty_i, empty_f,
                empty_f, empty_2, empty_2, empty_2, empty_i)

    nts = 0
    nks = 0
    for i in range(km):
        if metas[i, 0] == 0x58:
            nts += 1
        elif metas[i, 0] == 0x59:
            nks += 1
    ts = np.empty((nts, 3), np.int64)
    ks = np.empty((nks, 3), np.int64)
    a = 0
    b = 0
    for i in range(km):
        if metas[i, 0] == 0x58:
            if metas[i, 2] == 0 or metas[i, 3] >= 31:
                return (18, 0, metas[i, 1], empty_u8, 0.0, empty_i, empty_f, empty_f,
                        empty_2, empty_2, empty_2, empty_i)
            ts[a, 0], ts[a, 1], ts[a, 2] = metas[i, 1], metas[i, 2], metas[i, 3]
            a += 1
        elif metas[i, 0] == 0x59:
            ks[b, 0], ks[b, 1], ks[b, 2] = metas[i, 1], metas[i, 2], metas[i, 3]
            b += 1

    n_on = 0
    n_cc = 0
    n_bend = 0
    for i in range(k):
        hi = st[i] & 0xF0
        if st[i] == 0xFF:
            continue
        if hi == 0x90:
            n_on += 1
        elif hi == 0xB0:
            n_cc += 1
        elif hi == 0xE0:
            n_bend += 1
    notes = np.empty((n_on, 5), np.int64)
    insts = np.empty((max(n_on, 1), 4), np.int64)
    ccs = np.empty((n_cc, 4), np.int64)
    bends = np.zeros((n_bend, 4), np.int64)
    counts = np.zeros(5, np.int64)
    kn, ki, kc, kb, lists = midi_pairing.pair_kernel(trk, tick, st, d1, d2, num_tracks, notes, insts,
                                        ccs, bends, counts)
    if ki >= 1 << 21:
        return (19, 0, (1 << 21) - 1, empty_u8, 0.0, empty_i, empty_f, empty_f, empty_2,
                empty_2, empty_2, empty_i)
    wire, total_time, ev_counts = midi_wire.encode_kernel(notes[:kn], insts[:ki], ccs[:kc],
                                                bends[:kb], lists, tm_ticks, tm_scales,
                                                tm_starts)
    counts[3] = ev_counts[0]
    counts[4] = ev_counts[1]
    nn = 0
    for i in range(ki):
        if insts[i, 3] >= 0:
            nn += 1
    names = np.empty((nn, 3), np.int64)
    c = 0
    for i in range(ki):
        e = insts[i, 3]
        if e >= 0:
            names[c, 0], names[c, 1], names[c, 2] = i, off[e], ln[e]
            c += 1
    return (0, 0, 0, wire, total_time, tm_ticks, tm_scales, tm_starts, ts, ks, names,
            counts)


def read(data: bytes, max_events: int, max_seconds: float) -> Result:
    """Read MIDI bytes; raises ReadError with a message (no file name)."""
    pos, num_tracks, division = midi_scan.header(data)
    out = read_kernel(np.frombuffer(data, dtype=np.uint8), pos, num_tracks, division, max_events,
                    float(max_seconds))
    err, track, arg = out[0], out[1], out[2]
    if err:
        raise ReadError(ERRORS[err].format(track=track, arg=arg))
    return Result(*out[3:])


DROPPED = midi_pairing.DROPPED_NOTES + midi_pairing.DROPPED_EVENTS
