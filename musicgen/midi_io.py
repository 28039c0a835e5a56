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

Files whose events symusic cannot describe precisely enough (see
`_FALLBACK_REASONS`) are parsed with note_seq instead; `fallback_count()`
tells how many times that happened in this process.

Writing goes through note_seq (`note_sequence_to_midi_file`).
"""
from __future__ import annotations

import io
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
        spans.append((start, end))
        pos = end
    return fmt, division, spans


def _single_track_midi(data: bytes, division: int, span: Tuple[int, int]) -> bytes:
    """A format-0 SMF holding only one track chunk of `data`."""
    start, end = span
    return (b"MThd" + struct.pack(">LHHH", 6, 0, 1, division)
            + b"MTrk" + struct.pack(">L", end - start) + data[start:end])


# ----------------------------------------------------------------------------------------
# Tempo map (pretty_midi's exact float arithmetic)
# ----------------------------------------------------------------------------------------
class _TempoMap:
    """pretty_midi's tick -> seconds mapping, vectorised, bit-identical results."""

    def __init__(self, ticks: np.ndarray, mspq: np.ndarray, resolution: int, name: str):
        self.resolution = resolution
        scale_ticks = [0]
        scales = [60.0 / (120.0 * resolution)]
        for tick, tempo in zip(ticks.tolist(), mspq.tolist()):
            if tempo <= 0:
                raise MidiConversionError(f"{name}: set-tempo event with {tempo} us/quarter at "
                                          f"tick {tick}")
            scale = 60.0 / ((6e7 / tempo) * resolution)
            if tick == 0:
                scale_ticks, scales = [0], [scale]
            elif scale != scales[-1]:
                scale_ticks.append(tick)
                scales.append(scale)
        self.ticks = np.asarray(scale_ticks, dtype=np.int64)
        self.scales = np.asarray(scales, dtype=np.float64)
        starts = np.zeros(len(scales))
        last = 0.0
        for k in range(1, len(scales)):
            last = last + scales[k - 1] * float(scale_ticks[k] - scale_ticks[k - 1])
            starts[k] = last
        self.starts = starts

    def times(self, ticks: np.ndarray) -> np.ndarray:
        ticks = np.asarray(ticks, dtype=np.int64)
        if len(self.ticks) == 1:
            return self.starts[0] + self.scales[0] * ticks.astype(np.float64)
        k = np.searchsorted(self.ticks, ticks, side="right") - 1
        return self.starts[k] + self.scales[k] * (ticks - self.ticks[k]).astype(np.float64)

    def qpms(self) -> np.ndarray:
        return 60.0 / (self.scales * self.resolution)


