"""MIDI byte mutators for fuzzing the MIDI reader (tests/test_midi_fuzz.py, bench/midi_fuzz.py).

Each mutator is a pure function ``(data: bytes, rng: random.Random) -> bytes``; ``mutate(data,
name, seed)`` applies mutator ``name`` with ``random.Random(seed)``, so a case is reproduced from
(seed file, mutator, seed). Mutators that change a track's events rewrite that chunk's length to
match (the chunk-length mutators break it on purpose). The module lives in tests/ because tests
cannot import bench/; bench/midi_fuzz.py puts tests/ on sys.path to import it.

Mutators (``MUTATORS``): bit flips; byte insert / delete / overwrite (with "interesting" bytes);
truncation at a random offset or at / inside a chunk boundary; chunk length +-1, 0, huge, the rest
of the file; header format 0..3 and 0xFFFF, track count, division (0, SMPTE 0x8000+, 0x7FFF,
0xFFFF), header length; huge delta times (0x0FFFFFFF, 5-byte VLQs) on existing or inserted events;
running status removed / inserted; inserted meta events (tempo 0, tempo of 1 us, bad lengths of
tempo / time / key signatures, invalid key or mode, time signature denominator 2**255, text with
high bytes, a 1-byte or empty sequence_number, SMPTE offset with frame-rate code 4..7, unknown
meta types, metas with huge lengths); sysex with huge or short lengths; End-of-Track inserted
mid-track; tracks duplicated, dropped, swapped; a data byte >= 0x80; ``stack`` (2..4 of the
others in a row).
"""
from __future__ import annotations

import random
import struct
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["MUTATORS", "NAMES", "mutate", "split_chunks", "join_chunks"]

INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF, 0xF0, 0xF7, 0x2F, 0x90, 0xB0, 0xC0, 0xE0]


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _read_vlq(buf: bytes, pos: int, end: int) -> Tuple[int, int]:
    value = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos
    raise ValueError("VLQ runs past the chunk")


