"""Performance event converter (Performance RNN / Music Transformer encoding).

A NoteSequence becomes note_seq's performance event stream (`performance_lib.Performance` on
the sequence quantized at `steps_per_second`), indexed as
`performance_encoder_decoder.PerformanceOneHotEncoding` indexes it; the events and ids are
computed on note arrays (`performance_codec`, `sustain`), equal to note_seq's:

    index                       event (defaults: full MIDI range, 100 shifts, 32 bins)
    0 .. P-1                    NOTE_ON   pitch min_pitch + i
    P .. 2P-1                   NOTE_OFF  pitch min_pitch + i
    2P .. 2P+S-1                TIME_SHIFT of 1..S steps (10 ms each at 100 steps/s)
    2P+S .. 2P+S+V-1            VELOCITY  bin 1..V (applies to the following NOTE_ONs)
    2P+S+V                      END (only with add_end_token=True)

P = max_pitch - min_pitch + 1. Full range: 128+128+100+32 = 388 classes; the 88-key
piano range used by Music Transformer (min_pitch=21, max_pitch=108): 88+88+100+32 = 308.

Before encoding, sustain pedal (CC64) is turned into longer notes
(`sequences_lib.apply_sustain_control_changes`), drum notes and notes outside
[min_pitch, max_pitch] are dropped (as score2perf's `filter_invalid_notes`). In 'train'
mode the sequence is then time-stretched by one of 0.95/0.975/1/1.025/1.05 and
transposed by -3..+3 semitones (score2perf's augmentation grid), drawn with the
converter's seeded generator.

Tensors: this is a language-model representation, so `inputs` and `outputs` are the
SAME one-hot event sequence (T, depth); the model does the one-step shift (teacher
forcing / causal attention). `lengths` is the number of events in each window.
With `max_events`, the event list is cut into windows of `max_events` events (every
`window_hop` events; `truncate=True` keeps only the first), the same event-level crops
Music Transformer trains on: a window may start with NOTE_OFFs of notes begun earlier
(ignored when decoding) and notes still sounding at its end are closed there.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from note_seq import performance_encoder_decoder, performance_lib
from note_seq.protobuf import music_pb2

from musicgen.converters import token_utils
from musicgen.converters.note_arrays import NoteArrays
from musicgen.converters.performance_codec import (PerformanceLayout, decode_performance,
                                                   encode_performance)

PIANO_MIN_PITCH = 21
PIANO_MAX_PITCH = 108


class PerformanceConverter(token_utils.TokenLMConverter):
    """NoteSequence <-> one-hot performance events (note-on/off, time shift, velocity).

    Args:
      steps_per_second: quantization rate; one TIME_SHIFT step is 1/steps_per_second s.
      num_velocity_bins: velocity bins (0 = no VELOCITY events).
      max_shift_steps: largest single TIME_SHIFT (default 100 steps = 1 s).
      min_pitch / max_pitch: encoded pitch range (21/108 for the 88-key variant).
      max_events: window length in events, or None for one tensor per sequence.
      window_hop: events between window starts (default max_events: no overlap).
      min_events: windows shorter than this are dropped.
      truncate: keep only the first `max_events` events instead of windowing.
      add_end_token: append an END class after the last event of the sequence.
      apply_sustain: extend notes held by the sustain pedal before encoding.
      stretch_factors / transpose_amounts: train-mode augmentation choices
        (empty / (0,) disables).
      max_tensors_per_notesequence: cap on windows per sequence (random subset in train).
      max_note_duration: when decoding, cap note length in seconds (None = no cap).
    """

    def __init__(self, steps_per_second: int = 100, num_velocity_bins: int = 32,
                 max_shift_steps: int = performance_lib.DEFAULT_MAX_SHIFT_STEPS,
                 min_pitch: int = performance_lib.MIN_MIDI_PITCH,
                 max_pitch: int = performance_lib.MAX_MIDI_PITCH,
                 max_events: Optional[int] = None, window_hop: Optional[int] = None,
                 min_events: int = 1, truncate: bool = False, add_end_token: bool = False,
                 apply_sustain: bool = True,
                 stretch_factors: Sequence[float] = token_utils.DEFAULT_STRETCH_FACTORS,
                 transpose_amounts: Sequence[int] = token_utils.DEFAULT_TRANSPOSE_AMOUNTS,
                 max_tensors_per_notesequence: Optional[int] = None,
                 max_note_duration: Optional[float] = None):
        token_utils.check_pitch_range(min_pitch, max_pitch)
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be positive or None, got {max_events}")
        self._encoding = performance_encoder_decoder.PerformanceOneHotEncoding(
            num_velocity_bins=num_velocity_bins, max_shift_steps=max_shift_steps,
            min_pitch=min_pitch, max_pitch=max_pitch)
        num_classes = self._encoding.num_classes
        super().__init__(depth=num_classes + (1 if add_end_token else 0),
                         end_token=num_classes if add_end_token else None,
                         min_pitch=min_pitch, max_pitch=max_pitch, apply_sustain=apply_sustain,
                         stretch_factors=stretch_factors, transpose_amounts=transpose_amounts,
                         max_tensors_per_notesequence=max_tensors_per_notesequence,
                         presplit_on_time_changes=False)
        self._steps_per_second = steps_per_second
        self._num_velocity_bins = num_velocity_bins
        self._max_shift_steps = max_shift_steps
        self._max_events = max_events
        self._window_hop = window_hop
        self._min_events = min_events
        self._truncate = truncate
        self._max_note_duration = max_note_duration
        self._layout = PerformanceLayout(min_pitch, max_pitch, max_shift_steps, num_velocity_bins)
        assert self._layout.num_classes == num_classes

    num_classes = property(lambda self: self._encoding.num_classes)
    encoding = property(lambda self: self._encoding)
    steps_per_second = property(lambda self: self._steps_per_second)

    # ---- NoteSequence -> events -------------------------------------------------------------
    def notes_all_events(self, notes: NoteArrays, timing=None) -> list:
        """Event ids of prepared notes (no END): note_seq's Performance events of the notes in
        canonical (onset, pitch, offset, velocity, instrument, program) order, computed on the
        arrays (`performance_codec`). note_seq stable-sorts by (onset, pitch) only, so the
        canonical order makes notes tied on both (one pitch on two instruments, duplicates)
        encode the same for any reader's note order (tests/test_note_order.py)."""
        del timing
        return encode_performance(notes, self._layout, self._steps_per_second).tolist()

    def notes_id_windows(self, notes: NoteArrays, timing=None) -> list:
        """Event-id windows of prepared notes (see the module docstring)."""
        ids = self.notes_all_events(notes)
        if self._end_token is not None:
            ids.append(self._end_token)
        return token_utils.cut_windows(ids, self._max_events, self._window_hop,
                                       self._min_events, self._truncate)

    def encode_events(self, note_sequence: music_pb2.NoteSequence) -> list:
        """Event ids of the whole (prepared) sequence, END included when enabled."""
        ids = self.encode_all_events(note_sequence)
        return ids + [self._end_token] if self._end_token is not None else ids

    def vocab_params(self) -> dict:
        return dict(super().vocab_params(), encoding="performance",
                    steps_per_second=self._steps_per_second,
                    num_velocity_bins=self._num_velocity_bins,
                    max_shift_steps=self._max_shift_steps)

    # ---- events -> NoteSequence -------------------------------------------------------------
    def decode_ids(self, ids: Sequence[int], report: Optional[dict] = None) -> music_pb2.NoteSequence:
        """NoteSequence of a list of event ids (END and anything after it ignored), as note_seq's
        Performance.to_sequence builds it (`performance_codec.decode_performance`). `report` is
        unused: every performance event stream decodes (unmatched NOTE_OFFs are dropped)."""
        del report
        ids = np.asarray(ids, np.int64).reshape(-1)
        if self._end_token is not None:
            ends = np.flatnonzero(ids == self._end_token)
            if len(ends):
                ids = ids[:ends[0]]
        return decode_performance(ids, self._layout, self._steps_per_second,
                                  self._max_note_duration)