# ----------------------------------------------------------------------------------------
# Protobuf wire-format encoding of the big repeated fields
# ----------------------------------------------------------------------------------------
def _varint2(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Non-minimal 2-byte varints (valid protobuf) for 0 <= v < 16384."""
    v = values.astype(np.int64)
    return ((v & 0x7F) | 0x80).astype(np.uint8), (v >> 7).astype(np.uint8)


def _varint10(values: np.ndarray) -> np.ndarray:
    """10-byte varints of int32 values (negative ones sign-extended to 64 bits), shape (n, 10)."""
    v = values.astype(np.int64).astype(np.uint64)
    shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)
    out = ((v[:, None] >> shifts[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    out[:, :9] |= 0x80
    return out


_NOTE_DT = np.dtype([("tag", "u1"), ("len", "u1"),
                     ("t1", "u1"), ("pitch", "u1"), ("t2", "u1"), ("velocity", "u1"),
                     ("t3", "u1"), ("start", "<f8"), ("t4", "u1"), ("end", "<f8"),
                     ("t7", "u1"), ("inst0", "u1"), ("inst1", "u1"),
                     ("t8", "u1"), ("program", "u1"), ("t9", "u1"), ("drum", "u1")])
_CC_DT = np.dtype([("tag", "u1"), ("len", "u1"),
                   ("t1", "u1"), ("time", "<f8"), ("t2", "u1"), ("number", "u1"),
                   ("t3", "u1"), ("value", "u1"), ("t4", "u1"), ("inst0", "u1"), ("inst1", "u1"),
                   ("t5", "u1"), ("program", "u1"), ("t6", "u1"), ("drum", "u1")])
_PB_DT = np.dtype([("tag", "u1"), ("len", "u1"),
                   ("t1", "u1"), ("time", "<f8"), ("t2", "u1"), ("bend", "u1", (10,)),
                   ("t3", "u1"), ("inst0", "u1"), ("inst1", "u1"),
                   ("t4", "u1"), ("program", "u1"), ("t5", "u1"), ("drum", "u1")])


def _fill_tags(arr: np.ndarray, field: int, tags: Dict[str, int]) -> None:
    arr["tag"] = (field << 3) | 2
    arr["len"] = arr.dtype.itemsize - 2
    for key, val in tags.items():
        arr[key] = val


def _encode_notes(cols: Dict[str, np.ndarray]) -> bytes:
    n = len(cols["pitch"])
    arr = np.empty(n, dtype=_NOTE_DT)
    _fill_tags(arr, 8, {"t1": 0x08, "t2": 0x10, "t3": 0x19, "t4": 0x21,
                        "t7": 0x38, "t8": 0x40, "t9": 0x48})
    arr["pitch"], arr["velocity"] = cols["pitch"], cols["velocity"]
    arr["start"], arr["end"] = cols["start"], cols["end"]
    arr["inst0"], arr["inst1"] = _varint2(cols["instrument"])
    arr["program"], arr["drum"] = cols["program"], cols["is_drum"]
    return arr.tobytes()


def _encode_ccs(cols: Dict[str, np.ndarray]) -> bytes:
    arr = np.empty(len(cols["time"]), dtype=_CC_DT)
    _fill_tags(arr, 11, {"t1": 0x09, "t2": 0x10, "t3": 0x18, "t4": 0x20, "t5": 0x28,
                         "t6": 0x30})
    arr["time"], arr["number"], arr["value"] = cols["time"], cols["number"], cols["value"]
    arr["inst0"], arr["inst1"] = _varint2(cols["instrument"])
    arr["program"], arr["drum"] = cols["program"], cols["is_drum"]
    return arr.tobytes()


def _encode_bends(cols: Dict[str, np.ndarray]) -> bytes:
    arr = np.empty(len(cols["time"]), dtype=_PB_DT)
    _fill_tags(arr, 10, {"t1": 0x09, "t2": 0x10, "t3": 0x18, "t4": 0x20, "t5": 0x28})
    arr["time"] = cols["time"]
    arr["bend"] = _varint10(cols["bend"])
    arr["inst0"], arr["inst1"] = _varint2(cols["instrument"])
    arr["program"], arr["drum"] = cols["program"], cols["is_drum"]
    return arr.tobytes()


# ----------------------------------------------------------------------------------------
# Notes: pretty_midi pairing and ordering from symusic's FIFO-paired notes
# ----------------------------------------------------------------------------------------
def _pretty_notes(notes: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
    """(start_tick, end_tick, pitch, velocity) in pretty_midi's note-off order.

    symusic pairs a note-off with the oldest open note of its pitch (FIFO) and lists notes
    by note-on. When notes of one pitch never overlap the pairing is the same as
    pretty_midi's, except that zero-length notes vanish in pretty_midi.
    """
    start = notes["time"].astype(np.int64)
    dur = notes["duration"].astype(np.int64)
    pitch = notes["pitch"]
    vel = notes["velocity"]
    end = start + dur
    if len(start) > 1:
        order = np.lexsort((start, pitch))  # stable: by pitch, then start, then on-order
        p, s, e = pitch[order], start[order], end[order]
        same = p[1:] == p[:-1]
        overlap = same & (s[1:] < e[:-1])
        # a zero-length note sharing its start tick with the next same-pitch note
        zero_tie = same & (s[1:] == s[:-1]) & (e[:-1] == s[:-1])
        if overlap.any() or zero_tie.any():
            raise _NeedsFallback("overlapping notes of the same pitch")
    keep = dur > 0
    if not keep.all():
        start, end, pitch, vel = start[keep], end[keep], pitch[keep], vel[keep]
    # pretty_midi lists notes by note-off event; symusic cannot say in which order
    # simultaneous note-offs of different pitches came, so ties are broken by pitch
    # (the order pretty_midi's / note_seq's writers and both datasets use).
    order = np.lexsort((pitch, end))
    return start[order], end[order], pitch[order], vel[order]


# ----------------------------------------------------------------------------------------
# Main conversion
# ----------------------------------------------------------------------------------------
_KEY_MAJOR_PC = {sf: (sf * 7) % 12 for sf in range(-7, 8)}


def _parse_score(data: bytes, name: str, what: str) -> "symusic.core.ScoreTick":
    try:
        return symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError / ValueError with a short text
        raise MidiConversionError(f"{name}: cannot decode {what}: {exc}") from exc


def _convert(data: bytes, name: str) -> NoteSequence:
    fmt, division, spans = _split_tracks(data, name)
    resolution = division
    scores = [_parse_score(_single_track_midi(data, division, span), name, f"track {i}")
              for i, span in enumerate(spans)]
    first = scores[0]

    tempos = first.tempos.numpy()
    tmap = _TempoMap(tempos["time"], tempos["mspq"], resolution, name)

    seq = NoteSequence()
    seq.ticks_per_quarter = resolution
    seq.source_info.parser = NoteSequence.SourceInfo.PRETTY_MIDI
    seq.source_info.encoding_type = NoteSequence.SourceInfo.MIDI

    ts = first.time_signatures.numpy()
    if len(ts["time"]):
        for t, num, den in zip(tmap.times(ts["time"]).tolist(), ts["numerator"].tolist(),
                               ts["denominator"].tolist()):
            if num <= 0:
                raise MidiConversionError(f"{name}: invalid time signature {num}/{den}")
            seq.time_signatures.add(time=t, numerator=num, denominator=den)
    ks = first.key_signatures.numpy()
    if len(ks["time"]):
        for t, key, tonality in zip(tmap.times(ks["time"]).tolist(), ks["key"].tolist(),
                                    ks["tonality"].tolist()):
            if key not in _KEY_MAJOR_PC or tonality not in (0, 1):
                raise MidiConversionError(
                    f"{name}: invalid key signature (sharps/flats {key}, mode {tonality})")
            pc = _KEY_MAJOR_PC[key] if tonality == 0 else (_KEY_MAJOR_PC[key] + 9) % 12
            seq.key_signatures.add(time=t, key=pc, mode=tonality)
    tempo_times = tmap.times(tmap.ticks)
    for t, q in zip(tempo_times.tolist(), tmap.qpms().tolist()):
        seq.tempos.add(time=t, qpm=q)

    note_parts, cc_parts, pb_parts = [], [], []
    total_time = 0.0
    instrument = 0
    for score in scores:
        groups = []
        for track in score.tracks:
            notes = track.notes.numpy()
            if len(notes["time"]) == 0:
                continue
            start, end, pitch, vel = _pretty_notes(notes)
            if len(start) == 0:
                continue
            groups.append((int(end[0]), track, start, end, pitch, vel))
        if len(groups) > 1:
            raise _NeedsFallback("several channels/programs in one MIDI track")
        for _, track, start, end, pitch, vel in groups:
            n = len(start)
            prog, drum = int(track.program), int(track.is_drum)
            if track.name:
                seq.instrument_infos.add(name=track.name, instrument=instrument)
            ends = tmap.times(end)
            total_time = max(total_time, float(ends.max()))
            note_parts.append(_encode_notes({
                "pitch": pitch, "velocity": vel, "start": tmap.times(start), "end": ends,
                "instrument": np.full(n, instrument), "program": prog, "is_drum": drum}))
            ccs = track.controls.numpy()
            if len(ccs["time"]):
                cc_parts.append(_encode_ccs({
                    "time": tmap.times(ccs["time"]), "number": ccs["number"],
                    "value": ccs["value"], "instrument": np.full(len(ccs["time"]), instrument),
                    "program": prog, "is_drum": drum}))
            pbs = track.pitch_bends.numpy()
            if len(pbs["time"]):
                pb_parts.append(_encode_bends({
                    "time": tmap.times(pbs["time"]), "bend": pbs["value"],
                    "instrument": np.full(len(pbs["time"]), instrument),
                    "program": prog, "is_drum": drum}))
            instrument += 1
    seq.MergeFromString(b"".join(note_parts) + b"".join(pb_parts) + b"".join(cc_parts))
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
    ns_midi_io.note_sequence_to_midi_file(ns, name)


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
