"""Fixture builders for the pipeline tests: MIDI written by code, MAESTRO / Groove folder layouts.

Nothing here copies a dataset file: every MIDI file is generated with mido, every metadata table is
written from the rows below.
"""
from __future__ import annotations

import csv
import json
import os
import struct

import mido

# (composer, title, split, year, relative midi path, duration, number of notes)
MAESTRO_ROWS = [
    ("Frédéric Chopin", "Ballade No. 1", "train", 2004, "2004/chopin_ballade.midi", 30.0, 12),
    ("Frédéric Chopin", "Etude Op. 10 No. 1", "train", 2006, "2006/chopin_etude.midi", 90.0, 10),
    ("Johann Sebastian Bach / Ferruccio Busoni", "Chaconne", "train", 2006, "2006/bach_busoni.midi",
     400.0, 8),
    ("Franz Liszt", "Mephisto Waltz", "validation", 2008, "2008/liszt.midi", 60.0, 9),
    ("Claude Debussy", "Clair de lune", "test", 2008, "2008/debussy.midi", 45.0, 7),
    ("Franz Schubert", "Impromptu", "test", 2004, "2004/missing_schubert.midi", 50.0, 0),  # no file
]
MAESTRO_UNLISTED = "2004/not_in_metadata.midi"

# (drummer, session, id number, style, bpm, beat_type, time signature, split, bars)
GROOVE_ROWS = [
    ("drummer1", "session1", 1, "funk/groove1", 100, "beat", "4-4", "train", 4),
    ("drummer1", "session1", 2, "funk", 120, "fill", "4-4", "train", 1),
    ("drummer1", "session2", 3, "rock/halftime", 80, "beat", "4-4", "train", 4),
    ("drummer2", "session1", 4, "jazz/swing", 140, "beat", "3-4", "validation", 4),
    ("drummer2", "eval_session", 5, "funk/groove2", 95, "beat", "4-4", "test", 2),
    ("drummer3", "eval_session", 6, "latin/samba", 110, "beat", "4-4", "test", 0),  # missing file
]
GROOVE_UNLISTED = "drummer9/session1/99_extra_120_beat_4-4.mid"
DRUM_PITCHES = (36, 42, 38, 42)  # kick, closed hi-hat, snare, closed hi-hat


def write_piano_midi(path: str, num_notes: int, start_pitch: int = 60, tempo_bpm: float = 120.0):
    """A one-track piano MIDI file of ``num_notes`` quarter notes."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    for i in range(num_notes):
        track.append(mido.Message("note_on", note=start_pitch + i % 24, velocity=40 + i % 80, time=0))
        track.append(mido.Message("note_off", note=start_pitch + i % 24, velocity=0, time=480))
    _save(mid, path)


def write_drum_midi(path: str, bars: int, bpm: float = 120.0, numerator: int = 4):
    """A drum MIDI file (channel 10): ``bars`` bars of eighth-note hits."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=4, time=0))
    for i in range(bars * numerator * 2):
        pitch = DRUM_PITCHES[i % len(DRUM_PITCHES)]
        track.append(mido.Message("note_on", channel=9, note=pitch, velocity=50 + (i * 7) % 70,
                                  time=0))
        track.append(mido.Message("note_off", channel=9, note=pitch, velocity=0, time=240))
    _save(mid, path)


