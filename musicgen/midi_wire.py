"""pretty_midi's instruments -> NoteSequence repeated fields, written in protobuf wire format.

Building a NoteSequence note by note (`ns.notes.add(...)`) costs about a microsecond per field
and a MAESTRO performance has ~100 k fields. `encode(pairing, tempo_map)` instead writes every
element of `notes`, `pitch_bends` and `control_changes` as bytes in one compiled loop — times
from pretty_midi's tempo-map arithmetic, elements in note_seq's order (by instrument, then
as pretty_midi appended them; control changes of a shared straggler list repeated under each
instrument holding it) — and `NoteSequence.MergeFromString` parses the buffer in C. Fixed-size
records: `instrument` always takes 3 varint bytes (values < 2**21, non-minimal form, which
protobuf accepts) and `bend` 10 (int32, negative values sign-extended as protobuf does).

    >>> import numpy as np
    >>> from note_seq.protobuf import music_pb2
    >>> notes = np.array([[0, 60, 90, 0, 480]])          # instrument, pitch, velocity, ticks
    >>> insts = np.array([[0, 0, 0, -1]])                # program, channel, list, name event
    >>> empty = np.zeros((0, 4), np.int64)
    >>> tempo = (np.array([0]), np.array([60 / (120 * 480)]), np.array([0.0]))
    >>> buf, total, _ = encode(notes, insts, empty, empty, 1, *tempo)
    >>> ns = music_pb2.NoteSequence.FromString(buf.tobytes())
    >>> (ns.notes[0].pitch, ns.notes[0].end_time, total)
    (60, 0.5, 0.5)
"""
from __future__ import annotations


import numba
import numpy as np

MAX_INSTRUMENTS = 1 << 21  # ids that fit the 3-byte instrument varint
NOTE_SIZE, CC_SIZE, BEND_SIZE = 32, 23, 30  # bytes per serialized element


@numba.njit(cache=True, nogil=True)
def seconds(tick, tm_ticks, tm_scales, tm_starts):
    """pretty_midi's tick_to_time[tick]: start_k + scale_k * (tick - tick_k)."""
    k = np.searchsorted(tm_ticks, tick, side="right") - 1
    return tm_starts[k] + tm_scales[k] * np.float64(tick - tm_ticks[k])


@numba.njit(cache=True, nogil=True)
def put_double(out, pos, value, scratch, scratch_bytes):
    scratch[0] = value
    for b in range(8):
        out[pos + b] = scratch_bytes[b]


@numba.njit(cache=True, nogil=True)
def put_instrument(out, pos, inst):
    out[pos] = (inst & 0x7F) | 0x80
    out[pos + 1] = ((inst >> 7) & 0x7F) | 0x80
    out[pos + 2] = inst >> 14


