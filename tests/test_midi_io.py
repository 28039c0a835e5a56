"""musicgen.midi_io: the reader equals note_seq's (note order included), errors, limits,
drop counts, sustain, round trip."""
import csv
import glob
import io
import os
import struct

import mido
import numpy as np
import pytest
from note_seq import midi_io as ns_midi_io
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from conftest import SHARED_DATA, TEST_DATA
from musicgen import midi_io

GROOVE_FIXTURES = os.path.join(TEST_DATA, "groove")


# ------------------------------------------------------------------------------------------
# MIDI fixtures written with mido
# ------------------------------------------------------------------------------------------
def _track(events):
    """events: (abs_tick, mido message) in file order -> MidiTrack with delta times."""
    track, last = mido.MidiTrack(), 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    return track


def _midi_bytes(tracks, type=1, tpq=480):
    mf = mido.MidiFile(type=type, ticks_per_beat=tpq)
    mf.tracks.extend(_track(t) for t in tracks)
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def _on(ch, pitch, vel):
    return mido.Message("note_on", channel=ch, note=pitch, velocity=vel)


def _off(ch, pitch, as_note_on=False):
    if as_note_on:  # velocity-0 note-on, as MAESTRO writes note-offs
        return mido.Message("note_on", channel=ch, note=pitch, velocity=0)
    return mido.Message("note_off", channel=ch, note=pitch, velocity=64)


def _meta(kind, **kw):
    return mido.MetaMessage(kind, **kw)


def _multitrack_song():
    """Type 1: tempo map with changes, 2 time and 2 key signatures, piano + bass + drums."""
    conductor = [
        (0, _meta("track_name", name="conductor")),
        (0, _meta("set_tempo", tempo=500000)),
        (0, _meta("time_signature", numerator=3, denominator=4)),
        (0, _meta("key_signature", key="Eb")),
        (960, _meta("set_tempo", tempo=400000)),
        (1440, _meta("set_tempo", tempo=400000)),  # repeated tempo: pretty_midi drops it
        (1440, _meta("time_signature", numerator=6, denominator=8)),
        (1920, _meta("key_signature", key="F#m")),
        (2400, _meta("set_tempo", tempo=750000)),
    ]
    piano = [(0, _meta("track_name", name="Piano")),
             (0, mido.Message("program_change", channel=0, program=1)),
             (0, mido.Message("control_change", channel=0, control=64, value=127))]
    t = 0
    for i, pitch in enumerate([60, 64, 67, 72, 71, 69, 67, 65]):
        piano += [(t, _on(0, pitch - 12, 50)), (t, _on(0, pitch, 40 + 9 * i))]
        t += 240 + 7 * i
        # simultaneous note-offs in ascending pitch, half of them velocity-0 note-ons
        piano += [(t, _off(0, pitch - 12, i % 2 == 0)), (t, _off(0, pitch, i % 2 == 1))]
    piano += [(300, mido.Message("control_change", channel=0, control=64, value=0))]
    piano += [(1000, mido.Message("pitchwheel", channel=0, pitch=-4096)),
              (1200, mido.Message("pitchwheel", channel=0, pitch=8191)),
              (1300, mido.Message("control_change", channel=0, control=7, value=100))]
    piano.sort(key=lambda e: e[0])  # stable: keeps same-tick order
    bass = [(0, mido.Message("program_change", channel=1, program=33))]
    for k in range(6):
        bass += [(k * 480, _on(1, 36 + k, 90)), (k * 480 + 470, _off(1, 36 + k))]
    drums = [(0, _meta("track_name", name="Drums"))]
    for k in range(12):
        tick = k * 240 + (k % 3)
        drums += [(tick, _on(9, 36, 100)), (tick, _on(9, 42, 70 + k)),
                  (tick + 60, _off(9, 36, True)), (tick + 60, _off(9, 42, True))]
    return _midi_bytes([conductor, piano, bass, drums])


def _type0_song():
    """Type 0, one channel, CC64 before the first note, tempo change, unclosed note."""
    ev = [(0, _meta("set_tempo", tempo=600000)),
          (0, mido.Message("control_change", channel=2, control=64, value=100)),
          (0, _on(2, 60, 80)), (100, _off(2, 60)),
          (100, _on(2, 60, 81)), (200, _off(2, 60)),          # re-strike at the off tick
          (250, _on(2, 62, 82)), (250, _off(2, 62)),          # zero-length: dropped
          (300, _meta("set_tempo", tempo=300000)),
          (400, _on(2, 64, 83)), (500, _off(2, 64)),
          (500, mido.Message("control_change", channel=2, control=64, value=0)),
          (600, _on(2, 65, 84))]                               # never closed: dropped
    return _midi_bytes([ev], type=0, tpq=96)