def _save(mid: mido.MidiFile, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mid.save(path)


def make_maestro_dir(root: str, version: str = "v2") -> str:
    """A MAESTRO-layout folder: v2 (maestro-v2.0.0.csv) or v3 (column-oriented maestro-v3.0.0.json)."""
    os.makedirs(root, exist_ok=True)
    columns = ["canonical_composer", "canonical_title", "split", "year", "midi_filename",
               "audio_filename", "duration"]
    rows = []
    for i, (composer, title, split, year, midi, duration, n) in enumerate(MAESTRO_ROWS):
        rows.append([composer, title, split, year, midi, midi.replace(".midi", ".wav"), duration])
        if n:
            write_piano_midi(os.path.join(root, midi), n, start_pitch=48 + i)
    write_piano_midi(os.path.join(root, MAESTRO_UNLISTED), 3)
    if version == "v2":
        with open(os.path.join(root, "maestro-v2.0.0.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(rows)
    else:
        table = {col: {str(i): row[j] for i, row in enumerate(rows)} for j, col in enumerate(columns)}
        with open(os.path.join(root, "maestro-v3.0.0.json"), "w", encoding="utf-8") as f:
            json.dump(table, f)
    return root


def groove_filename(row) -> str:
    drummer, session, num, style, bpm, beat_type, ts, _, _ = row
    return f"{drummer}/{session}/{num}_{style.replace('/', '-')}_{bpm}_{beat_type}_{ts}.mid"


def make_groove_dir(root: str, complete: bool = False) -> str:
    """A Groove-layout folder: info.csv with GROOVE_ROWS, drum files written by code.

    ``complete=True``: no metadata row without its file and no unlisted file (a TFDS-ready folder).
    """
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "info.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["drummer", "session", "id", "style", "bpm", "beat_type", "time_signature",
                         "midi_filename", "audio_filename", "duration", "split"])
        for row in GROOVE_ROWS:
            if complete and not row[-1]:
                continue
            drummer, session, num, style, bpm, beat_type, ts, split, bars = row
            numerator = int(ts.split("-")[0])
            duration = bars * numerator * 60.0 / bpm
            midi = groove_filename(row)
            writer.writerow([drummer, f"{drummer}/{session}", f"{drummer}/{session}/{num}", style, bpm,
                             beat_type, ts, midi, midi.replace(".mid", ".wav"), duration or 10.0,
                             split])
            if bars:
                write_drum_midi(os.path.join(root, midi), bars, bpm, numerator)
    if not complete:
        write_drum_midi(os.path.join(root, GROOVE_UNLISTED), 1)
    return root


# ---- bad files ------------------------------------------------------------------------------------

def _smf(fmt: int, ntracks: int, division: int, tracks=()) -> bytes:
    body = b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)
    return b"MThd" + struct.pack(">IHHh", 6, fmt, ntracks, division) + body


_NOTE_TRACK = bytes([0, 0x90, 60, 80, 0x83, 0x60, 0x80, 60, 0, 0, 0xFF, 0x2F, 0])

# name -> (bytes, substring expected in the skip reason)
BAD_FILES = {
    "zero_length.mid": (b"", "empty file"),
    "truncated.mid": (_smf(0, 1, 480, [_NOTE_TRACK])[:20], "truncated"),
    "random_bytes.mid": (bytes((i * 7919 + 13) % 256 for i in range(300)), "not a MIDI"),
    "no_tracks.mid": (_smf(1, 0, 480), "0 tracks"),
    "format2.mid": (_smf(2, 1, 480, [_NOTE_TRACK]), "format 2"),
    "smpte.mid": (_smf(0, 1, (-25 << 8) | 40, [_NOTE_TRACK]), "SMPTE"),
    "tempo0.mid": (_smf(0, 1, 480, [bytes([0, 0xFF, 0x51, 3, 0, 0, 0]) + _NOTE_TRACK]), "tempo"),
    # The note-off comes before its note-on: no note with end >= start survives.
    "end_before_start.mid": (_smf(0, 1, 480, [bytes([0, 0x80, 60, 0, 0x83, 0x60, 0x90, 60, 80,
                                                     0, 0xFF, 0x2F, 0])]), "no notes"),
}


def write_bad_files(folder: str) -> dict:
    """Write every BAD_FILES entry into ``folder``; returns {path: expected reason substring}."""
    os.makedirs(folder, exist_ok=True)
    expected = {}
    for name, (data, reason) in BAD_FILES.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        expected[path] = reason
    return expected
