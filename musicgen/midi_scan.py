"""Standard MIDI File bytes -> event arrays, reading exactly as mido 1.3 does.

`scan(data)` walks the file the way `mido.MidiFile` (so pretty_midi, so note_seq) reads it
and returns the events pretty_midi looks at — channel note-off / note-on / control change /
program change / pitch bend, and the track-name, tempo, time- and key-signature meta events —
as flat numpy arrays in file order, track by track. It raises `ScanError` wherever mido (or
pretty_midi before it builds its instruments) raises, so a file reads here exactly when it
reads in note_seq.

mido's rules, copied (mido/midifiles/midifiles.py `read_track`, meta.py):

* a track is read until the position is exactly `chunk start + size`; an End-of-Track event
  does not stop it, and a chunk size that no event boundary meets reads on into the next bytes
  until the file ends (an error);
* delta times and lengths are variable-length quantities of any number of bytes;
* a meta event (0xFF) does not set running status, sysex (F0 / F7) and system messages do; a
  data byte with no running status, a data byte above 127, an undefined status (F4 F5 F9 FD),
  a meta or sysex longer than 1,000,000 bytes, a sysex data byte above 127, and running status
  after a one-byte system message are errors;
* meta events that mido cannot decode are errors: sequence number of 1 byte, channel prefix of
  0 bytes, tempo < 3 bytes, SMPTE offset < 5 bytes or frame-rate code 4-7, time signature < 4
  bytes, key signature < 2 bytes or not (-7..7 sharps, mode 0/1);
* pretty_midi then rejects a file with an empty track, with no track, or with any event at
  tick >= 10,000,000 (its MAX_TICK) — checked here while scanning, so no later step ever
  allocates per tick.

The work is bounded by the file size: at most one stored event per two bytes, and a file is
rejected past `max_events` events. The loop is compiled with numba (imported on first use) and
called by `musicgen.midi_read`, which holds the whole compiled reader.
"""
from __future__ import annotations


import numba
import numpy as np

MAX_TICK = 10_000_000  # pretty_midi.MAX_TICK: a file with an event at or after it is corrupt
MAX_MESSAGE_LENGTH = 1_000_000  # mido: longest meta / sysex payload

# stored meta types (the scanner keeps these metas and drops the others)
META_TRACK_NAME, META_TEMPO, META_TIME_SIGNATURE, META_KEY_SIGNATURE = 0x03, 0x51, 0x58, 0x59


class ScanError(ValueError):
    """The bytes are not a MIDI file mido reads; the message says what and where."""


# error codes of the kernel -> message (value = the kernel's `arg`)
ERRORS = {
    1: "file ends inside track {track} (truncated, or a chunk size that no event ends on)",
    2: "undefined status byte 0x{arg:02x} in track {track}",
    3: "data byte above 127 in track {track}",
    4: "data byte with no running status in track {track}",
    5: "meta or sysex event of {arg} bytes in track {track} (mido's limit is 1,000,000)",
    6: "meta event 0x{arg:02x} in track {track} too short to decode",
    7: "invalid key signature in track {track}",
    8: "SMPTE offset with an invalid frame-rate code in track {track}",
    9: "sysex data byte above 127 in track {track}",
    10: "running status after a one-byte system message in track {track}",
    11: "an event at tick >= 10,000,000 in track {track} (pretty_midi's MAX_TICK: a corrupt "
        "delta time?)",
    12: "more than {arg} events (the per-file limit)",
    13: "track {track} is missing (the file ends before its chunk header)",
    14: "chunk {track} is not an MTrk track chunk",
    15: "track {track} has no events",
}


@numba.njit(cache=True, nogil=True)
def vlq(buf, pos):
    """(value, new position, ok); values past 2**40 saturate (any such tick is an error)."""
    n = len(buf)
    value = np.int64(0)
    while True:
        if pos >= n:
            return value, pos, False
        b = buf[pos]
        pos += 1
        if value < (np.int64(1) << 40):
            value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos, True