def _overlap_song():
    """Same pitch struck twice before its note-off (pretty_midi closes both at once)."""
    ev = [(0, _on(0, 60, 80)), (100, _on(0, 60, 90)), (200, _off(0, 60)), (300, _off(0, 60)),
          (400, _on(0, 62, 70)), (500, _off(0, 62))]
    return _midi_bytes([ev], type=0)


def _two_channels_one_track():
    """Two channels and a program change within one MIDI track."""
    ev = [(0, mido.Message("program_change", channel=0, program=5)),
          (0, _on(0, 60, 80)), (0, _on(3, 50, 80)), (100, _off(3, 50)), (200, _off(0, 60)),
          (200, mido.Message("program_change", channel=0, program=7)),
          (300, _on(0, 61, 80)), (400, _off(0, 61))]
    return _midi_bytes([ev], type=0)


def _both(data, name, report=None):
    ours = midi_io.midi_bytes_to_note_sequence(data, name, report=report)
    ref = ns_midi_io.midi_to_note_sequence(data)
    return ours, ref


def _assert_equal(ours, ref):
    diff = midi_io.note_sequence_diff(ours, ref)
    assert diff is None, diff
    # stronger than the 1e-6 s tolerance: identical protos
    assert ours == ref


# ------------------------------------------------------------------------------------------
# Equality with note_seq
# ------------------------------------------------------------------------------------------
def test_multitrack_equals_note_seq():
    ours, ref = _both(_multitrack_song(), "multi.mid")
    _assert_equal(ours, ref)
    assert len(ours.notes) == 16 + 6 + 24
    assert [(n.instrument, n.program, n.is_drum) for n in ours.notes[:1]] == [(0, 1, False)]
    assert {(n.instrument, n.program, n.is_drum) for n in ours.notes} == {
        (0, 1, False), (1, 33, False), (2, 0, True)}
    assert [round(t.qpm, 6) for t in ours.tempos] == [120.0, 150.0, 80.0]
    assert ours.tempos[1].time == pytest.approx(1.0)
    assert ours.tempos[2].time == pytest.approx(1.0 + 1440 / 480 * 0.4)
    assert [(t.numerator, t.denominator) for t in ours.time_signatures] == [(3, 4), (6, 8)]
    keys = [(k.key, k.mode) for k in ours.key_signatures]
    assert keys == [(3, music_pb2.NoteSequence.KeySignature.MAJOR),
                    (6, music_pb2.NoteSequence.KeySignature.MINOR)]
    assert [cc.control_number for cc in ours.control_changes] == [64, 64, 7]
    assert [pb.bend for pb in ours.pitch_bends] == [-4096, 8191]
    assert [i.name for i in ours.instrument_infos] == ["Piano", "Drums"]
    assert ours.source_info.parser == music_pb2.NoteSequence.SourceInfo.PRETTY_MIDI
    assert ours.source_info.encoding_type == music_pb2.NoteSequence.SourceInfo.MIDI
    assert ours.ticks_per_quarter == 480


def test_type0_restrike_zero_length_and_unclosed_notes():
    ours, ref = _both(_type0_song(), "type0.mid")
    _assert_equal(ours, ref)
    assert [(n.pitch, n.velocity) for n in ours.notes] == [(60, 80), (60, 81), (64, 83)]
    # 96 tpq at 100 qpm, then 200 qpm from tick 300
    assert ours.notes[2].start_time == pytest.approx(300 * 0.6 / 96 + 100 * 0.3 / 96)
    assert ours.total_time == ours.notes[2].end_time
    assert [cc.control_value for cc in ours.control_changes] == [100, 0]


def _unsorted_writer():
    """Same-tick note-ons and note-offs in no pitch order (a live recording)."""
    ev = [(0, _on(0, 64, 80)), (0, _on(0, 60, 80)), (100, _off(0, 64)), (100, _off(0, 60))]
    return _midi_bytes([ev], type=0)


def _late_track_name():
    """Track name after the first note-off: pretty_midi's instrument keeps no name."""
    ev = [(0, _on(0, 60, 80)), (100, _off(0, 60)), (150, _meta("track_name", name="Late")),
          (200, _on(0, 62, 80)), (300, _off(0, 62))]
    return _midi_bytes([ev], type=0)


def _latin1_track_name():
    ev = [(0, _meta("track_name", name="Caf\xe9 piano")), (0, _on(0, 60, 80)),
          (100, _off(0, 60))]
    return _midi_bytes([ev], type=0)


