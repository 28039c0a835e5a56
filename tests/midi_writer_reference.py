"""The NoteSequence -> MIDI writer as it was before musicgen.midi_writer (frozen copy).

`reference_write(ns, path)` is `musicgen.midi_io.note_sequence_to_midi_file` as of commit
0731204 (note_seq's `note_sequence_to_pretty_midi` + `PrettyMIDI.write` through mido, with
`_first_instrument_as_zero` and `_extend_to`), kept here so that tests/test_midi_writer.py and
bench/midi_write.py still compare against it once midi_io switches to `midi_writer`.
"""
from __future__ import annotations

import os

from note_seq.protobuf import music_pb2

from musicgen.midi_io import MidiConversionError

NoteSequence = music_pb2.NoteSequence


def reference_write(ns: NoteSequence, path: str | os.PathLike) -> None:
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
    import mido
    mid = mido.MidiFile(path)
    for track in mid.tracks:
        tick = sum(msg.time for msg in track)
        if track and track[-1].type == "end_of_track" and tick < end_tick:
            track[-1].time += end_tick - tick
    mid.save(path)


def reference_bytes(ns: NoteSequence, tmp_path: str) -> bytes:
    """reference_write's file contents (written to tmp_path)."""
    reference_write(ns, tmp_path)
    with open(tmp_path, "rb") as f:
        return f.read()
