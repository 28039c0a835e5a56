"""Generated MIDI fixtures: one pure function per class of file the MIDI reader must get right.

Every function takes ``seed`` (and some a size) and returns the bytes of a Standard MIDI File,
deterministically. They are used by tests/test_midi_fixtures.py (small sizes, a few seeds:
``musicgen.midi_io`` must equal ``note_seq.midi_io.midi_to_note_sequence``, or both readers must
fail), by bench/midi_stress.py (a stress corpus of each class) and as seed inputs of the fuzzers
(tests/test_midi_fuzz.py, bench/midi_fuzz.py).

Files are built with mido (events given at absolute ticks; events of one tick keep the order
they are listed in) or, where mido cannot express it (an End-of-Track in the middle of a chunk,
running status across meta/sysex events, huge delta times), from hand-written chunk bytes.

``CLASSES`` maps each class name to ``(function, expectation)``; expectation is ``"parse"`` (note_seq
parses every seed: ours must give the same NoteSequence, note order included), ``"error"``
(note_seq fails on every seed: ours must raise ``MidiConversionError`` naming the file) or
``"limit"`` (ours must raise ``MidiConversionError`` by its own limits, while note_seq would parse
the file given the memory: note_seq/midi_io.py sets ``pretty_midi.pretty_midi.MAX_TICK = 1e10``
on import, replacing pretty_midi's 1e7, and pretty_midi then allocates a float64 array of
max-tick entries - 19 GB for a file reaching 2**31 ticks - so the reference is not run there).
``SIZE_PARAM`` names the size parameter of the classes that have one.

    pop_multitrack_overlaps      parse  several tracks; two channels + programs in one track;
                                        overlapping same-pitch notes; drums (ch 9); CCs, pitch
                                        bends; a CC before the first note then two programs on
                                        that channel (pretty_midi's straggler CC list is shared
                                        by both instruments: later CCs show in both)
    piano_unsorted_offs          parse  sustain CC64; same-tick note-offs not in pitch order
                                        (odd seeds: note-ons sorted, offs not = the case a
                                        note-only reader cannot detect); velocity-0 note-ons
    early_end_of_track           parse  FF 2F 00 in the middle of a chunk, notes after it
                                        (mido reads to the chunk's end; so does note_seq)
    corrupted_note_offs          parse  note-offs moved to another channel or pitch while an
                                        earlier note of their pitch sounds (notes left open,
                                        one later note-off closing several notes)
    beyond_2_31_ticks            limit  a note starts in range; huge delta times push its
                                        note-off past 2**31 ticks (note_seq: tick < 1e10, so
                                        it tries a 2.4e9-entry tick->time array)
    beyond_1e10_ticks            error  the same past 1e10 ticks: pretty_midi raises "MIDI file
                                        has a largest tick of ..., it is likely corrupt"
    max_tick_ok                  parse  last event at tick 9,999,999 (below the reader's limit,
                                        tick < 10,000,000; 32767 ticks per quarter keeps the
                                        duration short)
    max_tick_over                limit  the same with the last event at tick 10,000,000
                                        (note_seq parses it: 80 MB tick->time array)
    million_notes_two_channels   parse  n notes (default 1,000,000) in one track on two
                                        channels, overlapping across channels
    program_change_while_held    parse  program changes while notes are held (pretty_midi uses
                                        the program current at the note-off)
    same_tick_on_off             parse  zero-length notes (kept open by pretty_midi, closed by
                                        a later note-off), on/off/on at one tick
    tempo_map_edge               parse  two tempos at tick 0, several tempos at one later
                                        tick, a repeated tempo, key/time signature changes,
                                        signatures and tempos in a non-first track (ignored)
    running_status_mixed         parse  running status across meta events and across sysex
                                        (mido keeps a channel status over metas; after a sysex
                                        its "running status" is 0xF0: a data byte there starts
                                        another sysex)
    latin1_track_names           parse  track names with latin-1 high bytes (pretty_midi
                                        decodes latin-1), instrument names
    late_track_names             parse  a track name after the first note, two track names
                                        (pretty_midi names an instrument by the name current
                                        when its first note closes)
"""
from __future__ import annotations