def _early_end_of_track():
    """An End-of-Track meta event mid-track (hand-written bytes: mido's writer moves it to the
    end): mido / note_seq read on to the end of the chunk (symusic stops there)."""
    events = (b"\x00\x90\x3c\x50" b"\x60\x80\x3c\x40" b"\x00\xff\x2f\x00"
              b"\x00\x90\x3e\x50" b"\x60\x80\x3e\x40" b"\x00\xff\x2f\x00")
    return (b"MThd" + struct.pack(">LHHH", 6, 0, 1, 96)
            + b"MTrk" + struct.pack(">L", len(events)) + events)


def _descending_offs():
    """Sorted note-ons, same-tick note-offs in descending pitch: note_seq lists the notes in
    note-off order."""
    ev = [(0, _on(0, 60, 80)), (0, _on(0, 64, 80)), (100, _off(0, 64)), (100, _off(0, 60))]
    return _midi_bytes([ev], type=0)


def _program_change_while_held():
    """pretty_midi files a note under the program in effect at its note-off."""
    ev = [(0, _on(0, 60, 80)), (50, mido.Message("program_change", channel=0, program=9)),
          (100, _off(0, 60)), (100, _on(0, 62, 80)), (200, _off(0, 62))]
    return _midi_bytes([ev], type=0)


def _straggler_control_changes():
    """A CC before any note, then notes under two programs on that channel: pretty_midi gives
    both instruments the straggler's CC list, so note_seq repeats the CCs under each."""
    ev = [(0, mido.Message("control_change", channel=0, control=64, value=127)),
          (0, _on(0, 60, 80)), (10, _off(0, 60)),
          (10, mido.Message("control_change", channel=0, control=7, value=100)),
          (20, mido.Message("program_change", channel=0, program=5)),
          (20, _on(0, 62, 80)), (30, _off(0, 62)),
          (30, mido.Message("control_change", channel=0, control=10, value=3)),
          (30, mido.Message("pitchwheel", channel=3, pitch=100))]  # channel 3 has no notes
    return _midi_bytes([ev], type=0)


def _corrupted_note_off():
    """A note-off moved to another pitch while an earlier note of its pitch sounds: the
    earlier note is closed by the next note-off of its pitch (pretty_midi), the stray off is
    ignored, the later note is never closed."""
    ev = [(0, _on(0, 60, 80)), (50, _on(0, 60, 90)), (100, _off(0, 61)), (150, _off(0, 60)),
          (200, _on(0, 60, 70))]
    return _midi_bytes([ev], type=0)


@pytest.mark.parametrize("make", [_overlap_song, _two_channels_one_track, _late_track_name,
                                  _latin1_track_name, _unsorted_writer, _early_end_of_track,
                                  _descending_offs, _program_change_while_held,
                                  _straggler_control_changes, _corrupted_note_off])
def test_pretty_midi_corner_cases_equal_note_seq_exactly(make):
    ours, ref = _both(make(), "corner.mid")
    _assert_equal(ours, ref)
    assert midi_io.fallback_count() == {}


def test_early_end_of_track_loses_no_notes():
    ours, _ = _both(_early_end_of_track(), "eot.mid")
    assert [n.pitch for n in ours.notes] == [60, 62]


def test_note_order_is_note_off_order_and_program_at_note_off():
    ours, _ = _both(_descending_offs(), "desc.mid")
    assert [n.pitch for n in ours.notes] == [64, 60]
    ours, _ = _both(_program_change_while_held(), "prog.mid")
    assert [(n.pitch, n.program) for n in ours.notes] == [(60, 9), (62, 9)]


def test_what_pretty_midi_drops_is_counted():
    report = {}
    ours, _ = _both(_straggler_control_changes(), "cc.mid", report)
    assert [(c.instrument, c.control_number) for c in ours.control_changes] == [
        (0, 64), (0, 7), (0, 10), (1, 64), (1, 7), (1, 10)]
    assert report == {
        "control changes / pitch bends on a channel whose track has no notes for them": 1,
        "control changes / pitch bends repeated under instruments sharing pretty_midi's "
        "straggler list": 3}
    report = {}
    ours, _ = _both(_corrupted_note_off(), "off.mid", report)
    assert [(n.velocity, n.end_time) for n in ours.notes] == [
        (80, pytest.approx(150 / 960)), (90, pytest.approx(150 / 960))]
    assert report == {"notes never closed (open at the end of their track)": 1,
                      "note-offs with no open note": 1}
    report = {}
    _both(_type0_song(), "type0.mid", report)
    assert report["zero-length notes (note-on and note-off on one tick, nothing else open)"] >= 1


