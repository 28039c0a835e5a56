"""NoteSequence -> Standard MIDI File, vectorised, byte-identical to note_seq's writer.

`write_midi_file(ns, path)` writes the same bytes as the note_seq path that
`musicgen.midi_io.note_sequence_to_midi_file` has used so far
(`_first_instrument_as_zero`, `note_seq.midi_io.note_sequence_to_pretty_midi`,
`PrettyMIDI.write` through mido, then `_extend_to` moving every end-of-track to
`ns.total_time`), but builds them from numpy arrays: one row per MIDI event
(track, tick, pretty_midi's same-tick ordering key, insertion order), one stable
lexsort, vectorised delta times / VLQ / running status, and the bytes gathered
from a fixed-width matrix with a mask. `note_sequence_to_midi_bytes(ns)` returns
the file contents.

Semantics reproduced (from note_seq 0.0.5, pretty_midi 0.2.11, mido 1.3.3):

* resolution = ticks_per_quarter or 220; format 1; track 0 holds a default 4/4
  (unless a time signature is at time 0), the tempos, time and key signatures
  sorted by (tick, tempo < time sig < key sig, list order), end-of-track one tick
  after its last event.
* the initial tempo is the first tempo at time 0 (120 qpm without one); every
  other tempo (list order, skipping ones equal to it) gets its tick from the tempo
  map built so far (pretty_midi's `time_to_tick` over `__tick_to_time`, rounding
  half to even past its end); a tempo is written as int(6e7 / qpm') microseconds.
* one track per pretty_midi instrument: instrument 0 always exists (program 0,
  no name) and takes the events of the *last* (instrument <= 0, program, is_drum)
  key in sorted order -- the events of earlier such keys are dropped, as note_seq
  does; every key with instrument > 0 gets its own track in sorted key order, named
  from `instrument_infos` or 'Drums' / pretty_midi's program name. Channel 9 for
  drums, else channel [0..8, 10..15][track index % 15].
* events of an instrument track: track name (if any), program change, note-on and
  note-off (note-on velocity 0) per note in sequence order, pitch bends, control
  changes; sorted by (tick, kind, value) like pretty_midi's `event_compare`
  (program < bend < CC < note, then bend value / CC number & value / pitch &
  velocity, so a note-off sorts before a note-on of its pitch), ties in insertion
  order; mido's running status.
* times -> ticks with the final tempo map (a negative time is tick 0, as in
  pretty_midi); `_first_instrument_as_zero`: when no event uses instrument 0, the
  lowest instrument id becomes 0; if `total_time` is past pretty_midi's
  `get_end_time()`, every end-of-track shorter than `time_to_tick(total_time)` is
  moved there.

Errors (MidiConversionError naming the path, raised before anything is written):
the current writer's (a note ending before its start, a tempo <= 0 qpm) and every
value the note_seq path cannot write: pitch / velocity / program / CC number or
value outside 0..127, bend outside -8192..8191, a non-finite time, qpm, or
total_time = inf, a tempo too slow for 24-bit microseconds, a tempo change at or
past pretty_midi's MAX_TICK (10,000,000), time / key signatures pretty_midi or
mido reject, a track name that is not latin-1, more than 32,767 tracks. Unlike
the note_seq path, a negative ticks_per_quarter is rejected (pretty_midi would
write a garbage file) and so is a tick at or past 2**62.

Reading the fields of a large NoteSequence attribute by attribute costs more than
the whole encoding, so above `_NUMBA_MIN_EVENTS` notes + bends + CCs (or whenever
numba is already imported) the proto is serialised and its notes, bends and CCs
are read from the wire format by a small numba loop (numba imported on first use).
"""
from __future__ import annotations

import functools
import math
import os
import struct
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

from musicgen.midi_io import MidiConversionError

__all__ = ["note_sequence_to_midi_bytes", "write_midi_file"]

_STANDARD_PPQ = 220  # note_seq.constants.STANDARD_PPQ
_DEFAULT_QPM = 120.0  # note_seq.constants.DEFAULT_QUARTERS_PER_MINUTE
_MAX_TICK = 10_000_000  # pretty_midi.pretty_midi.MAX_TICK
_TICK_LIMIT = 1 << 62
_NUMBA_MIN_EVENTS = 20_000
_MINOR = 1  # music_pb2.NoteSequence.KeySignature.MINOR