@numba.njit(cache=True, nogil=True)
def scan_kernel(buf, pos, num_tracks, max_events, trk, tick_out, st_out, d1_out, d2_out,
                off_out, len_out, meta_out):
    """Returns (stored, metas, events read, error code, track, arg). meta_out rows: track-0
    tempo (0x51, tick, microseconds per quarter, 0), time signature (0x58, tick, numerator,
    log2 denominator), key signature (0x59, tick, sharps, mode)."""
    n = len(buf)
    k = 0
    km = 0
    total = 0
    for t in range(num_tracks):
        if pos + 8 > n:
            return k, km, total, 13, t, 0
        if buf[pos] != 0x4D or buf[pos + 1] != 0x54 or buf[pos + 2] != 0x72 \
                or buf[pos + 3] != 0x6B:
            return k, km, total, 14, t, 0
        size = (np.int64(buf[pos + 4]) << 24) | (np.int64(buf[pos + 5]) << 16) \
            | (np.int64(buf[pos + 6]) << 8) | np.int64(buf[pos + 7])
        pos += 8
        start = pos
        tick = np.int64(0)
        last = -1
        in_track = 0
        while pos - start != size:
            delta, pos, ok = vlq(buf, pos)
            if not ok:
                return k, km, total, 1, t, 0
            tick += delta
            if tick >= 10_000_000:
                return k, km, total, 11, t, 0
            if pos >= n:
                return k, km, total, 1, t, 0
            status = np.int64(buf[pos])
            pos += 1
            peek = -1
            if status < 0x80:
                if last < 0:
                    return k, km, total, 4, t, 0
                peek = status
                status = last
            elif status != 0xFF:
                last = status
            total += 1
            in_track += 1
            if total > max_events:
                return k, km, total, 12, t, max_events
            if status == 0xFF:
                if pos >= n:
                    return k, km, total, 1, t, 0
                mtype = np.int64(buf[pos])
                pos += 1
                ln, pos, ok = vlq(buf, pos)
                if not ok:
                    return k, km, total, 1, t, 0
                if ln > 1_000_000:
                    return k, km, total, 5, t, ln
                if pos + ln > n:
                    return k, km, total, 1, t, 0
                if (mtype == 0x00 and ln == 1) or (mtype == 0x20 and ln == 0) \
                        or (mtype == 0x51 and ln < 3) or (mtype == 0x54 and ln < 5) \
                        or (mtype == 0x58 and ln < 4) or (mtype == 0x59 and ln < 2):
                    return k, km, total, 6, t, mtype
                if mtype == 0x54 and (buf[pos] >> 5) > 3:
                    return k, km, total, 8, t, 0
                if mtype == 0x59:
                    sf = np.int64(buf[pos])
                    if sf > 127:
                        sf -= 256
                    if sf < -7 or sf > 7 or buf[pos + 1] > 1:
                        return k, km, total, 7, t, 0
                if t == 0 and (mtype == 0x51 or mtype == 0x58 or mtype == 0x59):
                    meta_out[km, 0] = mtype
                    meta_out[km, 1] = tick
                    if mtype == 0x51:
                        meta_out[km, 2] = (np.int64(buf[pos]) << 16) \
                            | (np.int64(buf[pos + 1]) << 8) | np.int64(buf[pos + 2])
                        meta_out[km, 3] = 0
                    elif mtype == 0x58:
                        meta_out[km, 2] = buf[pos]
                        meta_out[km, 3] = buf[pos + 1]
                    else:
                        sf = np.int64(buf[pos])
                        meta_out[km, 2] = sf - 256 if sf > 127 else sf
                        meta_out[km, 3] = buf[pos + 1]
                    km += 1
                if mtype == 0x03:
                    trk[k] = t
                    tick_out[k] = tick
                    st_out[k] = 0xFF
                    d1_out[k] = mtype
                    d2_out[k] = 0
                    off_out[k] = pos
                    len_out[k] = ln
                    k += 1
                pos += ln
            elif status == 0xF0 or status == 0xF7:
                # mido's read_sysex; after running status the peeked byte is lost
                ln, pos, ok = vlq(buf, pos)
                if not ok:
                    return k, km, total, 1, t, 0
                if ln > 1_000_000:
                    return k, km, total, 5, t, ln
                if pos + ln > n:
                    return k, km, total, 1, t, 0
                a = pos
                b = pos + ln
                if a < b and buf[a] == 0xF0:
                    a += 1
                if a < b and buf[b - 1] == 0xF7:
                    b -= 1
                for i in range(a, b):
                    if buf[i] > 127:
                        return k, km, total, 9, t, 0
                pos += ln
            else:
                hi = status & 0xF0
                if hi == 0xC0 or hi == 0xD0 or status == 0xF1 or status == 0xF3:
                    need = 1
                elif status < 0xF0 or status == 0xF2:
                    need = 2
                elif status == 0xF6 or status == 0xF8 or status == 0xFA \
                        or status == 0xFB or status == 0xFC or status == 0xFE:
                    need = 0
                else:
                    return k, km, total, 2, t, status
                if peek >= 0 and need == 0:
                    return k, km, total, 10, t, 0
                v0 = np.int64(0)
                v1 = np.int64(0)
                got = 0
                if peek >= 0:
                    v0 = peek
                    got = 1
                while got < need:
                    if pos >= n:
                        return k, km, total, 1, t, 0
                    if got == 0:
                        v0 = np.int64(buf[pos])
                    else:
                        v1 = np.int64(buf[pos])
                    pos += 1
                    got += 1
                if v0 > 127 or v1 > 127:
                    return k, km, total, 3, t, 0
                if hi == 0x80 or hi == 0x90 or hi == 0xB0 or hi == 0xC0 or hi == 0xE0:
                    trk[k] = t
                    tick_out[k] = tick
                    st_out[k] = status
                    d1_out[k] = v0
                    d2_out[k] = v1
                    off_out[k] = 0
                    len_out[k] = 0
                    k += 1
        if in_track == 0:
            return k, km, total, 15, t, 0
    return k, km, total, 0, 0, 0


def header(data: bytes):
    """(position of the first track chunk, number of tracks, ticks per quarter) of a Standard
    MIDI File header, read as mido does; raises ScanError."""
    if data[:4] != b"MThd":
        raise ScanError("not a MIDI file (no 'MThd' header)")
    if len(data) < 8:
        raise ScanError(f"truncated MIDI header ({len(data)} bytes)")
    hsize = int.from_bytes(data[4:8], "big")
    if hsize < 6 or len(data) < 8 + 6:
        raise ScanError(f"truncated or invalid MIDI header (length {hsize})")
    fmt, num_tracks, division = (int.from_bytes(data[i:i + 2], "big", signed=True)
                                 for i in (8, 10, 12))
    if not 0 <= fmt <= 2:
        raise ScanError(f"invalid MIDI format {fmt & 0xFFFF}")
    if fmt == 2:
        raise ScanError("MIDI format 2 (asynchronous tracks) is not supported")
    if num_tracks <= 0:
        raise ScanError(f"MIDI file has {num_tracks & 0xFFFF if num_tracks else 0} tracks")
    if division < 0:
        raise ScanError(f"SMPTE time division (0x{division & 0xFFFF:04x}) is not supported")
    if division == 0:
        raise ScanError("invalid time division 0 ticks per quarter")
    return 8 + hsize, num_tracks, division


def error_message(code: int, track: int, arg: int) -> str:
    return ERRORS[code].format(track=track, arg=arg)
