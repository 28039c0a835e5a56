"""MIDI <-> NoteSequence, reading with symusic and matching note_seq exactly.

`midi_file_to_note_sequence(path)` returns the same NoteSequence as
`note_seq.midi_io.midi_file_to_note_sequence` (which parses with pretty_midi on
top of mido): same notes in the same order, same instrument numbering, same
tempos / time and key signatures / control changes / pitch bends, times equal
to the bit. It is much faster because the MIDI bytes are decoded by symusic
(C++) and the proto is assembled from numpy arrays in protobuf wire format.

pretty_midi semantics reproduced here (see `_pretty_notes`):

* tempo, time and key signatures are read from the first track only; a tempo
  at tick 0 replaces the 120 qpm default, later tempos equal to the previous
  one are dropped; tick -> seconds uses pretty_midi's piecewise formula.
* one instrument per (MIDI track, channel, program), numbered in the order in
  which its first note is *closed*; notes are listed in note-off order.
* a note-off closes every open note of its (channel, pitch) that started at an
  earlier tick; notes that never close, or close on their start tick, vanish.
* drums are channel 9; key signatures are key % 12 plus MAJOR/MINOR.

symusic reports notes, not events, so some files cannot be reproduced from it. These
are detected and parsed with note_seq instead (counted by reason in `fallback_count()`):
same-pitch notes that overlap; several channels/programs in one MIDI track; an End-of-Track
event before the end of its chunk (symusic stops there, mido reads on); a track name
that is non-ASCII or not the first event before the notes; same-tick note-offs in a track
whose same-tick note-ons are not in pitch order (a writer that does not sort). Not
detectable, so not handled (absent from Groove and MAESTRO, see bench/midi_equality.py):
same-tick note-offs out of pitch order in a track whose note-ons are sorted (the notes
are the same, listed in another order); a program change while a note is held; a note
left open while an earlier note of its pitch is still sounding; several same-tick tempo
or signature events in track 0.

Writing goes through note_seq (`note_sequence_to_midi_file`).
"""
from __future__ import annotations

import bisect
import os
import struct
from typing import Dict, List, Optional, Tuple

import numpy as np
import symusic
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

__all__ = [
    "MidiConversionError",
    "midi_file_to_note_sequence",
    "midi_bytes_to_note_sequence",
    "note_sequence_to_midi_file",
    "apply_sustain",
    "fallback_count",
]

NoteSequence = music_pb2.NoteSequence


class MidiConversionError(ValueError):
    """A MIDI file could not be converted; the message names the file and the problem."""


# ----------------------------------------------------------------------------------------
# Fallback bookkeeping
# ----------------------------------------------------------------------------------------
_FALLBACKS: Dict[str, int] = {}


def fallback_count() -> Dict[str, int]:
    """Number of files parsed with note_seq instead of symusic in this process, by reason."""
    return dict(_FALLBACKS)


class _NeedsFallback(Exception):
    """Internal: symusic's view of this file is not enough to reproduce note_seq."""