# pretty_midi.constants.INSTRUMENT_MAP (program_to_instrument_name); checked in the tests.
_INSTRUMENT_NAMES = (
    'Acoustic Grand Piano', 'Bright Acoustic Piano', 'Electric Grand Piano', 'Honky-tonk Piano',
    'Electric Piano 1', 'Electric Piano 2', 'Harpsichord', 'Clavinet', 'Celesta', 'Glockenspiel',
    'Music Box', 'Vibraphone', 'Marimba', 'Xylophone', 'Tubular Bells', 'Dulcimer',
    'Drawbar Organ', 'Percussive Organ', 'Rock Organ', 'Church Organ', 'Reed Organ', 'Accordion',
    'Harmonica', 'Tango Accordion', 'Acoustic Guitar (nylon)', 'Acoustic Guitar (steel)',
    'Electric Guitar (jazz)', 'Electric Guitar (clean)', 'Electric Guitar (muted)',
    'Overdriven Guitar', 'Distortion Guitar', 'Guitar Harmonics', 'Acoustic Bass',
    'Electric Bass (finger)', 'Electric Bass (pick)', 'Fretless Bass', 'Slap Bass 1',
    'Slap Bass 2', 'Synth Bass 1', 'Synth Bass 2', 'Violin', 'Viola', 'Cello', 'Contrabass',
    'Tremolo Strings', 'Pizzicato Strings', 'Orchestral Harp', 'Timpani', 'String Ensemble 1',
    'String Ensemble 2', 'Synth Strings 1', 'Synth Strings 2', 'Choir Aahs', 'Voice Oohs',
    'Synth Choir', 'Orchestra Hit', 'Trumpet', 'Trombone', 'Tuba', 'Muted Trumpet',
    'French Horn', 'Brass Section', 'Synth Brass 1', 'Synth Brass 2', 'Soprano Sax', 'Alto Sax',
    'Tenor Sax', 'Baritone Sax', 'Oboe', 'English Horn', 'Bassoon', 'Clarinet', 'Piccolo',
    'Flute', 'Recorder', 'Pan Flute', 'Blown bottle', 'Shakuhachi', 'Whistle', 'Ocarina',
    'Lead 1 (square)', 'Lead 2 (sawtooth)', 'Lead 3 (calliope)', 'Lead 4 chiff',
    'Lead 5 (charang)', 'Lead 6 (voice)', 'Lead 7 (fifths)', 'Lead 8 (bass + lead)',
    'Pad 1 (new age)', 'Pad 2 (warm)', 'Pad 3 (polysynth)', 'Pad 4 (choir)', 'Pad 5 (bowed)',
    'Pad 6 (metallic)', 'Pad 7 (halo)', 'Pad 8 (sweep)', 'FX 1 (rain)', 'FX 2 (soundtrack)',
    'FX 3 (crystal)', 'FX 4 (atmosphere)', 'FX 5 (brightness)', 'FX 6 (goblins)',
    'FX 7 (echoes)', 'FX 8 (sci-fi)', 'Sitar', 'Banjo', 'Shamisen', 'Koto', 'Kalimba',
    'Bagpipe', 'Fiddle', 'Shanai', 'Tinkle Bell', 'Agogo', 'Steel Drums', 'Woodblock',
    'Taiko Drum', 'Melodic Tom', 'Synth Drum', 'Reverse Cymbal', 'Guitar Fret Noise',
    'Breath Noise', 'Seashore', 'Bird Tweet', 'Telephone Ring', 'Helicopter', 'Applause',
    'Gunshot')

# pretty_midi key number (0..11 major, 12..23 minor) -> mido's (sharps/flats, mode) bytes.
_KEY_SF_MI = ((0, 0), (-5, 0), (2, 0), (-3, 0), (4, 0), (-1, 0), (6, 0), (1, 0), (-4, 0), (3, 0),
              (-2, 0), (5, 0), (-3, 1), (4, 1), (-1, 1), (6, 1), (1, 1), (-4, 1), (3, 1), (-2, 1),
              (5, 1), (0, 1), (-5, 1), (2, 1))

_CHANNELS = np.array([c for c in range(16) if c != 9], dtype=np.int64)

# pretty_midi event_compare classes (x 65536)
_K_TEMPO, _K_TS, _K_KS = 1 << 16, 2 << 16, 3 << 16
_K_PROGRAM, _K_BEND, _K_CC, _K_NOTE = 6 << 16, 7 << 16, 8 << 16, 10 << 16


class _Fail(Exception):
    """Internal: a value the note_seq writer cannot write (message without the path)."""


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------
def note_sequence_to_midi_bytes(ns, name: str = "<midi bytes>") -> bytes:
    """The MIDI file note_seq's writer (plus our total_time extension) makes of `ns`.

    `name` is only used in error messages. Raises MidiConversionError.
    """
    return _encode(ns, name, None)


