"""Drum-track converter (Magenta's `DrumsConverter`).

Drum pitches are grouped into classes (default: note_seq's 9 reduced classes kick, snare, closed
hi-hat, open hi-hat, low / mid / high tom, crash, ride). Each step is either

* one-hot over the 2**num_classes subsets of classes (bit i = class i; 512 ways by default), or
* a "roll": one multi-hot bit per class (`roll_output`), and for `roll_input` one extra final
  bit set on silent steps (after the optional end-token bit).

Decoding maps every class to its first ("exemplar") pitch: 36 38 42 46 45 48 50 49 51 by default.

>>> DrumsConverter(max_bars=100, slice_bars=2, roll_input=True).input_depth   # cat-drums_2bar
10
"""
from __future__ import annotations

import functools

import note_seq
import numpy as np
from note_seq import drums_encoder_decoder
from note_seq.protobuf import music_pb2

from musicgen.converters.base import (BaseNoteSequenceConverter, ConverterTensors,
                                      maybe_sample_items, np_onehot)
from musicgen.converters.event_list import (OUTPUT_VELOCITY, argmax_labels, cut_at_end_token,
                                            dedupe, extract_drum_tracks, pad_and_slice,
                                            quantize_or_none)

# 9 classes: kick, snare, closed_hh, open_hh, low_tom, mid_tom, hi_tom, crash, ride
REDUCED_DRUM_PITCH_CLASSES = drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
# 61 classes: the full General MIDI drum set, one pitch per class (needs roll input and output)
FULL_DRUM_PITCH_CLASSES = [[p] for p in [
    36, 35, 38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85, 42, 44, 54, 68, 69, 70, 71,
    73, 78, 80, 46, 67, 72, 74, 79, 81, 45, 29, 41, 61, 64, 84, 48, 47, 60, 63, 77, 86, 87, 50, 30,
    43, 62, 76, 83, 49, 55, 57, 58, 51, 52, 53, 59, 82]]
# A one-hot over subsets of more classes than this would be absurdly wide.
MAX_ONE_HOT_CLASSES = 16