# ----------------------------------------------------------------------------------------
# Container validation (cheap, pure Python over chunk headers only)
# ----------------------------------------------------------------------------------------
def _split_tracks(data: bytes, name: str) -> Tuple[int, int, List[Tuple[int, int]]]:
    """Validate the SMF header and chunk layout; return (format, division, track spans)."""
    if len(data) == 0:
        raise MidiConversionError(f"{name}: empty file (0 bytes)")
    if data[:4] != b"MThd":
        raise MidiConversionError(f"{name}: not a MIDI file (no 'MThd' header)")
    if len(data) < 14:
        raise MidiConversionError(f"{name}: truncated MIDI header ({len(data)} bytes)")
    hlen = struct.unpack(">L", data[4:8])[0]
    if hlen < 6 or 8 + hlen > len(data):
        raise MidiConversionError(f"{name}: truncated or invalid MIDI header (length {hlen})")
    fmt, ntracks, division = struct.unpack(">HHH", data[8:14])
    if fmt == 2:
        raise MidiConversionError(f"{name}: MIDI format 2 (asynchronous tracks) is not supported")
    if fmt > 2:
        raise MidiConversionError(f"{name}: invalid MIDI format {fmt}")
    if ntracks == 0:
        raise MidiConversionError(f"{name}: MIDI file has 0 tracks")
    if division & 0x8000:
        raise MidiConversionError(
            f"{name}: SMPTE time division (0x{division:04x}) is not supported")
    if division == 0:
        raise MidiConversionError(f"{name}: invalid time division 0 ticks per quarter")
    pos = 8 + hlen
    spans = []
    for i in range(ntracks):
        if pos + 8 > len(data):
            raise MidiConversionError(
                f"{name}: truncated file: track {i} of {ntracks} is missing")
        tag = data[pos:pos + 4]
        if tag != b"MTrk":
            raise MidiConversionError(
                f"{name}: chunk {i + 1} is {tag!r}, expected b'MTrk' (corrupt file)")
        size = struct.unpack(">L", data[pos + 4:pos + 8])[0]
        start, end = pos + 8, pos + 8 + size
        if end > len(data):
            raise MidiConversionError(
                f"{name}: truncated file: track {i} needs {size} bytes, "
                f"{len(data) - start} present")
        # An End-of-Track meta event (FF 2F 00) before the chunk's last 3 bytes: symusic stops
        # reading the track there, mido (so note_seq) reads on to the chunk's end. The bytes can
        # also occur inside a text / sysex payload; either way note_seq decides (rare files).
        eot = data.find(b"\xff\x2f\x00", start, end)
        if eot != -1 and eot + 3 < end:
            raise _NeedsFallback("End-of-Track before the end of its track chunk")
        spans.append((start, end))
        pos = end
    return fmt, division, spans


def _single_track_midi(data: bytes, division: int, span: Tuple[int, int]) -> bytes:
    """A format-0 SMF holding only one track chunk of `data`."""
    start, end = span
    return (b"MThd" + struct.pack(">LHHH", 6, 0, 1, division)
            + b"MTrk" + struct.pack(">L", end - start) + data[start:end])


def _vlq(buf: bytes, pos: int) -> Tuple[int, int]:
    """Variable-length quantity at `pos` -> (value, position after it)."""
    value = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    return value, pos


def _leading_track_name(data: bytes, span: Tuple[int, int]) -> Optional[bytes]:
    """Bytes of the first track-name meta event that precedes every note event, or None.

    pretty_midi names an instrument after the track name seen when its first note closes;
    symusic keeps the track's last name. Only the few events before the first note are
    scanned (usually meta events at tick 0).
    """
    pos, end, running = span[0], span[1], 0
    while pos < end:
        while pos < end and data[pos] & 0x80:  # delta time
            pos += 1
        pos += 1
        if pos >= end:
            return None
        status = data[pos]
        if status == 0xFF:
            length, nxt = _vlq(data, pos + 2)
            if data[pos + 1] == 0x03:
                return data[nxt:nxt + length]
            pos = nxt + length
        elif status in (0xF0, 0xF7):
            length, nxt = _vlq(data, pos + 1)
            pos, running = nxt + length, status
        else:
            if status & 0x80:
                running, pos = status, pos + 1
            kind = running & 0xF0
            if kind in (0x80, 0x90) or kind < 0x80 or running >= 0xF0:
                return None
            pos += 1 if kind in (0xC0, 0xD0) else 2
    return None


def _instrument_name(data: bytes, span: Tuple[int, int], symusic_name: str) -> str:
    """pretty_midi's instrument name for the MIDI track `span` (see _leading_track_name)."""
    raw = _leading_track_name(data, span)
    if raw is None and not symusic_name:
        return ""
    if raw is None or not raw.isascii() or raw.decode("ascii") != symusic_name:
        # a name after the first note, several names, or non-ASCII (pretty_midi decodes
        # latin-1, symusic drops invalid UTF-8)
        raise _NeedsFallback("track name symusic cannot report as pretty_midi does")
    return symusic_name