# ---------------------------------------------------------------------------------------------
# Chunk and event structure (tolerant: mutators fall back to byte-level changes when the input
# is no well-formed SMF, e.g. inside ``stack``)
# ---------------------------------------------------------------------------------------------
def split_chunks(data: bytes) -> Optional[List[Tuple[bytes, bytes]]]:
    """[(tag, body)] of a file whose chunk lengths tile it exactly, else None."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        tag = data[pos:pos + 4]
        n = struct.unpack(">L", data[pos + 4:pos + 8])[0]
        if pos + 8 + n > len(data):
            return None
        out.append((tag, data[pos + 8:pos + 8 + n]))
        pos += 8 + n
    if pos != len(data) or not out or out[0][0] != b"MThd" or len(out[0][1]) < 6:
        return None
    return out


def join_chunks(chunks: List[Tuple[bytes, bytes]]) -> bytes:
    return b"".join(tag + struct.pack(">L", len(body)) + body for tag, body in chunks)


def _events(body: bytes) -> List[Tuple[int, int, int, bool]]:
    """(event start, status offset, status, explicit status?) of each event, up to the first
    event that cannot be decoded."""
    out, pos, running, end = [], 0, None, len(body)
    try:
        while pos < end:
            start = pos
            _, pos = _read_vlq(body, pos, end)
            if pos >= end:
                break
            spos, st = pos, body[pos]
            explicit = st >= 0x80
            if explicit:
                pos += 1
            elif running is None:
                break
            else:
                st = running
            if st == 0xFF:
                pos += 1
                n, pos = _read_vlq(body, pos, end)
                pos += n
            elif st in (0xF0, 0xF7):
                n, pos = _read_vlq(body, pos, end)
                pos += n
                running = st
            else:
                running = st
                pos += 1 if (st & 0xF0) in (0xC0, 0xD0) else 2
            if pos > end:
                break
            out.append((start, spos, st, explicit))
    except ValueError:
        pass
    return out


def _tracks(data: bytes):
    chunks = split_chunks(data)
    if chunks is None:
        return None, []
    return chunks, [i for i, (tag, _) in enumerate(chunks) if tag == b"MTrk"]


def _edit_track(data: bytes, rng: random.Random, edit) -> bytes:
    """Apply ``edit(body, events, rng) -> body or None`` to a random track; byte-level fallback."""
    chunks, idx = _tracks(data)
    order = list(idx)
    rng.shuffle(order)
    for i in order[:4]:
        body = chunks[i][1]
        new = edit(body, _events(body), rng)
        if new is not None:
            chunks[i] = (b"MTrk", new)
            return join_chunks(chunks)
    return byte_overwrite(data, rng)


def _insert_event(raw: bytes, delta: Optional[int] = None) -> Callable[..., bytes]:
    """An edit inserting (delta, raw) before a random event (delta 0 unless given)."""
    def edit(body, events, rng):
        pos = rng.choice(events)[0] if events else 0
        return body[:pos] + _vlq(delta or 0) + raw + body[pos:]
    return edit


# ---------------------------------------------------------------------------------------------
# Byte level
# ---------------------------------------------------------------------------------------------
def bit_flip(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        if buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _byte(rng):
    return rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256)


def byte_insert(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + bytes(_byte(rng) for _ in range(rng.choice([1, 1, 2, 3, 8]))) + data[i:]


def byte_delete(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.choice([1, 1, 2, 3, 16]):]


def byte_overwrite(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 2, 4])):
        if buf:
            buf[rng.randrange(len(buf))] = _byte(rng)
    return bytes(buf)


def truncate_random(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def truncate_chunk(data: bytes, rng: random.Random) -> bytes:
    chunks = split_chunks(data)
    if not chunks:
        return truncate_random(data, rng)
    offsets, pos = [], 0
    for _, body in chunks:
        offsets.append(pos)
        pos += 8 + len(body)
    at = rng.choice(offsets[1:] or offsets) + rng.choice([0, 1, 4, 7, 8, 9, -1, -2, -3])
    return data[:max(0, at)]


# ---------------------------------------------------------------------------------------------
# Container: chunk lengths, header, tracks
# ---------------------------------------------------------------------------------------------
def chunk_length(data: bytes, rng: random.Random) -> bytes:
    chunks = split_chunks(data)
    if not chunks:
        return byte_overwrite(data, rng)
    k = rng.randrange(len(chunks))
    pos = sum(8 + len(b) for _, b in chunks[:k])
    n = len(chunks[k][1])
    new = rng.choice([n + 1, max(0, n - 1), 0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000,
                      len(data) - pos - 8, n + rng.randint(2, 64), max(0, n - rng.randint(2, 64))])
    return data[:pos + 4] + struct.pack(">L", new & 0xFFFFFFFF) + data[pos + 8:]


def _header_field(data: bytes, offset: int, value: int) -> bytes:
    if len(data) < offset + 2:
        return data
    return data[:offset] + struct.pack(">H", value & 0xFFFF) + data[offset + 2:]


def header_format(data: bytes, rng: random.Random) -> bytes:
    return _header_field(data, 8, rng.choice([0, 1, 2, 3, 0xFFFF, 0x0100]))


def header_ntracks(data: bytes, rng: random.Random) -> bytes:
    n = struct.unpack(">H", data[10:12])[0] if len(data) >= 12 else 1
    return _header_field(data, 10, rng.choice([0, n - 1, n + 1, n + 2, 0xFFFF, 1]))


def header_division(data: bytes, rng: random.Random) -> bytes:
    return _header_field(data, 12, rng.choice([
        0, 1, 2, 0x7FFF, 0x8000, 0xE250, 0xE728, 0xE78C, 0xFFFF, 0xE800, 0x8001,
        rng.randrange(0x8000, 0x10000), rng.randrange(1, 0x8000)]))


def header_length(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 8:
        return data
    new = rng.choice([0, 5, 7, 8, 100, 0xFFFFFFFF])
    out = data[:4] + struct.pack(">L", new) + data[8:]
    if new > 6 and rng.random() < 0.5:  # a longer header with padding, as some writers do
        out = out[:14] + b"\x00" * min(new - 6, 64) + out[14:]
    return out


def duplicate_track(data: bytes, rng: random.Random) -> bytes:
    chunks, idx = _tracks(data)
    if not idx:
        return byte_insert(data, rng)
    i = rng.choice(idx)
    chunks.insert(rng.choice(idx) + 1, chunks[i])
    if rng.random() < 0.7:  # count it in the header (else: a trailing extra chunk)
        hdr = chunks[0][1]
        n = struct.unpack(">H", hdr[2:4])[0]
        chunks[0] = (b"MThd", hdr[:2] + struct.pack(">H", min(0xFFFF, n + 1)) + hdr[4:])
    return join_chunks(chunks)


def drop_or_swap_track(data: bytes, rng: random.Random) -> bytes:
    chunks, idx = _tracks(data)
    if len(idx) < 2:
        return duplicate_track(data, rng)
    if rng.random() < 0.5:
        a, b = rng.sample(idx, 2)
        chunks[a], chunks[b] = chunks[b], chunks[a]
    else:
        del chunks[rng.choice(idx)]
    return join_chunks(chunks)


def junk_chunk(data: bytes, rng: random.Random) -> bytes:
    chunks = split_chunks(data)
    if not chunks:
        return byte_insert(data, rng)
    tag = rng.choice([b"XFIH", b"MTrk", b"RIFF", b"\x00\x00\x00\x00", b"MThd"])
    body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 6, 20])))
    chunks.insert(rng.randrange(1, len(chunks) + 1), (tag, body))
    return join_chunks(chunks)


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------
def huge_delta(data: bytes, rng: random.Random) -> bytes:
    big = rng.choice([0x0FFFFFFF, 0x0FFFFFFF, 0x7FFFFFFF, 1 << 31, 10_000_000, 9_999_999,
                      1 << 35, rng.randrange(1 << 20, 1 << 28)])

    def edit(body, events, rng):
        if not events:
            return None
        start, spos, _, _ = rng.choice(events)
        if rng.random() < 0.5:  # replace an existing delta
            return body[:start] + _vlq(big) + body[spos:]
        return body[:start] + _vlq(big) + b"\xff\x01\x01z" + body[start:]
    return _edit_track(data, rng, edit)


def vlq_overlong(data: bytes, rng: random.Random) -> bytes:
    """A delta written with many continuation bytes (0x80 0x80 ... 0x00) or never ending."""
    def edit(body, events, rng):
        if not events:
            return None
        start, spos, _, _ = rng.choice(events)
        pad = b"\x80" * rng.choice([3, 4, 8, 40])
        if rng.random() < 0.3:
            return body[:start] + b"\xff" * rng.choice([4, 20, 200])  # runs off the chunk
        return body[:start] + pad + body[start:]
    return _edit_track(data, rng, edit)


def running_status_remove(data: bytes, rng: random.Random) -> bytes:
    def edit(body, events, rng):
        cand = [e for e in events if e[3] and e[2] < 0xF0]
        if not cand:
            return None
        _, spos, _, _ = rng.choice(cand)
        return body[:spos] + body[spos + 1:]
    return _edit_track(data, rng, edit)


def running_status_insert(data: bytes, rng: random.Random) -> bytes:
    def edit(body, events, rng):
        cand = [e for e in events if not e[3]]
        if not cand:
            cand = [e for e in events if e[2] < 0xF0]
            if not cand:
                return None
            _, spos, st, _ = rng.choice(cand)  # a different status in front of the data
            return body[:spos] + bytes([(st & 0xF0) | rng.randrange(16)]) + body[spos:]
        _, spos, st, _ = rng.choice(cand)
        return body[:spos] + bytes([st]) + body[spos:]
    return _edit_track(data, rng, edit)


def data_byte_high(data: bytes, rng: random.Random) -> bytes:
    """A channel message data byte with its top bit set (a status byte in the wrong place)."""
    def edit(body, events, rng):
        cand = [e for e in events if e[2] < 0xF0]
        if not cand:
            return None
        _, spos, _, explicit = rng.choice(cand)
        i = spos + (1 if explicit else 0)
        if i >= len(body):
            return None
        return body[:i] + bytes([body[i] | 0x80]) + body[i + 1:]
    return _edit_track(data, rng, edit)


_METAS = [
    b"\xff\x51\x03\x00\x00\x00",          # tempo 0
    b"\xff\x51\x03\x00\x00\x01",          # tempo of 1 us per quarter
    b"\xff\x51\x03\xff\xff\xff",          # slowest tempo
    b"\xff\x51\x02\x07\xa1",              # tempo, 2 data bytes
    b"\xff\x51\x00",                      # tempo, no data
    b"\xff\x51\x04\x07\xa1\x20\x00",      # tempo, 4 data bytes
    b"\xff\x58\x04\x00\x02\x18\x08",      # time signature 0/4
    b"\xff\x58\x04\x04\xff\x18\x08",      # denominator 2**255
    b"\xff\x58\x04\x04\x08\x18\x08",      # denominator 256
    b"\xff\x58\x02\x04\x02",              # time signature, 2 data bytes
    b"\xff\x58\x00",
    b"\xff\x59\x02\x08\x00",              # key signature: 8 sharps
    b"\xff\x59\x02\xf8\x01",              # -8 flats, minor
    b"\xff\x59\x02\x00\x05",              # mode 5
    b"\xff\x59\x01\x00",                  # key signature, 1 data byte
    b"\xff\x59\x00",
    b"\xff\x01\x06caf\xe9\xff\x80",       # text with high bytes
    b"\xff\x03\x05\xc0\xff\xfe\x00\x9a",  # track name with high bytes and a NUL
    b"\xff\x04\x03\xe9\xe8\xe0",          # instrument name, high bytes
    b"\xff\x05\x02\xff\xfe",              # lyrics
    b"\xff\x00\x01\x05",                  # sequence_number of 1 byte
    b"\xff\x00\x00",                      # sequence_number, empty
    b"\xff\x00\x03\x00\x01\x02",
    b"\xff\x20\x00",                      # channel prefix, empty
    b"\xff\x20\x01\x7f",                  # channel prefix 127
    b"\xff\x21\x00",                      # midi port, empty
    b"\xff\x2f\x01\x00",                  # End-of-Track with a data byte
    b"\xff\x7e\x02\x01\x02",              # unknown meta type
    b"\xff\x7f\x03\x00\x00\x41",          # sequencer specific
    b"\xff\x01\x8f\xff\xff\x7f" + b"x" * 8,  # text claiming 0x0FFFFFFF bytes
    b"\xff\x03\x81\x00" + b"N" * 128,     # 128-byte name
]


def meta_insert(data: bytes, rng: random.Random) -> bytes:
    raw = rng.choice(_METAS + [_smpte_offset(rng)] * 4)
    return _edit_track(data, rng, _insert_event(raw, rng.choice([0, 0, 1, 480])))


def _smpte_offset(rng: random.Random) -> bytes:
    code = rng.choice([4, 5, 6, 7, 0, 3])  # frame-rate codes 4..7 are invalid
    data = bytes([(code << 5) | rng.randrange(24), rng.randrange(60), rng.randrange(60),
                  rng.randrange(30), rng.randrange(100)])
    n = rng.choice([5, 5, 5, 4, 6])
    return b"\xff\x54" + bytes([n]) + (data + b"\x00")[:n]


def sysex_insert(data: bytes, rng: random.Random) -> bytes:
    raw = rng.choice([
        b"\xf0" + _vlq(0x0FFFFFFF) + b"\x7e\x7f\x09\x01\xf7",   # length past the file
        b"\xf0" + _vlq(1 << 31) + b"\x00",
        b"\xf0\x00",                                            # empty sysex
        b"\xf0\x05\x7e\x7f\x09\x01\xf7",
        b"\xf7\x03\x01\x02\x03",                                # escape
        b"\xf0\x03\x7e\x7f",                                    # length 3, 2 bytes follow
        b"\xf0\x82\x00" + bytes(range(128)) * 2,                # 256-byte payload
    ])
    return _edit_track(data, rng, _insert_event(raw))


def end_of_track_insert(data: bytes, rng: random.Random) -> bytes:
    return _edit_track(data, rng, _insert_event(b"\xff\x2f\x00", rng.choice([0, 0, 10])))


def channel_event_insert(data: bytes, rng: random.Random) -> bytes:
    ch = rng.randrange(16)
    raw = rng.choice([
        bytes([0x90 | ch, rng.randrange(128), rng.randrange(128)]),
        bytes([0x80 | ch, rng.randrange(128), rng.randrange(128)]),
        bytes([0xC0 | ch, rng.randrange(128)]),
        bytes([0xB0 | ch, 64, rng.choice([0, 127])]),
        bytes([0xE0 | ch, rng.randrange(128), rng.randrange(128)]),
        bytes([0xA0 | ch, 60, 10]), bytes([0xD0 | ch, 10]),
        bytes([0xF1, 0x10]), bytes([0xF2, 1, 2]), bytes([0xF8]), bytes([0xFE]), bytes([0xF4]),
    ])
    return _edit_track(data, rng, _insert_event(raw, rng.choice([0, 1, 100])))


MUTATORS: Dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bit_flip": bit_flip, "byte_insert": byte_insert, "byte_delete": byte_delete,
    "byte_overwrite": byte_overwrite, "truncate_random": truncate_random,
    "truncate_chunk": truncate_chunk, "chunk_length": chunk_length,
    "header_format": header_format, "header_ntracks": header_ntracks,
    "header_division": header_division, "header_length": header_length,
    "duplicate_track": duplicate_track, "drop_or_swap_track": drop_or_swap_track,
    "junk_chunk": junk_chunk, "huge_delta": huge_delta, "vlq_overlong": vlq_overlong,
    "running_status_remove": running_status_remove,
    "running_status_insert": running_status_insert, "data_byte_high": data_byte_high,
    "meta_insert": meta_insert, "sysex_insert": sysex_insert,
    "end_of_track_insert": end_of_track_insert, "channel_event_insert": channel_event_insert,
}


def stack(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.randint(2, 4)):
        data = MUTATORS[rng.choice(sorted(MUTATORS))](data, rng)
    return data


MUTATORS["stack"] = stack
NAMES = sorted(MUTATORS)


def mutate(data: bytes, name: str, seed: int) -> bytes:
    """``data`` mutated by ``MUTATORS[name]`` with ``random.Random(seed)`` (deterministic)."""
    return MUTATORS[name](bytes(data), random.Random(seed))