@numba.njit(cache=True, nogil=True)
def by_key(keys, num_keys):
    """Stable counting sort: (row order, start of each key, count of each key)."""
    counts = np.zeros(num_keys + 1, np.int64)
    for i in range(len(keys)):
        counts[keys[i] + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    order = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        order[fill[keys[i]]] = i
        fill[keys[i]] += 1
    return order, starts[:-1], counts[1:]


@numba.njit(cache=True, nogil=True)
def encode_kernel(notes, insts, ccs, bends, num_lists, tm_ticks, tm_scales, tm_starts):
    ni = len(insts)
    n_order, n_start, n_count = by_key(notes[:, 0], ni)
    c_order, c_start, c_count = by_key(ccs[:, 0], num_lists)
    b_order, b_start, b_count = by_key(bends[:, 0], num_lists)
    held = np.zeros(num_lists, np.bool_)
    total_cc = 0
    total_bend = 0
    for i in range(ni):
        held[insts[i, 2]] = True
        total_cc += c_count[insts[i, 2]]
        total_bend += b_count[insts[i, 2]]
    orphans = 0
    for lst in range(num_lists):
        if not held[lst]:
            orphans += c_count[lst] + b_count[lst]
    out = np.zeros(len(notes) * 32 + total_bend * 30 + total_cc * 23, np.uint8)
    scratch = np.zeros(1, np.float64)
    scratch_bytes = scratch.view(np.uint8)
    pos = 0
    total_time = 0.0
    for i in range(ni):
        prog = insts[i, 0]
        drum = 1 if insts[i, 1] == 9 else 0
        for r in range(n_start[i], n_start[i] + n_count[i]):
            row = n_order[r]
            start = seconds(notes[row, 3], tm_ticks, tm_scales, tm_starts)
            end = seconds(notes[row, 4], tm_ticks, tm_scales, tm_starts)
            if end > total_time:
                total_time = end
            out[pos] = 0x42  # field 8 (notes), length-delimited
            out[pos + 1] = 30
            out[pos + 2] = 0x08
            out[pos + 3] = notes[row, 1]
            out[pos + 4] = 0x10
            out[pos + 5] = notes[row, 2]
            out[pos + 6] = 0x19
            put_double(out, pos + 7, start, scratch, scratch_bytes)
            out[pos + 15] = 0x21
            put_double(out, pos + 16, end, scratch, scratch_bytes)
            out[pos + 24] = 0x38
            put_instrument(out, pos + 25, i)
            out[pos + 28] = 0x40
            out[pos + 29] = prog
            out[pos + 30] = 0x48
            out[pos + 31] = drum
            pos += 32
    for i in range(ni):
        prog = insts[i, 0]
        drum = 1 if insts[i, 1] == 9 else 0
        lst = insts[i, 2]
        for r in range(b_start[lst], b_start[lst] + b_count[lst]):
            row = b_order[r]
            out[pos] = 0x52  # field 10 (pitch_bends)
            out[pos + 1] = 28
            out[pos + 2] = 0x09
            put_double(out, pos + 3, seconds(bends[row, 1], tm_ticks, tm_scales, tm_starts),
                       scratch, scratch_bytes)
            out[pos + 11] = 0x10
            v = np.uint64(np.int64(bends[row, 2]))
            for b in range(10):
                byte = np.uint8((v >> np.uint64(7 * b)) & np.uint64(0x7F))
                if b < 9:
                    byte |= np.uint8(0x80)
                out[pos + 12 + b] = byte
            out[pos + 22] = 0x18
            put_instrument(out, pos + 23, i)
            out[pos + 26] = 0x20
            out[pos + 27] = prog
            out[pos + 28] = 0x28
            out[pos + 29] = drum
            pos += 30
    for i in range(ni):
        prog = insts[i, 0]
        drum = 1 if insts[i, 1] == 9 else 0
        lst = insts[i, 2]
        for r in range(c_start[lst], c_start[lst] + c_count[lst]):
            row = c_order[r]
            out[pos] = 0x5A  # field 11 (control_changes)
            out[pos + 1] = 21
            out[pos + 2] = 0x09
            put_double(out, pos + 3, seconds(ccs[row, 1], tm_ticks, tm_scales, tm_starts),
                       scratch, scratch_bytes)
            out[pos + 11] = 0x10
            out[pos + 12] = ccs[row, 2]
            out[pos + 13] = 0x18
            out[pos + 14] = ccs[row, 3]
            out[pos + 15] = 0x20
            put_instrument(out, pos + 16, i)
            out[pos + 19] = 0x28
            out[pos + 20] = prog
            out[pos + 21] = 0x30
            out[pos + 22] = drum
            pos += 23
    shared = (total_cc + total_bend) - (len(ccs) + len(bends) - orphans)
    return out, total_time, np.array([orphans, shared], np.int64)


def encode(notes, insts, ccs, bends, num_lists, tm_ticks, tm_scales, tm_starts):
    """(wire-format bytes of notes + pitch bends + control changes as a uint8 array, total time,
    [events no instrument holds, events repeated under instruments sharing a list]).

    notes: (n, 5) instrument, pitch, velocity, start tick, end tick in closing order;
    insts: (i, 4) program, channel, list id, name event; ccs / bends: (k, 4) list id, tick,
    number / value, value / -; the tempo map as segment ticks, scales and start seconds."""
    return encode_kernel(notes, insts, ccs, bends, num_lists, tm_ticks, tm_scales, tm_starts)