class DrumsConverter(BaseNoteSequenceConverter):
    """Converter between NoteSequences and drum windows (one-hot subsets or rolls).

    Args:
      max_bars: truncate extracted drum tracks to this many bars before slicing.
      slice_bars: window length in bars (hop one bar); None keeps whole tracks.
      gap_bars: a track ends after this many empty bars; 0 / None disables.
      pitch_classes: list of pitch lists, one per class (REDUCED_DRUM_PITCH_CLASSES).
      add_end_token: append an end token.
      steps_per_quarter, quarters_per_bar: grid; other bar sizes are skipped (4/4 rule).
      pad_to_total_time: pad each track to the whole sequence.
      roll_input / roll_output: multi-hot rolls instead of one-hot subsets.
      max_tensors_per_notesequence: cap on windows per NoteSequence.
      presplit_on_time_changes: split on tempo / time-signature changes first.
    """

    def __init__(self, max_bars=None, slice_bars=None, gap_bars=1.0, pitch_classes=None,
                 add_end_token=False, steps_per_quarter=4, quarters_per_bar=4,
                 pad_to_total_time=False, roll_input=False, roll_output=False,
                 max_tensors_per_notesequence=5, presplit_on_time_changes=True):
        self._pitch_classes = [list(c) for c in (pitch_classes or REDUCED_DRUM_PITCH_CLASSES)]
        num_classes = len(self._pitch_classes)
        if not (roll_input and roll_output) and num_classes > MAX_ONE_HOT_CLASSES:
            raise ValueError(
                f"DrumsConverter: a one-hot over subsets of {num_classes} drum classes needs "
                f"2**{num_classes} outputs; use roll_input=True and roll_output=True "
                f"(at most {MAX_ONE_HOT_CLASSES} classes otherwise)")
        self._pitch_class_map = {p: i for i, pitches in enumerate(self._pitch_classes)
                                 for p in pitches}
        self._steps_per_quarter = steps_per_quarter
        self._steps_per_bar = steps_per_quarter * quarters_per_bar
        self._slice_steps = self._steps_per_bar * slice_bars if slice_bars else None
        self._pad_to_total_time = pad_to_total_time
        self._roll_input = roll_input
        self._roll_output = roll_output
        self._num_classes = num_classes
        self._drums_extractor_fn = functools.partial(
            extract_drum_tracks, min_bars=1, gap_bars=gap_bars or float("inf"),
            max_steps_truncate=self._steps_per_bar * max_bars if max_bars else None, pad_end=True)
        # Classes are already mapped, so each "drum type" is its class index.
        self._oh_encoder_decoder = note_seq.MultiDrumOneHotEncoding(
            drum_type_pitches=[(i,) for i in range(num_classes)])
        end = int(add_end_token)
        one_hot_depth = 2 ** num_classes + end
        output_depth = num_classes + end if roll_output else one_hot_depth
        input_depth = num_classes + 1 + end if roll_input else one_hot_depth
        super().__init__(input_depth=input_depth, input_dtype=np.bool_,
                         output_depth=output_depth, output_dtype=np.bool_,
                         end_token=output_depth - 1 if add_end_token else None,
                         max_tensors_per_notesequence=max_tensors_per_notesequence,
                         presplit_on_time_changes=presplit_on_time_changes)

    pitch_classes = property(lambda self: self._pitch_classes)

    # ---- encoding -------------------------------------------------------------------------
    def _roll(self, events) -> np.ndarray:
        """Multi-hot (steps, num_classes [+ end]) roll; the end token gets its own bit."""
        has_end = self.end_token is not None
        roll = np.zeros((len(events) + has_end, self._num_classes + has_end), np.bool_)
        for step, event in enumerate(events):
            roll[step, list(event)] = True
        if has_end:
            roll[-1, -1] = True
        return roll

    def _one_hot(self, events) -> np.ndarray:
        labels = [self._oh_encoder_decoder.encode_event(e) for e in events]
        if self.end_token is not None:
            labels.append(self._oh_encoder_decoder.num_classes)
        depth = self._oh_encoder_decoder.num_classes + (self.end_token is not None)
        return np_onehot(labels, depth)

    def _mapped_quantized(self, note_sequence):
        """Quantized copy keeping only drum notes of known pitches, pitch replaced by class."""
        quantized = quantize_or_none(note_sequence, self._steps_per_quarter, self._steps_per_bar)
        if quantized is None:
            return None
        kept = []
        for note in quantized.notes:
            if note.is_drum and note.pitch in self._pitch_class_map:
                kept.append(music_pb2.NoteSequence.Note())
                kept[-1].CopyFrom(note)
                kept[-1].pitch = self._pitch_class_map[note.pitch]
        del quantized.notes[:]
        quantized.notes.extend(kept)
        return quantized

    def _to_tensors_fn(self, note_sequence) -> ConverterTensors:
        """Quantize, map to classes, extract tracks, slice, dedupe and encode."""
        quantized = self._mapped_quantized(note_sequence)
        if quantized is None:
            return ConverterTensors()
        tracks = self._drums_extractor_fn(quantized)
        windows = pad_and_slice(tracks, quantized.total_quantized_steps, self._pad_to_total_time,
                                self._slice_steps, self._steps_per_bar)
        windows = dedupe([tuple(w) for w in windows])
        windows = [windows[i] for i in maybe_sample_items(
            len(windows), self.max_tensors_per_notesequence, self.is_training, self._rng)]
        result = ConverterTensors()
        for events in windows:
            roll = self._roll(events) if (self._roll_input or self._roll_output) else None
            one_hot = None if (self._roll_input and self._roll_output) else self._one_hot(events)
            if self._roll_input:
                silent = ~roll.any(axis=1, keepdims=True)
                inputs = np.concatenate([roll, silent], axis=1)
            else:
                inputs = one_hot
            outputs = roll if self._roll_output else one_hot
            result.inputs.append(inputs)
            result.outputs.append(outputs)
            result.controls.append(self.empty_controls(len(outputs)))
            result.lengths.append(len(outputs))
        return result

    # ---- decoding -------------------------------------------------------------------------
    def _class_sets(self, sample) -> list:
        """Per-step sets of drum classes of one sample, up to the end token."""
        sample = np.asarray(sample)
        if self._roll_output:
            if self.end_token is not None:
                ends = np.flatnonzero(sample[:, self.end_token])
                if len(ends):
                    sample = sample[:ends[0]]
                sample = sample[:, :self._num_classes]
            return [frozenset(np.flatnonzero(step).tolist()) for step in sample]
        labels = cut_at_end_token(argmax_labels(sample), self.end_token)
        return [self._oh_encoder_decoder.decode_event(int(label)) for label in labels]

    def from_tensors(self, samples, controls=None) -> list:
        """Decode samples into drum NoteSequences (exemplar pitches, velocity 80, 120 qpm)."""
        sequences = []
        for sample in samples:
            events = [frozenset(self._pitch_classes[c][0] for c in classes)
                      for classes in self._class_sets(sample)]
            track = note_seq.DrumTrack(events=events, steps_per_bar=self._steps_per_bar,
                                       steps_per_quarter=self._steps_per_quarter)
            sequences.append(track.to_sequence(velocity=OUTPUT_VELOCITY))
        return sequences