def test_overlap_semantics_are_pretty_midis():
    ours, _ = _both(_overlap_song(), "overlap.mid")
    # the first note-off closes both open C4s; the second one is ignored
    assert [(n.pitch, n.start_time, n.end_time) for n in ours.notes][:2] == [
        (60, 0.0, pytest.approx(200 / 960)), (60, pytest.approx(100 / 960), pytest.approx(200 / 960))]


def test_groove_fixtures_equal_note_seq():
    files = sorted(glob.glob(os.path.join(GROOVE_FIXTURES, "**", "*.mid"), recursive=True))
    assert len(files) == 5
    with open(os.path.join(GROOVE_FIXTURES, "info.csv")) as f:
        rows = {r["midi_filename"]: r for r in csv.DictReader(f)}
    for path in files:
        ours = midi_io.midi_file_to_note_sequence(path)
        ref = ns_midi_io.midi_file_to_note_sequence(path)
        _assert_equal(ours, ref)
        rel = os.path.relpath(path, GROOVE_FIXTURES)
        assert rel in rows
        assert all(n.is_drum for n in ours.notes)
        num, den = rows[rel]["time_signature"].split("-")
        assert (ours.time_signatures[0].numerator, ours.time_signatures[0].denominator) == (
            int(num), int(den))
        assert ours.tempos[0].qpm == pytest.approx(float(rows[rel]["bpm"]), abs=0.5)


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isdir(SHARED_DATA), reason="needs ../shared/data")
def test_some_maestro_files_equal_note_seq():
    files = sorted(glob.glob(os.path.join(SHARED_DATA, "maestro-v2.0.0", "*", "*.midi")))[:3]
    assert files
    for path in files:
        _assert_equal(midi_io.midi_file_to_note_sequence(path),
                      ns_midi_io.midi_file_to_note_sequence(path))


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------
def _good_bytes():
    return _midi_bytes([[(0, _meta("set_tempo", tempo=500000))],
                        [(0, _on(0, 60, 90)), (480, _off(0, 60))]])


def _with_header(fmt=1, ntracks=None, division=480):
    good = _good_bytes()
    ntracks = 2 if ntracks is None else ntracks
    return good[:8] + struct.pack(">HHH", fmt, ntracks, division) + good[14:]


def _corrupt_event():
    data = bytearray(_good_bytes())
    data[data.rfind(b"\x90") + 1] = 0xF5  # pitch byte > 127
    return bytes(data)


def _tick_overflow():
    """Delta times adding up past 2**31 ticks: a note would end before it starts."""
    ev = [(0, _on(0, 60, 80))]
    ev += [(k * ((1 << 28) - 1), _meta("text", text="x")) for k in range(1, 10)]
    last = ev[-1][0]
    ev += [(last, _off(0, 60)), (last, _on(0, 61, 80)), (last + 10, _off(0, 61))]
    return _midi_bytes([ev], type=0)


def _huge_delta():
    """One delta time changed to 0x0FFFFFFF (the issue's 6.5 GB case in pretty_midi)."""
    ev = [(0, _on(0, 60, 80)), (100, _off(0, 60))]
    return _midi_bytes([ev], type=0).replace(b"\x64\x80", b"\xff\xff\xff\x7f\x80", 1)


def _very_slow_tempo():
    """The longest tempo (16.7 s per quarter) at 1 tick per quarter: 9.9 M quarters ~ 5 years."""
    ev = [(0, _meta("set_tempo", tempo=0xFFFFFF)), (0, _on(0, 60, 80)),
          (9_900_000, _off(0, 60))]
    return _midi_bytes([ev], type=0, tpq=1)


