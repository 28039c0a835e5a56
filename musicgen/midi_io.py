"""MIDI <-> NoteSequence: reading equal to note_seq's, fast, bounded, and counting what it drops.

`midi_file_to_note_sequence(path)` returns the same NoteSequence as
`note_seq.midi_io.midi_file_to_note_sequence` (pretty_midi on top of mido) — same notes in the
same order, same instrument numbering and names, same tempos / time and key signatures /
control changes / pitch bends, times equal to the bit — and fails (`MidiConversionError`,
naming the file) on the files note_seq fails on. It is much faster because nothing is built
per event in Python:

1. `musicgen.midi_scan` reads the bytes as mido does (its rules: End-of-Track does not end a
   track, meta events do not set running status, what is an error) into event arrays, in a
   compiled (numba) loop;
2. `musicgen.midi_pairing` pairs notes and builds instruments as pretty_midi does (a note-off
   closes every earlier open note of its channel and pitch, the program at the note-off,
   instruments in order of their first closed note, the shared "straggler" control-change
   lists);
3. times come from pretty_midi's tempo map arithmetic (tempo / signatures from track 0 only),
   and `musicgen.midi_wire` writes the repeated fields in protobuf wire format.

There is no second parser: every file either reads here or raises.

Limits (a file beyond them is rejected with `MidiConversionError` before anything is allocated
per tick or per event beyond the file's own size): files of at most `MAX_FILE_BYTES`, at most
`MAX_EVENTS` events, every event before tick 10,000,000 (pretty_midi's MAX_TICK: note_seq
rejects those files too), at most `MAX_SECONDS` of music, at most 2**21 instruments. Not
supported although note_seq reads them: MIDI format 2 and SMPTE time division.

What pretty_midi drops — notes never closed, zero-length notes, note-offs with nothing open,
control changes / pitch bends of a channel no instrument takes — and the control changes it
repeats under several instruments are dropped and repeated here too (so the result equals
note_seq's), and counted: pass a dict as `report` to get the counts by reason.

Writing goes through note_seq (`note_sequence_to_midi_file`).
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2


__all__ = [
    "MidiConversionError",
    "midi_file_to_note_sequence",
    "midi_bytes_to_note_sequence",
    "note_sequence_to_midi_file",
    "apply_sustain",
    "fallback_count",
    "MAX_FILE_BYTES", "MAX_EVENTS", "MAX_SECONDS",
]

NoteSequence = music_pb2.NoteSequence

MAX_FILE_BYTES = 64 << 20   # 64 MiB: ~20x the largest MIDI file of MAESTRO / Lakh
MAX_EVENTS = 8_000_000      # events of all tracks (a 10 MB file holds at most ~5 M)
MAX_SECONDS = 24 * 3600.0   # music longer than a day is a corrupt tempo or delta time


class MidiConversionError(ValueError):
    """A MIDI file could not be converted; the message names the file and the problem."""


def fallback_count() -> Dict[str, int]:
    """Files parsed by a second parser in this process, by reason: always empty (every file is
    read by the one reader); kept for callers that report it."""
    return {}


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------
_KEY_MAJOR_PC = np.array([(sf * 7) % 12 for sf in range(-7, 8)])  # index: sharps + 7


def _seconds(r, ticks: np.ndarray) -> list:
    """pretty_midi's tick_to_time[ticks] from the tempo map segments."""
    k = np.searchsorted(r.tempo_ticks, ticks, side="right") - 1
    return (r.tempo_starts[k] + r.tempo_scales[k] * (ticks - r.tempo_ticks[k])).tolist()


def _convert(data: bytes, name: str, report: Optional[dict]) -> NoteSequence:
    from musicgen import midi_read  # compiled with numba: imported when the first file is read
    try:
        r = midi_read.read(data, MAX_EVENTS, MAX_SECONDS)
    except midi_read.ReadError as exc:
        raise MidiConversionError(f"{name}: {exc}") from None
    seq = NoteSequence()
    seq.ticks_per_quarter = int.from_bytes(data[12:14], "big")
    seq.source_info.parser = NoteSequence.SourceInfo.PRETTY_MIDI
    seq.source_info.encoding_type = NoteSequence.SourceInfo.MIDI
    if len(r.time_signatures):
        ts = r.time_signatures
        for t, num, pow2 in zip(_seconds(r, ts[:, 0]), ts[:, 1].tolist(), ts[:, 2].tolist()):
            seq.time_signatures.add(time=t, numerator=num, denominator=1 << pow2)
    if len(r.key_signatures):
        ks = r.key_signatures
        keys = (_KEY_MAJOR_PC[ks[:, 1] + 7] + 9 * ks[:, 2]) % 12
        for t, key, mode in zip(_seconds(r, ks[:, 0]), keys.tolist(), ks[:, 2].tolist()):
            seq.key_signatures.add(time=t, key=key, mode=mode)
    # qpm of each segment as pretty_midi.get_tempo_changes(); a segment starts at its own time
    for t, scale in zip(r.tempo_starts.tolist(), r.tempo_scales.tolist()):
        seq.tempos.add(time=t, qpm=60.0 / (scale * seq.ticks_per_quarter))
    for inst, start, length in r.names.tolist():
        inst_name = data[start:start + length].decode("latin-1")
        if inst_name:
            seq.instrument_infos.add(name=inst_name, instrument=inst)
    if len(r.wire):
        seq.MergeFromString(r.wire.tobytes())
    seq.total_time = r.total_time
    if report is not None:
        for reason, count in zip(midi_read.DROPPED, r.counts.tolist()):
            if count:
                report[reason] = count
    return seq


def midi_bytes_to_note_sequence(data: bytes, filename: str = "",
                                report: Optional[dict] = None) -> NoteSequence:
    """Parse MIDI file contents into a NoteSequence equal to note_seq's.

    `filename` is only used in error messages; the NoteSequence's filename /
    collection_name / id fields are left for the caller to set. `report`, when given, receives
    the counts of what was dropped or repeated, by reason (as note_seq drops / repeats them).
    Raises MidiConversionError naming the file and the problem.
    """
    name = filename or "<midi bytes>"
    if len(data) == 0:
        raise MidiConversionError(f"{name}: empty file (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise MidiConversionError(f"{name}: {len(data)} bytes, above the {MAX_FILE_BYTES >> 20} "
                                  f"MiB per-file limit")
    return _convert(bytes(data), name, report)


def midi_file_to_note_sequence(path: str | os.PathLike,
                               report: Optional[dict] = None) -> NoteSequence:
    """Read a MIDI file into a NoteSequence equal to note_seq.midi_io's (see
    midi_bytes_to_note_sequence)."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        if size > MAX_FILE_BYTES:
            raise MidiConversionError(f"{name}: {size} bytes, above the "
                                      f"{MAX_FILE_BYTES >> 20} MiB per-file limit")
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise MidiConversionError(f"{name}: cannot read file: {exc}") from exc
    return midi_bytes_to_note_sequence(data, name, report)


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