# ----------------------------------------------------------------------------------------
# Tempo map (pretty_midi's exact float arithmetic)
# ----------------------------------------------------------------------------------------
class _TempoMap:
    """pretty_midi's tick -> seconds mapping; results are bit-identical to its array.

    pretty_midi fills `__tick_to_time[t] = start_k + scale_k * (t - tick_k)` per tempo
    segment k with numpy float64 arithmetic; the same operations are done here.
    """

    def __init__(self, tempos, resolution: int, name: str):
        self.resolution = resolution
        ticks = [0]
        scales = [60.0 / (120.0 * resolution)]
        for tick, mspq in tempos:
            if mspq <= 0:
                raise MidiConversionError(
                    f"{name}: set-tempo event with {mspq} microseconds per quarter at tick {tick}")
            scale = 60.0 / ((6e7 / mspq) * resolution)
            if tick == 0:
                ticks, scales = [0], [scale]
            elif scale != scales[-1]:
                ticks.append(tick)
                scales.append(scale)
        starts = [0.0]
        for k in range(1, len(scales)):
            starts.append(starts[-1] + scales[k - 1] * float(ticks[k] - ticks[k - 1]))
        self.ticks, self.scales, self.starts = ticks, scales, starts
        self._np = None

    def time(self, tick: int) -> float:
        k = bisect.bisect_right(self.ticks, tick) - 1
        return self.starts[k] + self.scales[k] * float(tick - self.ticks[k])

    def times(self, ticks: np.ndarray) -> np.ndarray:
        if len(self.scales) == 1:
            return ticks * self.scales[0]  # + start 0.0 changes nothing
        if self._np is None:
            self._np = (np.asarray(self.ticks, dtype=np.int64), np.asarray(self.scales),
                        np.asarray(self.starts))
        t0, sc, st = self._np
        ticks = ticks.astype(np.int64)  # symusic gives int32
        k = np.searchsorted(t0, ticks, side="right") - 1
        return st[k] + sc[k] * (ticks - t0[k]).astype(np.float64)

    def changes(self):
        """(time, qpm) of every tempo segment, as pretty_midi.get_tempo_changes()."""
        return [(self.time(t), 60.0 / (s * self.resolution))
                for t, s in zip(self.ticks, self.scales)]


