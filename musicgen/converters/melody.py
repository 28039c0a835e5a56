"""One-hot monophonic melody converter (Magenta's `OneHotMelodyConverter`).

Classes per step: 0 = no event (hold / rest), 1 = note-off, 2 + (pitch - min_pitch) = note-on; with
the default piano range 21..108 that is 90 classes (+1 with `add_end_token`).

Example (cat-mel_2bar's converter):

>>> conv = OneHotMelodyConverter(valid_programs=MEL_PROGRAMS, skip_polyphony=False,
...                              max_bars=100, slice_bars=2, steps_per_quarter=4)
>>> conv.output_depth
90
"""
from __future__ import annotations

import functools

import note_seq
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from musicgen.converters.event_list import LegacyEventListOneHotConverter, extract_melodies

PIANO_MIN_MIDI_PITCH = 21
PIANO_MAX_MIDI_PITCH = 108
MEL_PROGRAMS = range(0, 32)  # piano, chromatic percussion, organ, guitar
BASS_PROGRAMS = range(32, 40)


class NoteSequenceAugmenter:
    """Random stretch / transposition of NoteSequences (Magenta's data.NoteSequenceAugmenter).

    Args:
      transpose_range: inclusive (min, max) semitones; None: no transposition. Notes pushed out
        of the MIDI range are deleted.
      stretch_range: inclusive (min, max) time-stretch factor; None: no stretch.
    Draws come from Python's `random` module, as note_seq's augment_note_sequence.
    """

    def __init__(self, transpose_range=None, stretch_range=None):
        self._transpose_range = transpose_range
        self._stretch_range = stretch_range

    def augment(self, note_sequence):
        """An augmented copy of `note_sequence` (the input is left untouched)."""
        transpose_min, transpose_max = self._transpose_range or (0, 0)
        stretch_min, stretch_max = self._stretch_range or (1.0, 1.0)
        copy = music_pb2.NoteSequence()
        copy.CopyFrom(note_sequence)
        return sequences_lib.augment_note_sequence(
            copy, stretch_min, stretch_max, transpose_min, transpose_max,
            delete_out_of_range_notes=True)


class OneHotMelodyConverter(LegacyEventListOneHotConverter):
    """Converter between NoteSequences and one-hot melody windows.

    Args:
      min_pitch, max_pitch: modelled pitch range; notes outside it are dropped.
      valid_programs: optional collection of allowed MIDI programs.
      skip_polyphony: skip polyphonic tracks; if False the highest of simultaneous onsets is kept.
      max_bars: truncate extracted melodies to this many bars before slicing.
      slice_bars: window length in bars (hop one bar); None keeps whole melodies.
      gap_bars: a melody ends after this many bars of silence; 0 / None disables.
      steps_per_quarter, quarters_per_bar: grid; other bar sizes are skipped (4/4 rule).
      add_end_token: append an end-token class.
      pad_to_total_time: pad each melody to the whole sequence.
      max_tensors_per_notesequence: cap on windows per NoteSequence (random subset in training).
      presplit_on_time_changes: split on tempo / time-signature changes first.
      chord_encoding: note_seq chord encoding to condition on (controls), or None.
      condition_on_key: condition on a 12-way key one-hot (controls).
      dedupe_event_lists: keep only unique windows.
    """

    def __init__(self, min_pitch=PIANO_MIN_MIDI_PITCH, max_pitch=PIANO_MAX_MIDI_PITCH,
                 valid_programs=None, skip_polyphony=False, max_bars=None, slice_bars=None,
                 gap_bars=1.0, steps_per_quarter=4, quarters_per_bar=4, add_end_token=False,
                 pad_to_total_time=False, max_tensors_per_notesequence=5,
                 presplit_on_time_changes=True, chord_encoding=None, condition_on_key=False,
                 dedupe_event_lists=True):
        if not min_pitch <= max_pitch:
            raise ValueError(f"min_pitch ({min_pitch}) must be <= max_pitch ({max_pitch})")
        self._min_pitch = min_pitch
        self._max_pitch = max_pitch
        self._valid_programs = valid_programs
        steps_per_bar = steps_per_quarter * quarters_per_bar
        self._melody_fn = functools.partial(note_seq.Melody, steps_per_bar=steps_per_bar,
                                            steps_per_quarter=steps_per_quarter)
        self._melody_encoding = note_seq.MelodyOneHotEncoding(min_pitch, max_pitch + 1)
        extractor = functools.partial(
            extract_melodies, min_bars=1, gap_bars=gap_bars or float("inf"),
            max_steps_truncate=steps_per_bar * max_bars if max_bars else None,
            min_unique_pitches=1, ignore_polyphonic_notes=not skip_polyphony, pad_end=True)
        super().__init__(
            self._melody_fn, extractor, self._melody_encoding, add_end_token=add_end_token,
            slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
            quarters_per_bar=quarters_per_bar, pad_to_total_time=pad_to_total_time,
            max_tensors_per_notesequence=max_tensors_per_notesequence,
            presplit_on_time_changes=presplit_on_time_changes, chord_encoding=chord_encoding,
            condition_on_key=condition_on_key, dedupe_event_lists=dedupe_event_lists)

    melody_fn = property(lambda self: self._melody_fn)
    melody_encoding = property(lambda self: self._melody_encoding)

    def _is_valid(self, note) -> bool:
        if self._valid_programs is not None and note.program not in self._valid_programs:
            return False
        return self._min_pitch <= note.pitch <= self._max_pitch

    def _to_tensors_fn(self, note_sequence):
        """Drop notes outside the programs / pitch range, then convert (input left untouched)."""
        filtered = music_pb2.NoteSequence()
        filtered.CopyFrom(note_sequence)
        del filtered.notes[:]
        filtered.notes.extend(n for n in note_sequence.notes if self._is_valid(n))
        return super()._to_tensors_fn(filtered)