import io
import random
import struct
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

import mido
from mido import Message, MetaMessage, MidiFile, MidiTrack

__all__ = ["CLASSES", "SIZE_PARAM", "make", "vlq", "raw_track", "smf"]


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def vlq(value: int) -> bytes:
    """MIDI variable-length quantity (up to 0x0FFFFFFF in 4 bytes; larger values take more)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def raw_track(events: Iterable[Tuple[int, bytes]], end_of_track: bool = True) -> bytes:
    """An MTrk chunk from (delta, raw event bytes) pairs, bytes written as given."""
    body = b"".join(vlq(d) + ev for d, ev in events)
    if end_of_track:
        body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">L", len(body)) + body


def smf(chunks: Sequence[bytes], fmt: int = 1, division: int = 480) -> bytes:
    """A Standard MIDI File from track chunks (the header counts them)."""
    return b"MThd" + struct.pack(">LHHH", 6, fmt, len(chunks), division) + b"".join(chunks)


def _track(events: Iterable[Tuple[int, mido.messages.BaseMessage]]) -> MidiTrack:
    """A mido track from (absolute tick, message); same-tick events keep their listed order."""
    track = MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):  # stable: listed order within a tick
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def _save(tracks: Sequence[MidiTrack], division: int = 480, fmt: int = 1) -> bytes:
    mid = MidiFile(type=fmt, ticks_per_beat=division)
    mid.tracks.extend(tracks)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def _on(ch, pitch, vel=80):
    return Message("note_on", channel=ch, note=pitch, velocity=vel)


def _off(ch, pitch, vel=0, note_off=True):
    if note_off:
        return Message("note_off", channel=ch, note=pitch, velocity=vel)
    return Message("note_on", channel=ch, note=pitch, velocity=0)


def _conductor(rng: random.Random, length: int, name: str = "conductor") -> MidiTrack:
    ev = [(0, MetaMessage("track_name", name=name)),
          (0, MetaMessage("set_tempo", tempo=rng.choice([400000, 500000, 600000]))),
          (0, MetaMessage("time_signature", numerator=4, denominator=4)),
          (0, MetaMessage("key_signature", key=rng.choice(["C", "G", "Eb", "F#m", "Bbm"])))]
    if length > 1920:
        ev.append((length // 2, MetaMessage("set_tempo", tempo=rng.randint(300000, 900000))))
    return _track(ev)


# ---------------------------------------------------------------------------------------------
# Classes
# ---------------------------------------------------------------------------------------------
def pop_multitrack_overlaps(seed: int = 0, bars: int = 8) -> bytes:
    rng = random.Random(seed)
    bar = 1920
    length = bars * bar
    tracks = [_conductor(rng, length)]
    # Track 1: bass (ch 0) and keys (ch 1) in one track, programs changing between phrases,
    # overlapping same-pitch notes (a re-attack before the previous note-off).
    ev = [(0, MetaMessage("track_name", name="band")),
          (0, Message("program_change", channel=0, program=33)),
          (0, Message("program_change", channel=1, program=rng.choice([0, 4, 5])))]
    for b in range(bars):
        t0 = b * bar
        if b == bars // 2:
            ev.append((t0, Message("program_change", channel=1, program=rng.choice([48, 49]))))
        for k in range(4):
            p = rng.choice([36, 38, 40, 43])
            t = t0 + k * 480
            ev += [(t, _on(0, p, rng.randint(60, 110))), (t + rng.choice([240, 470]), _off(0, p))]
        for k in range(rng.randint(2, 6)):
            p = rng.randint(55, 79)
            t = t0 + rng.randrange(0, bar, 120)
            d = rng.choice([120, 480, 960])
            ev += [(t, _on(1, p, rng.randint(40, 100))), (t + d, _off(1, p))]
            if rng.random() < 0.5:  # same pitch again while the first still sounds
                t2 = t + rng.choice([60, 120, d // 2])
                ev += [(t2, _on(1, p, rng.randint(40, 100))),
                       (t2 + rng.choice([60, d, 2 * d]), _off(1, p, note_off=rng.random() < 0.5))]
        ev.append((t0 + rng.randrange(0, bar), Message("control_change", channel=1, control=7,
                                                       value=rng.randint(0, 127))))
        ev.append((t0 + rng.randrange(0, bar), Message("pitchwheel", channel=0,
                                                       pitch=rng.randint(-8192, 8191))))
    tracks.append(_track(ev))
    # Track 2: drums on channel 9 (flams: same pitch twice within a few ticks), CCs.
    ev = [(0, MetaMessage("track_name", name="drums")),
          (0, Message("control_change", channel=9, control=10, value=64))]
    for b in range(bars):
        for k in range(8):
            t = b * bar + k * 240
            for p in ([36] if k % 4 == 0 else []) + ([38] if k % 4 == 2 else []) + [42]:
                ev += [(t, _on(9, p, rng.randint(30, 127))), (t + rng.choice([10, 60]), _off(9, p))]
            if rng.random() < 0.2:
                ev += [(t + 5, _on(9, 38, 50)), (t + 30, _off(9, 38))]
    tracks.append(_track(ev))
    # Track 3: a CC before the first note on channel 2, then program A, notes, program B,
    # notes, more CCs: pretty_midi gives both instruments the straggler's (shared) CC list.
    ev = [(0, Message("control_change", channel=2, control=7, value=100)),
          (0, Message("pitchwheel", channel=2, pitch=rng.randint(-2000, 2000))),
          (10, Message("program_change", channel=2, program=rng.randint(0, 40)))]
    half = length // 2
    for t in range(480, half, 480):
        p = rng.randint(60, 72)
        ev += [(t, _on(2, p)), (t + 240, _off(2, p))]
        if rng.random() < 0.3:
            ev.append((t + 100, Message("control_change", channel=2, control=1,
                                        value=rng.randint(0, 127))))
    ev.append((half, Message("program_change", channel=2, program=rng.randint(41, 90))))
    for t in range(half + 240, length, 480):
        p = rng.randint(60, 72)
        ev += [(t, _on(2, p)), (t + 240, _off(2, p))]
        if rng.random() < 0.3:
            ev.append((t + 100, Message("control_change", channel=2, control=11,
                                        value=rng.randint(0, 127))))
    tracks.append(_track(ev))
    return _save(tracks)


def piano_unsorted_offs(seed: int = 0, chords: int = 64) -> bytes:
    """Odd seeds: same-tick note-ons in pitch order, note-offs not (undetectable from notes);
    even seeds: neither sorted."""
    rng = random.Random(seed)
    sorted_onsets = seed % 2 == 1
    ev = [(0, MetaMessage("set_tempo", tempo=500000)),
          (0, MetaMessage("track_name", name="Piano"))]
    t = 0
    for _ in range(chords):
        pitches = rng.sample(range(30, 100), rng.randint(2, 6))
        ons = sorted(pitches) if sorted_onsets else pitches
        for p in ons:
            ev.append((t, _on(0, p, rng.randint(20, 110))))
        dur = rng.choice([120, 240, 480])
        offs = list(pitches)
        rng.shuffle(offs)
        if sorted(offs) == offs and len(offs) > 1:
            offs.reverse()
        for p in offs:
            ev.append((t + dur, _off(0, p, note_off=rng.random() < 0.5)))
        if rng.random() < 0.3:
            ev.append((t + rng.randint(0, dur), Message("control_change", channel=0, control=64,
                                                        value=127)))
            ev.append((t + dur + rng.randint(0, 200), Message("control_change", channel=0,
                                                              control=64, value=0)))
        t += dur + rng.choice([0, 0, 60, 240])
    return _save([_track(ev)], fmt=0, division=rng.choice([384, 480, 960]))


def early_end_of_track(seed: int = 0, notes: int = 16) -> bytes:
    """Hand-written: FF 2F 00 after a few notes, more notes after it in the same chunk."""
    rng = random.Random(seed)
    meta = raw_track([(0, b"\xff\x51\x03" + (500000).to_bytes(3, "big")),
                      (0, b"\xff\x58\x04\x04\x02\x18\x08")])

    def notes_ev(n, ch):
        out = []
        for _ in range(n):
            p = rng.randint(40, 90)
            out += [(rng.choice([0, 60, 120]), bytes([0x90 | ch, p, rng.randint(1, 127)])),
                    (rng.choice([60, 240]), bytes([0x80 | ch, p, 0]))]
        return out
    body = notes_ev(notes // 2, 0) + [(0, b"\xff\x2f\x00")] + notes_ev(notes - notes // 2, 0)
    if seed % 2:  # a second End-of-Track right after the first one, then a CC
        body += [(10, b"\xff\x2f\x00"), (0, b"\xb0\x07\x50")] + notes_ev(2, 0)
    tracks = [meta, raw_track(body)]
    if seed % 3 == 0:  # a track that is only an early End-of-Track plus trailing notes
        tracks.append(raw_track([(0, b"\xff\x2f\x00")] + notes_ev(3, 1)))
    return smf(tracks)


def corrupted_note_offs(seed: int = 0, notes: int = 200) -> bytes:
    """Overlapping same-pitch notes whose note-offs are partly moved to another channel or
    pitch: notes stay open until a later note-off of their pitch closes them all."""
    rng = random.Random(seed)
    ev = [(0, MetaMessage("set_tempo", tempo=rng.randint(300000, 700000)))]
    pitches = [rng.randint(50, 70) for _ in range(4)]
    t = 0
    for _ in range(notes):
        p = rng.choice(pitches)
        ch = rng.choice([0, 0, 1])
        dur = rng.choice([30, 120, 480, 960])
        ev.append((t, _on(ch, p, rng.randint(1, 127))))
        r = rng.random()
        if r < 0.2:
            off = _off((ch + rng.randint(1, 15)) % 16, p)  # another channel
        elif r < 0.4:
            off = _off(ch, min(127, p + rng.choice([-1, 1, 12])))  # another pitch
        elif r < 0.45:
            off = None  # lost note-off
        else:
            off = _off(ch, p, note_off=rng.random() < 0.5)
        if off is not None:
            ev.append((t + dur, off))
        t += rng.choice([0, 20, 60, 120, 240])
    for ch in (0, 1):  # final note-offs close what is still open, for some seeds only
        if (seed + ch) % 2:
            for p in pitches:
                ev.append((t + 2000, _off(ch, p)))
    return _save([_track(ev)], fmt=0)


HUGE_DELTA = 0x0FFFFFFF  # largest 4-byte VLQ


def beyond_2_31_ticks(seed: int = 0) -> bytes:
    """A note starts at a small tick; 9 text events with delta 0x0FFFFFFF each, then its note-off
    (past 2**31 ticks; with odd seeds through one 5-byte VLQ delta instead)."""
    rng = random.Random(seed)
    p = rng.randint(40, 80)
    body = [(0, b"\xff\x51\x03\x07\xa1\x20"), (rng.randint(0, 1000), bytes([0x90, p, 100]))]
    if seed % 2:
        body.append(((1 << 31) + rng.randint(0, 1 << 20), bytes([0x80, p, 0])))
    else:
        body += [(HUGE_DELTA, b"\xff\x01\x01x")] * 9 + [(rng.randint(0, 100), bytes([0x80, p, 0]))]
    return smf([raw_track(body)], fmt=0)


def beyond_1e10_ticks(seed: int = 0) -> bytes:
    """A note starting in range whose note-off delta (one 6-byte VLQ) lands past 1e10 ticks."""
    rng = random.Random(seed)
    p = rng.randint(40, 80)
    body = [(0, b"\xff\x51\x03\x07\xa1\x20"), (rng.randint(0, 1000), bytes([0x90, p, 100])),
            (10_000_000_000 + rng.randint(0, 1 << 30), bytes([0x80, p, 0]))]
    return smf([raw_track(body)], fmt=0)


def _max_tick(seed: int, last: int) -> bytes:
    rng = random.Random(seed)
    p = rng.randint(40, 80)
    start = last - rng.randint(1, 5000)
    body = [(0, b"\xff\x51\x03" + (250000).to_bytes(3, "big")),
            (0, bytes([0x90, 60, 90])), (100, bytes([0x80, 60, 0])),
            (start - 100, bytes([0x90, p, 90])), (last - start, bytes([0x80, p, 0]))]
    return smf([raw_track(body)], fmt=0, division=32767)


def max_tick_ok(seed: int = 0) -> bytes:
    return _max_tick(seed, 9_999_999)


def max_tick_over(seed: int = 0) -> bytes:
    return _max_tick(seed, 10_000_000)


def million_notes_two_channels(seed: int = 0, n: int = 1_000_000) -> bytes:
    """n notes in one track, alternating channels 0 and 1 (programs 0 and 40), one tick apart,
    each 1..4 ticks long; written with running status (hand-written for speed)."""
    rng = random.Random(seed)
    pit = [rng.randint(21, 108) for _ in range(256)]
    lens = [rng.randint(1, 4) for _ in range(256)]
    events: List[Tuple[int, int, bytes]] = []  # (tick, order, bytes)
    for i in range(n):
        ch = i & 1
        p = pit[(i * 7 + (i >> 8)) & 255]
        t = i
        events.append((t, 2 * i + 1, bytes([0x90 | ch, p, 64 + (i & 63)])))
        events.append((t + lens[(i >> 1) & 255], 2 * i, bytes([0x80 | ch, p, 0])))
    events.sort()
    body = bytearray(b"\x00\xff\x51\x03\x03\xd0\x90"  # 250 000 us per quarter
                     b"\x00\xc0\x00\x00\xc1\x28")
    now = 0
    for t, _, ev in events:
        body += vlq(t - now)
        body += ev
        now = t
    body += b"\x00\xff\x2f\x00"
    return smf([b"MTrk" + struct.pack(">L", len(body)) + bytes(body)], fmt=0, division=960)


def program_change_while_held(seed: int = 0, notes: int = 40) -> bytes:
    rng = random.Random(seed)
    ev = [(0, Message("program_change", channel=0, program=0))]
    t = 0
    for _ in range(notes):
        p = rng.randint(40, 90)
        ch = rng.choice([0, 0, 3])
        dur = rng.choice([240, 480])
        ev += [(t, _on(ch, p)), (t + dur, _off(ch, p))]
        if rng.random() < 0.4:  # change while held
            ev.append((t + rng.randint(1, dur - 1),
                       Message("program_change", channel=ch, program=rng.randint(0, 127))))
        if rng.random() < 0.1:  # change at the note-off tick, before the note-off
            ev.insert(len(ev) - 1, (t + dur, Message("program_change", channel=ch,
                                                     program=rng.randint(0, 127))))
        t += rng.choice([120, 240, 480])
    return _save([_track([(0, MetaMessage("set_tempo", tempo=500000))]), _track(ev)])


def same_tick_on_off(seed: int = 0, groups: int = 40) -> bytes:
    rng = random.Random(seed)
    ev = []
    t = 0
    for _ in range(groups):
        p = rng.randint(40, 90)
        kind = rng.randrange(5)
        if kind == 0:  # zero-length note, then a real one: the later off closes both
            ev += [(t, _on(0, p)), (t, _off(0, p)), (t + 100, _on(0, p)), (t + 200, _off(0, p))]
        elif kind == 1:  # on / off / on at one tick, one off later
            ev += [(t, _on(0, p)), (t, _off(0, p)), (t, _on(0, p, 90)), (t + 120, _off(0, p))]
        elif kind == 2:  # off then on at one tick (legato re-attack)
            ev += [(t, _on(0, p)), (t + 120, _off(0, p)), (t + 120, _on(0, p, 70)),
                   (t + 240, _off(0, p, note_off=False))]
        elif kind == 3:  # zero-length note never closed
            ev += [(t, _on(0, p)), (t, _off(0, p, note_off=False))]
        else:  # on at the tick of an off of another note of that pitch on another channel
            ev += [(t, _on(1, p)), (t + 60, _off(0, p)), (t + 60, _on(0, p)), (t + 90, _off(1, p)),
                   (t + 180, _off(0, p))]
        t += rng.choice([0, 120, 240])
    return _save([_track(ev)], fmt=0)


def tempo_map_edge(seed: int = 0) -> bytes:
    rng = random.Random(seed)
    ev = [(0, MetaMessage("set_tempo", tempo=600000)),
          (0, MetaMessage("set_tempo", tempo=rng.choice([400000, 500000]))),  # replaces it
          (0, MetaMessage("time_signature", numerator=3, denominator=4)),
          (0, MetaMessage("time_signature", numerator=6, denominator=8)),
          (0, MetaMessage("key_signature", key="D")),
          (960, MetaMessage("set_tempo", tempo=450000)),
          (960, MetaMessage("set_tempo", tempo=350000)),
          (960, MetaMessage("set_tempo", tempo=rng.randint(200000, 900000))),
          (1920, MetaMessage("set_tempo", tempo=rng.randint(200000, 900000))),
          (2400, MetaMessage("key_signature", key="Bbm")),
          (2400, MetaMessage("key_signature", key="A")),
          (2880, MetaMessage("time_signature", numerator=7, denominator=16)),
          (3000, MetaMessage("set_tempo", tempo=1)),  # 60 000 000 qpm
          (3001, MetaMessage("set_tempo", tempo=0xFFFFFF))]
    t0_tempo = ev[1][1].tempo
    ev.append((3500, MetaMessage("set_tempo", tempo=t0_tempo)))
    ev.append((3600, MetaMessage("set_tempo", tempo=t0_tempo)))  # equal to the previous one
    notes = []
    for t in range(0, 4800, 120):
        p = rng.randint(50, 80)
        notes += [(t, _on(0, p)), (t + rng.choice([60, 119, 120, 500]), _off(0, p))]
    # signatures and a tempo in a non-first track: pretty_midi ignores them (warning only)
    notes += [(480, MetaMessage("time_signature", numerator=5, denominator=4)),
              (500, MetaMessage("set_tempo", tempo=250000)),
              (700, MetaMessage("key_signature", key="F#"))]
    return _save([_track(ev), _track(notes)])


def running_status_mixed(seed: int = 0, notes: int = 50) -> bytes:
    """Hand-written: channel messages in running status, interrupted by meta events (mido
    keeps the running status over them) and sysex (after which mido's running status is 0xF0:
    odd seeds put a data byte there, which mido reads as the start of another sysex)."""
    rng = random.Random(seed)
    body = [(0, b"\xff\x51\x03\x07\xa1\x20"), (0, b"\xc0\x05")]
    status_written = False
    for i in range(notes):
        p = rng.randint(40, 90)
        on = bytes([p, rng.randint(1, 127)])
        body.append((rng.choice([0, 30, 120]), (b"" if status_written else b"\x90") + on))
        status_written = True
        r = rng.random()
        if r < 0.2:
            body.append((0, b"\xff\x01\x04" + b"text"))  # meta: running status survives
        elif r < 0.3:
            body.append((0, b"\xff\x06\x01M"))
        body.append((rng.choice([60, 120]), bytes([p, 0])))  # running-status note-on vel 0
        if rng.random() < 0.1:
            body.append((0, b"\xf0\x04\x7e\x7f\x09\xf7"))  # sysex: running status now 0xF0
            if seed % 2:
                # a data byte: mido reads it as status (0xF0) and a sysex length + data follow
                body.append((0, b"\x05\x02\x01\x02"))
            body.append((0, b"\x90" + bytes([p, 0])))  # explicit status again
        if rng.random() < 0.1:
            body.append((5, b"\xb0\x40\x7f"))  # CC with its own status; then note-ons again
            body.append((5, b"\x90" + bytes([p, 0])))
    return smf([raw_track(body)], fmt=0, division=240)


_LATIN1 = ["Café", "Señor Bajo", "Übung", "Flûte à bec", "Ærø", "Ça va ¿?", "naïve ½"]


def latin1_track_names(seed: int = 0) -> bytes:
    rng = random.Random(seed)
    tracks = [_track([(0, MetaMessage("track_name", name=rng.choice(_LATIN1))),
                      (0, MetaMessage("set_tempo", tempo=500000))])]
    for k in range(rng.randint(2, 4)):
        name = rng.choice(_LATIN1) + (" \xa0\xff" if k == 1 else "")
        ev = [(0, MetaMessage("track_name", name=name)),
              (0, MetaMessage("instrument_name", name=rng.choice(_LATIN1)))]
        for t in range(0, 1920, 240):
            p = rng.randint(40, 90)
            ev += [(t, _on(k, p)), (t + 200, _off(k, p))]
        tracks.append(_track(ev))
    return _save(tracks)


def late_track_names(seed: int = 0) -> bytes:
    rng = random.Random(seed)
    tracks = [_track([(0, MetaMessage("set_tempo", tempo=500000))])]
    for k in range(3):
        ev = []
        if k != 1:
            ev.append((0, MetaMessage("track_name", name=f"first{k}")))
        for t in range(0, 1920, 240):
            p = rng.randint(40, 90)
            ev += [(t, _on(k, p)), (t + 200, _off(k, p))]
        if k == 0:  # a second name before the first note's off
            ev.append((100, MetaMessage("track_name", name="renamed0")))
        elif k == 1:  # the only name comes after the first note
            ev.append((rng.choice([300, 960]), MetaMessage("track_name", name="late1")))
        else:  # a name, notes, then another name, then a second channel's first note
            ev.append((1000, MetaMessage("track_name", name="second2")))
            ev += [(1100, _on(5, 60)), (1300, _off(5, 60))]
        tracks.append(_track(ev))
    return _save(tracks)


CLASSES: Dict[str, Tuple[Callable[..., bytes], str]] = {
    "pop_multitrack_overlaps": (pop_multitrack_overlaps, "parse"),
    "piano_unsorted_offs": (piano_unsorted_offs, "parse"),
    "early_end_of_track": (early_end_of_track, "parse"),
    "corrupted_note_offs": (corrupted_note_offs, "parse"),
    "beyond_2_31_ticks": (beyond_2_31_ticks, "limit"),
    "beyond_1e10_ticks": (beyond_1e10_ticks, "error"),
    "max_tick_ok": (max_tick_ok, "parse"),
    "max_tick_over": (max_tick_over, "limit"),
    "million_notes_two_channels": (million_notes_two_channels, "parse"),
    "program_change_while_held": (program_change_while_held, "parse"),
    "same_tick_on_off": (same_tick_on_off, "parse"),
    "tempo_map_edge": (tempo_map_edge, "parse"),
    "running_status_mixed": (running_status_mixed, "parse"),
    "latin1_track_names": (latin1_track_names, "parse"),
    "late_track_names": (late_track_names, "parse"),
}

# size parameter of the classes that have one (the stress corpus / tests scale it)
SIZE_PARAM = {"pop_multitrack_overlaps": "bars", "piano_unsorted_offs": "chords",
              "early_end_of_track": "notes", "corrupted_note_offs": "notes",
              "million_notes_two_channels": "n", "program_change_while_held": "notes",
              "same_tick_on_off": "groups", "running_status_mixed": "notes"}


def make(name: str, seed: int = 0, size: int | None = None) -> bytes:
    """Bytes of fixture class `name` for `seed` (and its size parameter, when given)."""
    fn, _ = CLASSES[name]
    if size is None:
        return fn(seed)
    return fn(seed, **{SIZE_PARAM[name]: size})