# ----------------------------------------------------------------------------------------
# Protobuf wire-format encoding of the big repeated fields
# ----------------------------------------------------------------------------------------
def _varint10(values: np.ndarray) -> np.ndarray:
    """10-byte varints of int32 values (negative ones sign-extended to 64 bits), shape (n, 10)."""
    v = values.astype(np.int64).astype(np.uint64)
    out = ((v[:, None] >> _SHIFTS10[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    out[:, :9] |= 0x80
    return out


_SHIFTS10 = np.arange(10, dtype=np.uint64) * np.uint64(7)

# One fixed-width record per repeated-field element: (tag, length, fields...). Varints of
# `instrument` use a non-minimal 2-byte form (valid protobuf) so every record has the same size.
_COMMON = [("t_inst", "u1"), ("inst0", "u1"), ("inst1", "u1"),
           ("t_prog", "u1"), ("program", "u1"), ("t_drum", "u1"), ("drum", "u1")]
_LAYOUTS = {
    # kind: (NoteSequence field number, dtype, {tag column: tag byte})
    "note": (8, np.dtype([("tag", "u1"), ("len", "u1"), ("t1", "u1"), ("pitch", "u1"),
                          ("t2", "u1"), ("velocity", "u1"), ("t3", "u1"), ("start", "<f8"),
                          ("t4", "u1"), ("end", "<f8")] + _COMMON),
             {"t1": 0x08, "t2": 0x10, "t3": 0x19, "t4": 0x21,
              "t_inst": 0x38, "t_prog": 0x40, "t_drum": 0x48}),
    "cc": (11, np.dtype([("tag", "u1"), ("len", "u1"), ("t1", "u1"), ("time", "<f8"),
                         ("t2", "u1"), ("number", "u1"), ("t3", "u1"), ("value", "u1")]
                        + _COMMON),
           {"t1": 0x09, "t2": 0x10, "t3": 0x18, "t_inst": 0x20, "t_prog": 0x28, "t_drum": 0x30}),
    "bend": (10, np.dtype([("tag", "u1"), ("len", "u1"), ("t1", "u1"), ("time", "<f8"),
                           ("t2", "u1"), ("bend", "u1", (10,))] + _COMMON),
             {"t1": 0x09, "t2": 0x10, "t_inst": 0x18, "t_prog": 0x20, "t_drum": 0x28}),
}
_TEMPLATES: Dict[tuple, np.ndarray] = {}


def _template(kind: str, instrument: int, program: int, is_drum: int) -> Tuple[bytes, np.dtype]:
    """Bytes of one record with the tags and the per-instrument fields filled (cached)."""
    key = (kind, instrument, program, is_drum)
    tmpl = _TEMPLATES.get(key)
    if tmpl is None:
        field, dtype, tags = _LAYOUTS[kind]
        tmpl = np.zeros(1, dtype=dtype)
        tmpl["tag"], tmpl["len"] = (field << 3) | 2, dtype.itemsize - 2
        for col, val in tags.items():
            tmpl[col] = val
        tmpl["inst0"], tmpl["inst1"] = (instrument & 0x7F) | 0x80, instrument >> 7
        tmpl["program"], tmpl["drum"] = program, is_drum
        if len(_TEMPLATES) > 4096:
            _TEMPLATES.clear()
        tmpl = _TEMPLATES[key] = (tmpl.tobytes(), dtype)
    return tmpl


def _encode(kind: str, instrument: int, program: int, is_drum: int, **cols) -> bytearray:
    """Serialized repeated-field elements (wire format) for one instrument."""
    n = len(next(iter(cols.values())))
    record, dtype = _template(kind, instrument, program, is_drum)
    buf = bytearray(record * n)  # n copies of the template, then the columns written in place
    arr = np.frombuffer(buf, dtype=dtype)
    for col, values in cols.items():
        arr[col] = values
    return buf


# ----------------------------------------------------------------------------------------
# Notes: pretty_midi pairing and ordering from symusic's FIFO-paired notes
# ----------------------------------------------------------------------------------------
def _pretty_notes(notes: Dict[str, np.ndarray]) -> Tuple[np.ndarray, ...]:
    """(start_tick, end_tick, pitch, velocity) paired and ordered as pretty_midi does.

    symusic pairs a note-off with the oldest open note of its pitch (FIFO) and lists notes
    by note-on. While notes of one pitch never overlap, that pairing equals pretty_midi's,
    except that pretty_midi drops notes that end on their start tick. Overlaps raise
    _NeedsFallback. pretty_midi lists notes by note-off event; symusic cannot tell in which
    order simultaneous note-offs of different pitches came, so such ties are broken by
    pitch, the order pretty_midi's / note_seq's MIDI writers use. When the track's
    same-tick note-ons are not in pitch order either (a writer that does not sort, e.g. a
    live recording), files with such ties go to note_seq.
    """
    start, dur, pitch = notes["time"], notes["duration"], notes["pitch"]
    end = start + dur  # int32 like symusic's own ticks
    unsorted_onsets = False
    if len(start) > 1:
        # Same-tick note-ons out of pitch order: the file was not written by a sorting writer,
        # so its same-tick note-offs may be in any order too (checked below).
        unsorted_onsets = bool(((start[1:] == start[:-1]) & (pitch[1:] < pitch[:-1])).any())
        o = np.argsort(pitch, kind="stable")  # by pitch, then note-on order (= start order)
        p, s, e = pitch[o], start[o], end[o]
        next_s = s[1:]
        bad = (p[1:] == p[:-1]) & ((next_s < e[:-1]) | ((next_s == s[:-1]) & (e[:-1] == next_s)))
        if bad.any():
            raise _NeedsFallback("overlapping notes of the same pitch")
    velocity = notes["velocity"]
    if start.min() < 0 or dur.min() < 0:
        # symusic's int32 ticks wrapped around (and it silently drops notes whose end
        # wrapped below their start): the file claims more than 2**31 ticks
        raise ValueError("note times beyond 2**31 ticks (corrupt delta times?)")
    if dur.min() == 0:
        keep = dur > 0
        start, end, pitch, velocity = start[keep], end[keep], pitch[keep], velocity[keep]
    order = np.lexsort((pitch, end))
    start, end, pitch, velocity = start[order], end[order], pitch[order], velocity[order]
    if unsorted_onsets and ((end[1:] == end[:-1]) & (pitch[1:] != pitch[:-1])).any():
        raise _NeedsFallback("simultaneous note-offs from a writer that does not sort by pitch")
    return start, end, pitch, velocity


# ----------------------------------------------------------------------------------------
# Main conversion
# ----------------------------------------------------------------------------------------
_KEY_MAJOR_PC = {sf: (sf * 7) % 12 for sf in range(-7, 8)}


def _parse_score(data: bytes, name: str, what: str) -> "symusic.core.ScoreTick":
    try:
        return symusic.core.ScoreTick.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError / ValueError with a short text
        raise MidiConversionError(f"{name}: cannot decode {what}: {exc}") from exc


def _convert(data: bytes, name: str) -> NoteSequence:
    fmt, division, spans = _split_tracks(data, name)
    scores = [_parse_score(_single_track_midi(data, division, span), name, f"track {i}")
              for i, span in enumerate(spans)]
    first = scores[0]

    # (symusic lists cost microseconds to iterate even when empty: test len() first)
    tmap = _TempoMap([(ev.time, ev.mspq) for ev in first.tempos] if len(first.tempos) else [],
                     division, name)

    seq = NoteSequence()
    seq.ticks_per_quarter = division
    seq.source_info.parser = NoteSequence.SourceInfo.PRETTY_MIDI
    seq.source_info.encoding_type = NoteSequence.SourceInfo.MIDI
    for ev in first.time_signatures if len(first.time_signatures) else ():
        if ev.denominator == 0:  # symusic keeps 2**dd in a uint8
            raise _NeedsFallback("time signature denominator above 128")
        if ev.numerator <= 0:
            raise MidiConversionError(
                f"{name}: invalid time signature {ev.numerator}/{ev.denominator}")
        seq.time_signatures.add(time=tmap.time(ev.time), numerator=ev.numerator,
                                denominator=ev.denominator)
    for ev in first.key_signatures if len(first.key_signatures) else ():
        key, mode = ev.key, ev.tonality
        if key not in _KEY_MAJOR_PC or mode not in (0, 1):
            raise MidiConversionError(
                f"{name}: invalid key signature ({key} sharps/flats, mode {mode})")
        seq.key_signatures.add(time=tmap.time(ev.time), mode=mode,
                               key=(_KEY_MAJOR_PC[key] + 9 * mode) % 12)
    for t, qpm in tmap.changes():
        seq.tempos.add(time=t, qpm=qpm)

    parts: Dict[str, List[bytes]] = {"note": [], "bend": [], "cc": []}
    total_time = 0.0
    instrument = 0
    for score, span in zip(scores, spans):
        groups = []
        for track in score.tracks:
            notes = track.notes.numpy()
            if len(notes["time"]) == 0:
                continue
            try:
                start, end, pitch, velocity = _pretty_notes(notes)
            except ValueError as exc:
                raise MidiConversionError(f"{name}: {exc}") from exc
            if len(start):
                groups.append((track, start, end, pitch, velocity))
        if len(groups) > 1:
            raise _NeedsFallback("several channels/programs in one MIDI track")
        for track, start, end, pitch, velocity in groups:
            if instrument >= 1 << 14:
                raise _NeedsFallback("more than 16383 instruments")
            inst = (instrument, int(track.program), int(track.is_drum))
            inst_name = _instrument_name(data, span, track.name)
            if inst_name:
                seq.instrument_infos.add(name=inst_name, instrument=instrument)
            ends = tmap.times(end)
            total_time = max(total_time, float(ends[-1]))
            parts["note"].append(_encode("note", *inst, pitch=pitch, velocity=velocity,
                                         start=tmap.times(start), end=ends))
            if len(track.controls):
                ccs = track.controls.numpy()
                parts["cc"].append(_encode("cc", *inst, time=tmap.times(ccs["time"]),
                                           number=ccs["number"], value=ccs["value"]))
            if len(track.pitch_bends):
                bends = track.pitch_bends.numpy()
                parts["bend"].append(_encode("bend", *inst, time=tmap.times(bends["time"]),
                                             bend=_varint10(bends["value"])))
            instrument += 1
    seq.MergeFromString(b"".join(parts["note"] + parts["bend"] + parts["cc"]))
    seq.total_time = total_time
    return seq


def _note_seq_parse(data: bytes, name: str) -> NoteSequence:
    from note_seq import midi_io as ns_midi_io
    try:
        return ns_midi_io.midi_to_note_sequence(data)
    except Exception as exc:
        raise MidiConversionError(f"{name}: {exc}") from exc


def midi_bytes_to_note_sequence(data: bytes, filename: str = "") -> NoteSequence:
    """Parse MIDI file contents into a NoteSequence equal to note_seq's.

    `filename` is only used in error messages; the NoteSequence's filename /
    collection_name / id fields are left for the caller to set.
    Raises MidiConversionError naming the file and the problem.
    """
    name = filename or "<midi bytes>"
    try:
        return _convert(bytes(data), name)
    except _NeedsFallback as why:
        reason = str(why)
        _FALLBACKS[reason] = _FALLBACKS.get(reason, 0) + 1
        return _note_seq_parse(bytes(data), name)


def midi_file_to_note_sequence(path: str | os.PathLike) -> NoteSequence:
    """Read a MIDI file into a NoteSequence equal to note_seq.midi_io's."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise MidiConversionError(f"{name}: cannot read file: {exc}") from exc
    return midi_bytes_to_note_sequence(data, name)


def note_sequence_to_midi_file(ns: NoteSequence, path: str | os.PathLike) -> None:
    """Write a NoteSequence as a MIDI file (note_seq's writer, tempo map preserved)."""
    from note_seq import midi_io as ns_midi_io
    name = os.fspath(path)
    for i, note in enumerate(ns.notes):
        if note.end_time < note.start_time:
            raise MidiConversionError(
                f"{name}: note {i} (pitch {note.pitch}) ends at {note.end_time} before its "
                f"start {note.start_time}")
    for tempo in ns.tempos:
        if tempo.qpm <= 0:
            raise MidiConversionError(f"{name}: tempo {tempo.qpm} qpm at {tempo.time} s")
    try:
        pm = ns_midi_io.note_sequence_to_pretty_midi(_first_instrument_as_zero(ns))
        pm.write(name)
        if ns.total_time > pm.get_end_time():
            _extend_to(name, pm.time_to_tick(ns.total_time))
    except Exception as exc:  # pretty_midi / mido raise ValueError, OSError, ...
        raise MidiConversionError(f"{name}: cannot write MIDI: {exc}") from exc


def _first_instrument_as_zero(ns: NoteSequence) -> NoteSequence:
    """note_seq's writer always opens an instrument 0 track (it holds the time and key
    signatures) and gives every other instrument id its own: a sequence whose lowest id is not 0
    (a groove: drums are instrument 9) would get an empty extra track. Renumber the lowest id to
    0 (a copy; ids are track positions, renumbered on reading anyway)."""
    used = {x.instrument for part in (ns.notes, ns.pitch_bends, ns.control_changes) for x in part}
    if not used or 0 in used:
        return ns
    low = min(used)
    out = NoteSequence()
    out.CopyFrom(ns)
    for part in (out.notes, out.pitch_bends, out.control_changes):
        for x in part:
            if x.instrument == low:
                x.instrument = 0
    for info in out.instrument_infos:
        if info.instrument == low:
            info.instrument = 0
    return out


def _extend_to(path: str, end_tick: int) -> None:
    """Move every track's end-of-track to `end_tick`, so the file lasts the sequence's
    total_time (a 4-bar groove whose last hit is in bar 4 still spans 4 whole bars in a DAW)."""
    import mido
    mid = mido.MidiFile(path)
    for track in mid.tracks:
        tick = sum(msg.time for msg in track)
        if track and track[-1].type == "end_of_track" and tick < end_tick:
            track[-1].time += end_tick - tick
    mid.save(path)


def apply_sustain(ns: NoteSequence) -> NoteSequence:
    """Copy of `ns` with notes extended while the sustain pedal (CC64 >= 64) is down."""
    return sequences_lib.apply_sustain_control_changes(ns)


# ----------------------------------------------------------------------------------------
# Comparison (tests and bench/midi_equality.py)
# ----------------------------------------------------------------------------------------
_COMPARED = {
    "notes": ("pitch", "velocity", "start_time", "end_time", "instrument", "program", "is_drum"),
    "tempos": ("time", "qpm"),
    "time_signatures": ("time", "numerator", "denominator"),
    "key_signatures": ("time", "key", "mode"),
    "control_changes": ("time", "control_number", "control_value", "instrument", "program",
                        "is_drum"),
    "pitch_bends": ("time", "bend", "instrument", "program", "is_drum"),
    "instrument_infos": ("instrument", "name"),
}
_FLOAT_FIELDS = {"start_time", "end_time", "time", "qpm"}


def note_sequence_diff(ours: NoteSequence, ref: NoteSequence, tol: float = 1e-6) -> Optional[str]:
    """First difference between two NoteSequences read from MIDI, or None when equal.

    Compares every field the MIDI readers fill: header, source_info, total_time and the
    repeated fields element by element in order; float fields within `tol`.
    """
    for field in ("ticks_per_quarter", "filename", "collection_name", "id"):
        if getattr(ours, field) != getattr(ref, field):
            return f"{field}: {getattr(ours, field)!r} != {getattr(ref, field)!r}"
    if ours.source_info != ref.source_info:
        return f"source_info: {ours.source_info} != {ref.source_info}"
    if abs(ours.total_time - ref.total_time) > tol:
        return f"total_time: {ours.total_time} != {ref.total_time}"
    for rep, fields in _COMPARED.items():
        a, b = getattr(ours, rep), getattr(ref, rep)
        if len(a) != len(b):
            return f"{rep}: {len(a)} != {len(b)} elements"
        if not len(a):
            continue
        for f in fields:
            va = np.array([getattr(x, f) for x in a])
            vb = np.array([getattr(x, f) for x in b])
            bad = (np.abs(va - vb) > tol) if f in _FLOAT_FIELDS else (va != vb)
            if bad.any():
                i = int(np.argmax(bad))
                return f"{rep}[{i}].{f}: {va[i]!r} != {vb[i]!r} (of {len(a)}; {int(bad.sum())} differ)"
    return None