def write_midi_file(ns, path: str | os.PathLike) -> None:
    """Write `ns` as a MIDI file; the bytes of `note_sequence_to_midi_bytes`.

    Every check runs before the file is opened; raises MidiConversionError naming `path`.
    """
    name = os.fspath(path)
    data = _encode(ns, name, None)
    try:
        with open(name, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise MidiConversionError(f"{name}: cannot write MIDI: {exc}") from exc


# ----------------------------------------------------------------------------------------
# Columns of the repeated fields
# ----------------------------------------------------------------------------------------
_NOTE_COLS = ("pitch", "velocity", "start_time", "end_time", "instrument", "program", "is_drum")
_BEND_COLS = ("time", "bend", "instrument", "program", "is_drum")
_CC_COLS = ("time", "control_number", "control_value", "instrument", "program", "is_drum")
_FLOAT_COLS = {"start_time", "end_time", "time"}


def _columns_py(items, cols) -> Dict[str, np.ndarray]:
    out = {}
    for c in cols:
        dtype = np.float64 if c in _FLOAT_COLS else np.int64
        out[c] = np.array([getattr(x, c) for x in items], dtype=dtype)
    return out


def _columns(ns, extract: Optional[str]):
    n_events = len(ns.notes) + len(ns.pitch_bends) + len(ns.control_changes)
    if extract is None:
        extract = "numba" if ("numba" in sys.modules or n_events >= _NUMBA_MIN_EVENTS) else "python"
    if extract == "python" or n_events == 0:
        return (_columns_py(ns.notes, _NOTE_COLS), _columns_py(ns.pitch_bends, _BEND_COLS),
                _columns_py(ns.control_changes, _CC_COLS))
    buf = np.frombuffer(ns.SerializeToString(), dtype=np.uint8)
    fill = _kernel()
    cn, cb, cc = len(ns.notes), len(ns.pitch_bends), len(ns.control_changes)
    nf = np.zeros((cn, 2), np.float64)
    ni = np.zeros((cn, 5), np.int64)
    bf = np.zeros(cb, np.float64)
    bi = np.zeros((cb, 4), np.int64)
    cf = np.zeros(cc, np.float64)
    ci = np.zeros((cc, 5), np.int64)
    fill(buf, nf, ni, bf, bi, cf, ci)
    notes = dict(zip(("pitch", "velocity", "instrument", "program", "is_drum"), ni.T))
    notes["start_time"], notes["end_time"] = nf[:, 0], nf[:, 1]
    bends = dict(zip(("bend", "instrument", "program", "is_drum"), bi.T))
    bends["time"] = bf
    ccs = dict(zip(("control_number", "control_value", "instrument", "program", "is_drum"), ci.T))
    ccs["time"] = cf
    return notes, bends, ccs


@functools.lru_cache(maxsize=1)
def _kernel():
    import numba  # lazily: ~1 s to import

    @numba.njit(cache=True, nogil=True)
    def varint(buf, pos):
        v = np.uint64(0)
        shift = np.uint64(0)
        while True:
            b = buf[pos]
            pos += 1
            if shift < np.uint64(64):
                v |= np.uint64(b & 0x7F) << shift
            shift += np.uint64(7)
            if b < 0x80:
                return np.int64(v), pos

    @numba.njit(cache=True, nogil=True)
    def skip(buf, pos, wt):
        if wt == 0:
            _, pos = varint(buf, pos)
        elif wt == 1:
            pos += 8
        elif wt == 2:
            ln, pos = varint(buf, pos)
            pos += ln
        elif wt == 5:
            pos += 4
        else:
            return -1
        return pos

    @numba.njit(cache=True, nogil=True)
    def fill(buf, nf, ni, bf, bi, cf, ci):
        n = len(buf)
        scratch = np.empty(1, np.uint64)
        as_double = scratch.view(np.float64)
        pos = 0
        kn = 0
        kb = 0
        kc = 0
        while pos < n:
            tag, pos = varint(buf, pos)
            f = tag >> 3
            wt = tag & 7
            if wt == 2 and (f == 8 or f == 10 or f == 11):
                ln, pos = varint(buf, pos)
                end = pos + ln
                while pos < end:
                    t, pos = varint(buf, pos)
                    g = t >> 3
                    w = t & 7
                    if w == 1:
                        u = np.uint64(0)
                        for j in range(7, -1, -1):
                            u = (u << np.uint64(8)) | np.uint64(buf[pos + j])
                        scratch[0] = u
                        x = as_double[0]
                        pos += 8
                        if f == 8:
                            if g == 3:
                                nf[kn, 0] = x
                            elif g == 4:
                                nf[kn, 1] = x
                        elif f == 10:
                            if g == 1:
                                bf[kb] = x
                        elif g == 1:
                            cf[kc] = x
                    elif w == 0:
                        v, pos = varint(buf, pos)
                        if f == 8:
                            # pitch 1, velocity 2, instrument 7, program 8, is_drum 9
                            if g == 1:
                                ni[kn, 0] = v
                            elif g == 2:
                                ni[kn, 1] = v
                            elif g == 7:
                                ni[kn, 2] = v
                            elif g == 8:
                                ni[kn, 3] = v
                            elif g == 9:
                                ni[kn, 4] = 1 if v != 0 else 0
                        elif f == 10:
                            # bend 2, instrument 3, program 4, is_drum 5
                            if g == 2:
                                bi[kb, 0] = v
                            elif g == 3:
                                bi[kb, 1] = v
                            elif g == 4:
                                bi[kb, 2] = v
                            elif g == 5:
                                bi[kb, 3] = 1 if v != 0 else 0
                        else:
                            # number 2, value 3, instrument 4, program 5, is_drum 6
                            if g == 2:
                                ci[kc, 0] = v
                            elif g == 3:
                                ci[kc, 1] = v
                            elif g == 4:
                                ci[kc, 2] = v
                            elif g == 5:
                                ci[kc, 3] = v
                            elif g == 6:
                                ci[kc, 4] = 1 if v != 0 else 0
                    else:
                        pos = skip(buf, pos, w)
                if f == 8:
                    kn += 1
                elif f == 10:
                    kb += 1
                else:
                    kc += 1
            else:
                pos = skip(buf, pos, wt)

    return fill


# ----------------------------------------------------------------------------------------
# Tempo map (pretty_midi's _tick_scales / __tick_to_time / time_to_tick)
# ----------------------------------------------------------------------------------------
def _time_to_tick(times: np.ndarray, arr: np.ndarray, final_scale: float) -> np.ndarray:
    """pretty_midi.PrettyMIDI.time_to_tick, vectorised (times finite)."""
    times = np.asarray(times, dtype=np.float64)
    L = len(arr)
    idx = np.searchsorted(arr, times, side="left")
    out = idx.astype(np.int64)
    beyond = idx == L
    if beyond.any():
        x = (L - 1) + (times[beyond] - arr[L - 1]) / final_scale
        x = np.rint(x)
        if not (x < _TICK_LIMIT).all():
            raise _Fail(f"a time of {float(times[beyond][np.argmax(~(x < _TICK_LIMIT))])} s is "
                        f"past tick 2**62")
        out[beyond] = x.astype(np.int64)
    inner = np.flatnonzero(~beyond & (idx > 0))
    if len(inner):
        i = idx[inner]
        t = times[inner]
        out[inner] = i - (np.abs(t - arr[i - 1]) < np.abs(t - arr[i]))
    return out


def _rebuild(scales: List[Tuple[int, float]]) -> np.ndarray:
    """pretty_midi's _update_tick_to_time(0), literally (any order of _tick_scales)."""
    max_tick = max(0, max(t for t, _ in scales))
    arr = np.zeros(max_tick + 1)
    last_end = 0
    for (st, sc), (et, _) in zip(scales[:-1], scales[1:]):
        ticks = np.arange(et - st + 1)
        arr[st:et + 1] = last_end + sc * ticks
        last_end = arr[et]
    st, sc = scales[-1]
    ticks = np.arange(max_tick + 1 - st)
    arr[st:] = last_end + sc * ticks
    return arr


def _tempo_map(ns, resolution: int):
    """(_tick_scales, final __tick_to_time) of note_seq's PrettyMIDI for `ns`."""
    initial = None
    for tempo in ns.tempos:
        if tempo.time == 0:
            initial = tempo
            break
    q0 = initial.qpm if initial is not None else _DEFAULT_QPM
    scales = [(0, 60.0 / (q0 * resolution))]
    buf = np.zeros(16)
    length = 1  # buf[:length] is __tick_to_time while the ticks come in order
    literal: Optional[np.ndarray] = None  # once a tempo tick goes back: pretty_midi's rebuild
    for tempo in ns.tempos:
        if initial is not None and tempo == initial:
            continue
        if not math.isfinite(tempo.time):
            raise _Fail(f"tempo at time {tempo.time}")
        scale = 60.0 / (resolution * tempo.qpm)
        arr = buf[:length] if literal is None else literal
        tick = int(_time_to_tick(np.array([tempo.time]), arr, scales[-1][1])[0])
        if tick >= _MAX_TICK:
            raise _Fail(f"tempo {tempo.qpm} qpm at {tempo.time} s is at tick {tick}, past "
                        f"pretty_midi's MAX_TICK {_MAX_TICK}")
        last_tick, last_scale = scales[-1]
        scales.append((tick, scale))
        if literal is None and tick >= length - 1:
            need = tick + 1
            if need > len(buf):
                grown = np.zeros(max(need, 2 * len(buf)))
                grown[:length] = buf[:length]
                buf = grown
            # segment [last_tick, tick] from the value at last_tick (== length - 1)
            buf[last_tick:tick + 1] = buf[last_tick] + last_scale * np.arange(tick - last_tick + 1)
            length = need
        else:
            literal = _rebuild(scales)
    arr = buf[:length].copy() if literal is None else literal
    return scales, arr


# ----------------------------------------------------------------------------------------
# Byte assembly
# ----------------------------------------------------------------------------------------
def _vlq_width(values: np.ndarray) -> int:
    """Bytes of mido's variable-length int for the largest of `values` (>= 0)."""
    top = int(values.max()) if len(values) else 0
    return max(1, (top.bit_length() + 6) // 7)


def _put_vlq(mat: np.ndarray, mask: np.ndarray, values: np.ndarray, width: int) -> None:
    """mido's variable-length ints of `values` right-aligned in mat[:, :width] (mask: used)."""
    for c in range(width):
        g = width - 1 - c  # 7-bit group of this column
        if g:
            mat[:, c] = ((values >> (7 * g)) & 0x7F) | 0x80
            mask[:, c] = values >= (1 << (7 * g))
        else:
            mat[:, c] = values & 0x7F
            mask[:, c] = True


def _vlq_matrix(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(bytes (n, W) uint8, mask (n, W)) of mido's variable-length ints, right-aligned."""
    values = values.astype(np.int64)
    width = _vlq_width(values)
    mat = np.empty((len(values), width), np.uint8)
    mask = np.empty((len(values), width), bool)
    _put_vlq(mat, mask, values, width)
    return mat, mask


def _rows_to_bytes(deltas: np.ndarray, payload: np.ndarray, pmask: np.ndarray) -> np.ndarray:
    """Each row's VLQ delta then its masked payload bytes, concatenated row by row."""
    vm, vmask = _vlq_matrix(deltas)
    mat = np.concatenate([vm, payload.astype(np.uint8)], axis=1)
    mask = np.concatenate([vmask, pmask], axis=1)
    return np.compress(mask.ravel(), mat.ravel())


def _vlq_bytes(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _chunk(body: bytes) -> bytes:
    return b"MTrk" + struct.pack(">I", len(body)) + body


# ----------------------------------------------------------------------------------------
# Encoder
# ----------------------------------------------------------------------------------------
def _check_range(what: str, values: np.ndarray, lo: int, hi: int) -> None:
    bad = (values < lo) | (values > hi)
    if bad.any():
        i = int(np.argmax(bad))
        raise _Fail(f"{what} {int(values[i])} is outside {lo}..{hi}")


def _check_finite(what: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise _Fail(f"{what} at time {float(values[np.argmax(bad)])}")


def _group_keys(inst: np.ndarray, prog: np.ndarray, drum: np.ndarray):
    """Sorted distinct (instrument, program, is_drum) keys and each event's key index."""
    n = len(inst)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    i0, p0 = int(inst.min()), int(prog.min())
    if int(inst.max()) - i0 < (1 << 30) and int(prog.max()) - p0 < (1 << 30):
        packed = ((inst - i0) << 32) | ((prog - p0) << 1) | drum
        if (packed == packed[0]).all():
            return inst[:1], prog[:1], drum[:1], np.zeros(n, np.int64)
        keys, gid = np.unique(packed, return_inverse=True)
        return (keys >> 32) + i0, ((keys >> 1) & ((1 << 31) - 1)) + p0, keys & 1, gid.ravel()
    order = np.lexsort((drum, prog, inst))
    si, sp, sd = inst[order], prog[order], drum[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (si[1:] != si[:-1]) | (sp[1:] != sp[:-1]) | (sd[1:] != sd[:-1])
    gid = np.empty(n, dtype=np.int64)
    gid[order] = np.cumsum(new) - 1
    return si[new], sp[new], sd[new], gid


def _encode(ns, name: str, extract: Optional[str]) -> bytes:
    # The current writer's own checks, with its messages.
    notes, bends, ccs = _columns(ns, extract)
    bad = notes["end_time"] < notes["start_time"]
    if bad.any():
        i = int(np.argmax(bad))
        raise MidiConversionError(
            f"{name}: note {i} (pitch {int(notes['pitch'][i])}) ends at "
            f"{float(notes['end_time'][i])} before its start {float(notes['start_time'][i])}")
    for tempo in ns.tempos:
        if tempo.qpm <= 0:
            raise MidiConversionError(f"{name}: tempo {tempo.qpm} qpm at {tempo.time} s")
    try:
        return _encode_checked(ns, notes, bends, ccs)
    except _Fail as exc:
        raise MidiConversionError(f"{name}: cannot write MIDI: {exc}") from None


def _encode_checked(ns, notes, bends, ccs) -> bytes:
    resolution = ns.ticks_per_quarter or _STANDARD_PPQ
    if not 0 < resolution <= 0x7FFF:
        raise _Fail(f"ticks_per_quarter {resolution} is outside 1..32767")
    for tempo in ns.tempos:
        if not math.isfinite(tempo.qpm):
            raise _Fail(f"tempo {tempo.qpm} qpm at {tempo.time} s")

    # _first_instrument_as_zero
    n_n, n_b, n_c = len(notes["pitch"]), len(bends["time"]), len(ccs["time"])
    inst = np.concatenate([notes["instrument"], bends["instrument"], ccs["instrument"]])
    prog = np.concatenate([notes["program"], bends["program"], ccs["program"]])
    drum = np.concatenate([notes["is_drum"], bends["is_drum"], ccs["is_drum"]]).astype(np.int64)
    low = None
    if len(inst) and not (inst == 0).any():
        low = int(inst.min())
        inst = np.where(inst == low, 0, inst)
    infos: Dict[int, str] = {}
    for info in ns.instrument_infos:
        infos[0 if info.instrument == low else info.instrument] = info.name

    # note_seq's instruments: sorted (instrument, program, is_drum) keys
    n_ev = len(inst)
    k_inst, k_prog, k_drum, gid = _group_keys(inst, prog, drum)
    n_keys = len(k_inst)
    track_of_key = np.full(n_keys, -1, dtype=np.int64)  # pretty_midi instrument index
    low_keys = np.flatnonzero(k_inst <= 0)
    high_keys = np.flatnonzero(k_inst > 0)
    track_of_key[high_keys] = np.arange(1, len(high_keys) + 1)
    programs = [0]
    drums = [False]
    names = [""]
    if len(low_keys):
        last = low_keys[-1]
        track_of_key[last] = 0
        programs[0], drums[0] = int(k_prog[last]), bool(k_drum[last])
        for k in low_keys:
            if int(k_inst[k]) in infos:
                names[0] = infos[int(k_inst[k])]
    for k in high_keys:
        p, d, i = int(k_prog[k]), bool(k_drum[k]), int(k_inst[k])
        if not d and not 0 <= p <= 127:
            raise _Fail(f"program {p} is outside 0..127")
        programs.append(p)
        drums.append(d)
        names.append(infos.get(i, "Drums" if d else _INSTRUMENT_NAMES[p]))
    n_tracks = len(programs)
    if n_tracks + 1 > 0x7FFF:
        raise _Fail(f"{n_tracks + 1} tracks (at most 32767)")
    _check_range("program", np.array(programs), 0, 127)
    encoded_names = []
    for nm in names:
        try:
            encoded_names.append(nm.encode("latin1"))
        except UnicodeEncodeError as exc:
            raise _Fail(f"track name {nm!r} is not latin-1: {exc}") from None
    drums_a = np.array(drums, dtype=bool)
    channel_of_track = np.where(drums_a, 9, _CHANNELS[np.arange(n_tracks) % 15])

    ev_track = track_of_key[gid] if n_ev else np.zeros(0, np.int64)
    keep_n = ev_track[:n_n] >= 0
    keep_b = ev_track[n_n:n_n + n_b] >= 0
    keep_c = ev_track[n_n + n_b:] >= 0
    tn, tb, tc = ev_track[:n_n][keep_n], ev_track[n_n:n_n + n_b][keep_b], ev_track[n_n + n_b:][keep_c]
    pitch, vel = notes["pitch"][keep_n], notes["velocity"][keep_n]
    start, end = notes["start_time"][keep_n], notes["end_time"][keep_n]
    bend, btime = bends["bend"][keep_b], bends["time"][keep_b]
    ccn, ccv, ctime = ccs["control_number"][keep_c], ccs["control_value"][keep_c], ccs["time"][keep_c]
    _check_range("note pitch", pitch, 0, 127)
    _check_range("note velocity", vel, 0, 127)
    _check_range("pitch bend", bend, -8192, 8191)
    _check_range("control number", ccn, 0, 127)
    _check_range("control value", ccv, 0, 127)
    _check_finite("a note", start)
    _check_finite("a note", end)
    _check_finite("a pitch bend", btime)
    _check_finite("a control change", ctime)

    # time / key signatures (pretty_midi's containers, mido's checks)
    ts_list = [(ts.time, ts.numerator, ts.denominator) for ts in ns.time_signatures]
    ts_log = []
    for t, num, den in ts_list:
        if not num > 0 or not den > 0 or not t >= 0 or not math.isfinite(t):
            raise _Fail(f"time signature {num}/{den} at {t} s")
        if num > 255:
            raise _Fail(f"time signature numerator {num} is outside 0..255")
        enc = math.log(den, 2)
        if enc != int(enc):
            raise _Fail(f"time signature denominator {den} is not a power of 2")
        ts_log.append(int(enc))
    ks_list = []
    for ks in ns.key_signatures:
        number = ks.key + (12 if ks.mode == _MINOR else 0)
        if not 0 <= number < 24 or not ks.time >= 0 or not math.isfinite(ks.time):
            raise _Fail(f"key signature {ks.key} mode {ks.mode} at {ks.time} s")
        ks_list.append((ks.time, number))

    # tempo map, ticks
    scales, arr = _tempo_map(ns, resolution)
    final_scale = scales[-1][1]
    tempo_us = []
    for tick, scale in scales:
        us = int(6e7 / (60. / (scale * resolution)))
        if us > 0xFFFFFF:
            raise _Fail(f"tempo of {us} microseconds per quarter does not fit 24 bits")
        tempo_us.append(us)

    total_time = ns.total_time
    if math.isinf(total_time):
        raise _Fail(f"total_time {total_time}")
    t2t = functools.partial(_time_to_tick, arr=arr, final_scale=final_scale)
    ts_ticks = t2t(np.array([t for t, _, _ in ts_list], dtype=np.float64))
    ks_ticks = t2t(np.array([t for t, _ in ks_list], dtype=np.float64))

    # pretty_midi's get_end_time (instruments' note ends / bends / CCs, meta events, tempos)
    end_time = float(arr[[t for t, _ in scales]].max())
    for part in (end, btime, ctime):
        if len(part):
            end_time = max(end_time, float(part.max()))
    for t in [t for t, _, _ in ts_list] + [t for t, _ in ks_list]:
        end_time = max(end_time, t)
    end_tick = None
    if total_time > end_time:
        end_tick = int(t2t(np.array([total_time]))[0])

    # ---- track 0: timing
    add_ts = not ts_list or min(t for t, _, _ in ts_list) > 0.0
    m_tick, m_cls, m_pay, m_len = [], [], [], []
    if add_ts:
        m_tick.append(0), m_cls.append(_K_TS), m_pay.append((0xFF, 0x58, 4, 4, 2, 24, 8))
        m_len.append(7)
    for (tick, _), us in zip(scales, tempo_us):
        m_tick.append(tick), m_cls.append(_K_TEMPO)
        m_pay.append((0xFF, 0x51, 3, us >> 16, (us >> 8) & 0xFF, us & 0xFF, 0)), m_len.append(6)
    for tick, (_, num, _), lg in zip(ts_ticks.tolist(), ts_list, ts_log):
        m_tick.append(tick), m_cls.append(_K_TS), m_pay.append((0xFF, 0x58, 4, num, lg, 24, 8))
        m_len.append(7)
    for tick, (_, number) in zip(ks_ticks.tolist(), ks_list):
        sf, mi = _KEY_SF_MI[number]
        m_tick.append(tick), m_cls.append(_K_KS), m_pay.append((0xFF, 0x59, 2, sf & 0xFF, mi, 0, 0))
        m_len.append(5)
    m_tick_a = np.array(m_tick, dtype=np.int64)
    o = np.lexsort((np.arange(len(m_tick)), np.array(m_cls), m_tick_a))
    m_tick_a = m_tick_a[o]
    pay = np.array(m_pay, dtype=np.int64)[o]
    pmask = np.arange(7)[None, :] < np.array(m_len)[o][:, None]
    deltas = np.diff(m_tick_a, prepend=0)
    eot = int(m_tick_a[-1]) + 1
    if end_tick is not None and eot < end_tick:
        eot = end_tick
    body0 = _rows_to_bytes(deltas, pay, pmask).tobytes() + _vlq_bytes(eot - int(m_tick_a[-1])) + b"\xff\x2f\x00"
    chunks = [_chunk(body0)]

    # ---- instrument tracks: one table of channel events
    nn, nb_, nc = len(pitch), len(bend), len(ccn)
    ticks = t2t(np.concatenate([start, end, btime, ctime]))
    on_tick, off_tick = ticks[:nn], ticks[nn:2 * nn]
    b_tick, c_tick = ticks[2 * nn:2 * nn + nb_], ticks[2 * nn + nb_:]
    # rows: [program changes | note-on, note-off per note | bends | CCs] -- within a track
    # this is pretty_midi's insertion order, so a stable sort on (track, tick, key) ties as it does
    s0 = n_tracks
    s1 = s0 + 2 * nn
    s2 = s1 + nb_
    n_rows = s2 + nc
    ev_trk = np.empty(n_rows, np.int64)
    ev_tick = np.empty(n_rows, np.int64)
    ev_key = np.empty(n_rows, np.int64)
    ev_st = np.empty(n_rows, np.int64)
    ev_d1 = np.empty(n_rows, np.uint8)
    ev_d2 = np.empty(n_rows, np.uint8)
    ev_trk[:s0] = np.arange(n_tracks)
    ev_trk[s0:s1:2] = tn
    ev_trk[s0 + 1:s1:2] = tn
    ev_trk[s1:s2] = tb
    ev_trk[s2:] = tc
    ev_tick[:s0] = 0
    ev_tick[s0:s1:2] = on_tick
    ev_tick[s0 + 1:s1:2] = off_tick
    ev_tick[s1:s2] = b_tick
    ev_tick[s2:] = c_tick
    ev_key[:s0] = _K_PROGRAM
    ev_key[s0:s1:2] = _K_NOTE + pitch * 256 + vel
    ev_key[s0 + 1:s1:2] = _K_NOTE + pitch * 256
    ev_key[s1:s2] = _K_BEND + bend
    ev_key[s2:] = _K_CC + ccn * 256 + ccv
    ev_st[:s0] = 0xC0
    ev_st[s0:s1] = 0x90
    ev_st[s1:s2] = 0xE0
    ev_st[s2:] = 0xB0
    ev_st |= channel_of_track[ev_trk]
    bend_u = bend + 8192
    ev_d1[:s0] = programs
    ev_d1[s0:s1:2] = pitch
    ev_d1[s0 + 1:s1:2] = pitch
    ev_d1[s1:s2] = bend_u & 0x7F
    ev_d1[s2:] = ccn
    ev_d2[:s0] = 0
    ev_d2[s0:s1:2] = vel
    ev_d2[s0 + 1:s1:2] = 0
    ev_d2[s1:s2] = bend_u >> 7
    ev_d2[s2:] = ccv

    tick_bits = int(ev_tick.max()).bit_length()
    trk_bits = max(1, int(n_tracks).bit_length())
    if tick_bits + trk_bits + 20 <= 63:  # keys are < 2**20
        o = np.argsort((ev_trk << (20 + tick_bits)) | (ev_tick << 20) | ev_key, kind="stable")
    else:
        o = np.lexsort((np.arange(n_rows), ev_key, ev_tick, ev_trk))
    ev_trk, ev_tick, ev_st, ev_d1, ev_d2 = ev_trk[o], ev_tick[o], ev_st[o], ev_d1[o], ev_d2[o]
    first = np.ones(n_rows, dtype=bool)
    first[1:] = ev_trk[1:] != ev_trk[:-1]
    deltas = ev_tick.copy()
    deltas[1:] -= ev_tick[:-1]
    deltas[first] = ev_tick[first]  # the first event of a track follows its name, at tick 0
    running = np.zeros(n_rows, dtype=bool)
    running[1:] = ~first[1:] & (ev_st[1:] == ev_st[:-1])
    width = _vlq_width(deltas)
    mat = np.empty((n_rows, width + 3), np.uint8)
    mask = np.empty((n_rows, width + 3), bool)
    _put_vlq(mat, mask, deltas, width)
    mat[:, width] = ev_st
    mat[:, width + 1] = ev_d1
    mat[:, width + 2] = ev_d2
    mask[:, width] = ~running
    mask[:, width + 1] = True
    mask[:, width + 2] = (ev_st & 0xF0) != 0xC0
    flat = np.compress(mask.ravel(), mat.ravel())
    rows = np.cumsum(np.bincount(ev_trk, minlength=n_tracks))  # every track has its program
    last_tick = ev_tick[rows - 1]  # rows are sorted by (track, tick)
    m8 = mask.view(np.uint8)
    row_len = m8[:, 0].astype(np.int64)
    for c in range(1, width + 3):
        row_len += m8[:, c]
    bounds = np.concatenate([[0], np.cumsum(row_len)[rows - 1]])
    flat_bytes = flat.tobytes()
    for t in range(n_tracks):
        name_b = encoded_names[t]
        head = (b"\x00\xff\x03" + _vlq_bytes(len(name_b)) + name_b) if name_b else b""
        lt = int(last_tick[t])
        eot = lt + 1
        if end_tick is not None and eot < end_tick:
            eot = end_tick
        body = head + flat_bytes[bounds[t]:bounds[t + 1]] + _vlq_bytes(eot - lt) + b"\xff\x2f\x00"
        chunks.append(_chunk(body))

    header = b"MThd" + struct.pack(">Ihhh", 6, 1, n_tracks + 1, resolution)
    return header + b"".join(chunks)
