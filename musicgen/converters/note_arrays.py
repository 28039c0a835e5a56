"""NoteSequence notes as numpy columns, and back.

`NoteArrays` holds one array per note field that the token encoders read (times, pitch,
velocity, instrument, program, is_drum), in the NoteSequence's note order. Reading a sequence
touches each note once (one list comprehension per field, the cheapest way through the upb
protobuf API); everything after that is array code.

>>> from note_seq.protobuf import music_pb2
>>> ns = music_pb2.NoteSequence()
>>> _ = ns.notes.add(pitch=60, velocity=80, start_time=0.0, end_time=0.5)
>>> NoteArrays.from_sequence(ns).pitch.tolist()
[60]
"""
from __future__ import annotations

import dataclasses

import numpy as np
from note_seq.protobuf import music_pb2


@dataclasses.dataclass(frozen=True)
class NoteArrays:
    """Columns of a note list (all of one length)."""

    start: np.ndarray       # float64 seconds
    end: np.ndarray         # float64 seconds
    pitch: np.ndarray       # int64
    velocity: np.ndarray    # int64
    instrument: np.ndarray  # int64
    program: np.ndarray     # int64
    is_drum: np.ndarray     # bool

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def from_notes(cls, notes) -> "NoteArrays":
        """Columns of an iterable of NoteSequence.Note."""
        notes = list(notes)
        return cls(start=np.array([n.start_time for n in notes], np.float64),
                   end=np.array([n.end_time for n in notes], np.float64),
                   pitch=np.array([n.pitch for n in notes], np.int64),
                   velocity=np.array([n.velocity for n in notes], np.int64),
                   instrument=np.array([n.instrument for n in notes], np.int64),
                   program=np.array([n.program for n in notes], np.int64),
                   is_drum=np.array([n.is_drum for n in notes], np.bool_))

    @classmethod
    def from_sequence(cls, note_sequence: music_pb2.NoteSequence) -> "NoteArrays":
        return cls.from_notes(note_sequence.notes)

    def take(self, index) -> "NoteArrays":
        """The notes at `index` (an int array or a boolean mask), in that order."""
        return NoteArrays(**{f.name: getattr(self, f.name)[index]
                             for f in dataclasses.fields(self)})

    def replace(self, **columns) -> "NoteArrays":
        return dataclasses.replace(self, **columns)


def control_arrays(note_sequence: music_pb2.NoteSequence, control_number: int):
    """(time float64, value int64, instrument int64) of the control changes numbered
    `control_number`, in the sequence's order."""
    ccs = [c for c in note_sequence.control_changes if c.control_number == control_number]
    return (np.array([c.time for c in ccs], np.float64),
            np.array([c.control_value for c in ccs], np.int64),
            np.array([c.instrument for c in ccs], np.int64))


def add_notes(note_sequence: music_pb2.NoteSequence, pitch, velocity, start, end,
              instrument=0, program=0, is_drum=False) -> None:
    """Append notes given as columns (scalars broadcast) to `note_sequence`."""
    n = len(pitch)
    cols = [np.broadcast_to(np.asarray(c), (n,)).tolist()
            for c in (pitch, velocity, start, end, instrument, program, is_drum)]
    note_cls = music_pb2.NoteSequence.Note
    note_sequence.notes.extend(
        note_cls(pitch=p, velocity=v, start_time=s, end_time=e, instrument=i, program=g,
                 is_drum=d)
        for p, v, s, e, i, g, d in zip(*cols))
