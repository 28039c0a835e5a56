"""pretty_midi's note pairing and instrument assignment over scanned MIDI events.

The kernel turns the event arrays of `musicgen.midi_scan` into pretty_midi's instruments
exactly as `pretty_midi.PrettyMIDI._load_instruments` builds them (so as note_seq lists them):

* per track, a note-on with velocity > 0 opens a note on (channel, pitch); a note-off or a
  velocity-0 note-on closes every open note of its (channel, pitch) that started at an earlier
  tick, in note-on order; notes that started on this tick stay open if something was closed,
  else they are dropped (a zero-length note); an off with nothing open is ignored; notes still
  open at the end of the track are dropped;
* a closed note belongs to the instrument (program in effect on its channel *at the note-off*,
  channel, track), created when its first note closes; instruments are numbered in creation
  order and list their notes in closing order (note_seq's order);
* a control change or pitch bend goes to the instrument of (current program, channel, track)
  when it exists, else to a "straggler" of (channel, track); every instrument created on that
  (channel, track) after the straggler appeared shares the straggler's control-change and
  pitch-bend lists (pretty_midi assigns the same list objects), so note_seq repeats those
  events under each of them; events of a straggler no instrument takes are dropped;
* the instrument's name is the last track name seen in its track before it was created.

The dropped notes are counted (DROPPED_NOTES; `musicgen.midi_wire` counts the dropped and
repeated control changes, DROPPED_EVENTS), so the reader can report them per file. The per-event loop is
compiled with numba (imported on first use); ordering and times are `musicgen.midi_wire`'s.
"""
from __future__ import annotations


import numba
import numpy as np



@numba.njit(cache=True, nogil=True)
def pair_kernel(track, tick, status, d1, d2, num_tracks, notes, insts, ccs, bends, counts):
    """notes[k] = (inst, pitch, velocity, start, end); insts[i] = (program, channel,
    list id, name event); ccs/bends[k] = (list id, tick, a, b). counts: [unclosed,
    zero-length dropped, note-offs with nothing open]. Returns (notes, insts, ccs, bends,
    lists)."""
    n = len(track)
    nxt = np.full(n, -1, np.int64)        # open note-ons of one key, linked in on order
    head = np.full(2048, -1, np.int64)
    tail = np.full(2048, -1, np.int64)
    inst_of = np.full(2048, -1, np.int64)  # (channel, program) -> instrument, this track
    straggler = np.full(16, -1, np.int64)  # channel -> straggler list id, this track
    prog = np.zeros(16, np.int64)
    kn = 0
    ki = 0
    kc = 0
    kb = 0
    lists = 0
    name_event = -1
    cur = -1
    for i in range(n):
        if track[i] != cur:
            if cur >= 0:
                for key in range(2048):
                    j = head[key]
                    while j >= 0:
                        counts[0] += 1
                        j = nxt[j]
            head[:] = -1
            tail[:] = -1
            inst_of[:] = -1
            straggler[:] = -1
            prog[:] = 0
            name_event = -1
            cur = track[i]
        s = np.int64(status[i])
        if s == 0xFF:
            if d1[i] == 0x03:
                name_event = i
            continue
        hi = s & 0xF0
        ch = s & 15
        if hi == 0xC0:
            prog[ch] = d1[i]
        elif hi == 0x90 and d2[i] > 0:
            key = ch * 128 + np.int64(d1[i])
            if head[key] < 0:
                head[key] = i
            else:
                nxt[tail[key]] = i
            tail[key] = i
        elif hi == 0x80 or hi == 0x90:
            key = ch * 128 + np.int64(d1[i])
            j = head[key]
            if j < 0:
                counts[2] += 1
                continue
            t = tick[i]
            closed = 0
            while j >= 0 and tick[j] != t:
                slot = ch * 128 + prog[ch]
                inst = inst_of[slot]
                if inst < 0:
                    inst = ki
                    inst_of[slot] = inst
                    insts[ki, 0] = prog[ch]
                    insts[ki, 1] = ch
                    if straggler[ch] >= 0:
                        insts[ki, 2] = straggler[ch]
                    else:
                        insts[ki, 2] = lists
                        lists += 1
                    insts[ki, 3] = name_event
                    ki += 1
                notes[kn, 0] = inst
                notes[kn, 1] = d1[i]
                notes[kn, 2] = d2[j]
                notes[kn, 3] = tick[j]
                notes[kn, 4] = t
                kn += 1
                closed += 1
                j = nxt[j]
            if closed > 0 and j >= 0:
                head[key] = j  # the rest started on this tick: kept open
            else:
                while j >= 0:  # nothing closed: the same-tick notes are dropped
                    counts[1] += 1
                    j = nxt[j]
                head[key] = -1
                tail[key] = -1
        else:  # control change (0xB0) or pitch bend (0xE0)
            inst = inst_of[ch * 128 + prog[ch]]
            if inst >= 0:
                lst = insts[inst, 2]
            elif straggler[ch] >= 0:
                lst = straggler[ch]
            else:
                lst = lists
                lists += 1
                straggler[ch] = lst
            if hi == 0xB0:
                ccs[kc, 0] = lst
                ccs[kc, 1] = tick[i]
                ccs[kc, 2] = d1[i]
                ccs[kc, 3] = d2[i]
                kc += 1
            else:
                bends[kb, 0] = lst
                bends[kb, 1] = tick[i]
                bends[kb, 2] = (np.int64(d2[i]) << 7 | np.int64(d1[i])) - 8192
                kb += 1
    if cur >= 0:
        for key in range(2048):
            j = head[key]
            while j >= 0:
                counts[0] += 1
                j = nxt[j]
    return kn, ki, kc, kb, lists


DROPPED_NOTES = (
    "notes never closed (open at the end of their track)",
    "zero-length notes (note-on and note-off on one tick, nothing else open)",
    "note-offs with no open note",
)
DROPPED_EVENTS = (
    "control changes / pitch bends on a channel whose track has no notes for them",
    "control changes / pitch bends repeated under instruments sharing pretty_midi's "
    "straggler list",
)