BAD_INPUTS = {
    "empty": (lambda: b"", "empty file"),
    "truncated": (lambda: _good_bytes()[:-6], "truncated"),
    "truncated_header": (lambda: _good_bytes()[:11], "truncated"),
    "random": (lambda: np.random.default_rng(0).integers(0, 256, 400, np.uint8).tobytes(),
               "not a MIDI file"),
    "zero_tracks": (lambda: b"MThd" + struct.pack(">LHHH", 6, 1, 0, 480), "0 tracks"),
    "format2": (lambda: _with_header(fmt=2), "format 2"),
    "smpte": (lambda: _with_header(division=0xE728), "SMPTE"),
    "tempo0": (lambda: _midi_bytes([[(0, _meta("set_tempo", tempo=0))],
                                     [(0, _on(0, 60, 90)), (480, _off(0, 60))]]), "tempo"),
    "bad_event": (_corrupt_event, "data byte above 127 in track 1"),
    "not_mtrk": (lambda: _good_bytes().replace(b"MTrk", b"XXXX", 1), "not an MTrk"),
    "beyond_max_tick": (_tick_overflow, "tick >= 10,000,000"),
    "huge_delta": (_huge_delta, "tick >= 10,000,000"),
    "too_long": (_very_slow_tempo, "more than 24 hours"),
    "empty_track": (lambda: b"MThd" + struct.pack(">LHHH", 6, 1, 1, 480) + b"MTrk\0\0\0\0",
                    "no events"),
    "key_signature": (lambda: _midi_bytes([[(0, _meta("key_signature", key="C"))]]).replace(
        b"\xff\x59\x02\x00\x00", b"\xff\x59\x02\x09\x00"), "invalid key signature"),
    "short_tempo": (lambda: _good_bytes().replace(b"\xff\x51\x03", b"\xff\x51\x02\x07\xff"),
                    "too short"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_midi_conversion_error(case, tmp_path):
    make, reason = BAD_INPUTS[case]
    path = tmp_path / f"{case}.mid"
    path.write_bytes(make())
    with pytest.raises(midi_io.MidiConversionError) as err:
        midi_io.midi_file_to_note_sequence(path)
    assert str(path) in str(err.value)
    assert reason in str(err.value)
    assert isinstance(err.value, ValueError)


def test_limits_reject_before_work(monkeypatch, tmp_path):
    """The event limit stops the scan itself; the file-size limit is checked before reading."""
    monkeypatch.setattr(midi_io, "MAX_EVENTS", 10)
    ev = [(i, _on(0, 60, 80) if i % 2 == 0 else _off(0, 60)) for i in range(40)]
    with pytest.raises(midi_io.MidiConversionError, match="many.mid: more than 10 events"):
        midi_io.midi_bytes_to_note_sequence(_midi_bytes([ev], type=0), "many.mid")
    monkeypatch.setattr(midi_io, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.mid"
    path.write_bytes(_midi_bytes([ev], type=0))
    with pytest.raises(midi_io.MidiConversionError, match="big.mid: .* bytes, above"):
        midi_io.midi_file_to_note_sequence(path)


def test_missing_file_raises_midi_conversion_error(tmp_path):
    with pytest.raises(midi_io.MidiConversionError, match="nope.mid"):
        midi_io.midi_file_to_note_sequence(tmp_path / "nope.mid")


def test_writer_rejects_note_ending_before_start(tmp_path):
    ns = music_pb2.NoteSequence()
    ns.notes.add(pitch=60, velocity=80, start_time=1.0, end_time=0.5)
    with pytest.raises(midi_io.MidiConversionError, match="before its start"):
        midi_io.note_sequence_to_midi_file(ns, tmp_path / "bad.mid")
    assert not (tmp_path / "bad.mid").exists()


# ------------------------------------------------------------------------------------------
# Sustain and round trip
# ------------------------------------------------------------------------------------------
def test_apply_sustain_extends_notes_like_note_seq():
    ours, _ = _both(_type0_song(), "type0.mid")
    sustained = midi_io.apply_sustain(ours)
    assert sustained == sequences_lib.apply_sustain_control_changes(ours)
    # pedal down from 0 to tick 500: the first two C4s end at the re-strike / pedal release
    pedal_up = ours.control_changes[1].time
    assert sustained.notes[0].end_time == pytest.approx(ours.notes[1].start_time)
    assert sustained.notes[1].end_time == pytest.approx(pedal_up)
    assert ours.notes[1].end_time < pedal_up  # the input is not modified
    assert len(sustained.notes) == len(ours.notes)


def test_round_trip_write_then_read(tmp_path):
    ours, _ = _both(_multitrack_song(), "multi.mid")
    path = tmp_path / "rt.mid"
    midi_io.note_sequence_to_midi_file(ours, path)
    back = midi_io.midi_file_to_note_sequence(path)
    assert back == ns_midi_io.midi_file_to_note_sequence(str(path))
    key = lambda n: (n.program, n.is_drum, round(n.start_time, 4), n.pitch)  # noqa: E731
    a, b = sorted(ours.notes, key=key), sorted(back.notes, key=key)
    assert [(n.pitch, n.velocity, n.program, n.is_drum) for n in a] == [
        (n.pitch, n.velocity, n.program, n.is_drum) for n in b]
    np.testing.assert_allclose([n.start_time for n in a], [n.start_time for n in b], atol=2e-3)
    np.testing.assert_allclose([n.end_time for n in a], [n.end_time for n in b], atol=2e-3)
    assert [round(t.qpm, 3) for t in back.tempos] == [round(t.qpm, 3) for t in ours.tempos]
