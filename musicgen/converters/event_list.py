"""Shared machinery of the event-list converters (melody, drums, trio).

A port of the parts of Magenta's `music_vae/data.py` and
`magenta/pipelines/{melody,drum}_pipelines.py` that the one-hot melody / drums / trio converters
share, on top of note_seq:

* `quantize_or_none`: quantize, returning None where Magenta returns no tensors (bad or
  non-4/4-sized bars, negative times);
* `extract_melodies` / `extract_drum_tracks`: Magenta's extractors (note_seq's `Melody` and
  `DrumTrack` do the per-track work; these loop over gaps and tracks, filter and truncate);
* `pad_and_slice`: optional padding to the sequence's total time, then windows of `slice_steps`
  with a hop of one bar;
* `dedupe`: Magenta keeps `list(set(windows))`, so which windows survive
  `max_tensors_per_notesequence` in eval mode follows Python's set order; we build the same tuples
  in the same order to match it;
* `LegacyEventListOneHotConverter`: Magenta's parent of the melody converter (one-hot in = out,
  optional chord / key controls, optional end token).
"""
from __future__ import annotations

from typing import Callable, Optional

import note_seq
import numpy as np
from note_seq import chords_lib, sequences_lib
from note_seq.protobuf import music_pb2

from musicgen.converters.base import (BaseNoteSequenceConverter, ConverterTensors,
                                      maybe_sample_items, np_onehot)

OUTPUT_VELOCITY = 80
CHORD_SYMBOL = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
NUM_KEYS = 12

_QUANTIZE_ERRORS = (note_seq.BadTimeSignatureError, note_seq.NonIntegerStepsPerBarError,
                    note_seq.NegativeTimeError)


def quantize_or_none(note_sequence, steps_per_quarter: int, steps_per_bar: int):
    """Quantize relative to tempo; None when Magenta would drop the sequence.

    Dropped: bad / non-integer time signatures, negative times, and any bar length other than
    `steps_per_bar` (with the defaults: only 4/4-sized bars, i.e. 4/4 or 2/2, are kept).
    """
    try:
        quantized = sequences_lib.quantize_note_sequence(note_sequence, steps_per_quarter)
        if sequences_lib.steps_per_bar_in_quantized_sequence(quantized) != steps_per_bar:
            return None
    except _QUANTIZE_ERRORS:
        return None
    return quantized


def _steps_per_bar(quantized_sequence) -> int:
    return int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized_sequence))


def _length_ok(track, min_bars, max_steps_discard, max_steps_truncate, pad_end) -> bool:
    """Magenta's length rules: drop if shorter than `min_bars` or longer than `max_steps_discard`;
    cut if longer than `max_steps_truncate` (with pad_end, to the last whole bar below it)."""
    if len(track) < track.steps_per_bar * min_bars:
        return False
    if max_steps_discard is not None and len(track) > max_steps_discard:
        return False
    if max_steps_truncate is not None and len(track) > max_steps_truncate:
        length = max_steps_truncate
        if pad_end:
            length -= max_steps_truncate % track.steps_per_bar
        track.set_length(length)
    return True


def extract_melodies(quantized_sequence, search_start_step=0, min_bars=7, max_steps_truncate=None,
                     max_steps_discard=None, gap_bars=1.0, min_unique_pitches=5,
                     ignore_polyphonic_notes=True, pad_end=False, filter_drums=True) -> list:
    """Monophonic melodies of every instrument (Magenta's melody_pipelines.extract_melodies).

    A melody starts at the bar of its first note and ends after `gap_bars` bars of silence; with
    `ignore_polyphonic_notes` the highest of notes starting together wins, otherwise polyphonic
    tracks are skipped. Melodies shorter than `min_bars` or with fewer than `min_unique_pitches`
    pitch classes are dropped, longer than `max_steps_discard` dropped, longer than
    `max_steps_truncate` cut.
    """
    sequences_lib.assert_is_relative_quantized_sequence(quantized_sequence)
    melodies = []
    steps_per_bar = _steps_per_bar(quantized_sequence)
    # Iterate a set of instruments exactly as Magenta does (the order feeds the dedupe set).
    for instrument in set(n.instrument for n in quantized_sequence.notes):
        start = search_start_step
        while True:
            melody = note_seq.Melody()
            try:
                melody.from_quantized_sequence(
                    quantized_sequence, instrument=instrument, search_start_step=start,
                    gap_bars=gap_bars, ignore_polyphonic_notes=ignore_polyphonic_notes,
                    pad_end=pad_end, filter_drums=filter_drums)
            except note_seq.PolyphonicMelodyError:
                break
            # The next search starts on the next bar boundary (inclusive).
            start = melody.end_step + (search_start_step - melody.end_step) % steps_per_bar
            if not melody:
                break
            if not _length_ok(melody, min_bars, max_steps_discard, max_steps_truncate, pad_end):
                continue
            if np.count_nonzero(melody.get_note_histogram()) < min_unique_pitches:
                continue
            melodies.append(melody)
    return melodies


def extract_drum_tracks(quantized_sequence, search_start_step=0, min_bars=7,
                        max_steps_truncate=None, max_steps_discard=None, gap_bars=1.0,
                        pad_end=False, ignore_is_drum=False) -> list:
    """Drum tracks split on gaps of `gap_bars` empty bars (Magenta's extract_drum_tracks).

    All drum instruments merge into one track; length filters as in `extract_melodies`.
    """
    drum_tracks = []
    steps_per_bar = _steps_per_bar(quantized_sequence)
    while True:
        track = note_seq.DrumTrack()
        track.from_quantized_sequence(quantized_sequence, search_start_step=search_start_step,
                                      gap_bars=gap_bars, pad_end=pad_end,
                                      ignore_is_drum=ignore_is_drum)
        search_start_step = track.end_step + (search_start_step - track.end_step) % steps_per_bar
        if not track:
            break
        if _length_ok(track, min_bars, max_steps_discard, max_steps_truncate, pad_end):
            drum_tracks.append(track)
    return drum_tracks


def pad_and_slice(event_lists: list, total_steps: int, pad_to_total_time: bool,
                  slice_steps: Optional[int], steps_per_bar: int) -> list:
    """Optionally pad each event list to [0, total_steps), then cut windows hopping one bar.

    Returns the windows (event sequences of the same type) or the whole lists when unsliced.
    """
    if pad_to_total_time:
        for events in event_lists:
            events.set_length(len(events) + events.start_step, from_left=True)
            events.set_length(total_steps)
    if not slice_steps:
        return list(event_lists)
    return [events[i - slice_steps:i]
            for events in event_lists
            for i in range(slice_steps, len(events) + 1, steps_per_bar)]


def dedupe(items: list, enabled: bool = True) -> list:
    """Unique items in Python set order (as Magenta: `list(set(items))`), or all items in order."""
    return list(set(items)) if enabled else list(items)


def argmax_labels(sample) -> np.ndarray:
    """Class index per step of a one-hot (or probability) sample."""
    return np.argmax(np.asarray(sample), axis=-1)


def cut_at_end_token(labels: np.ndarray, end_token: Optional[int]) -> np.ndarray:
    """Labels up to (not including) the first end token."""
    if end_token is not None:
        hits = np.flatnonzero(labels == end_token)
        if len(hits):
            return labels[:hits[0]]
    return labels


class LegacyEventListOneHotConverter(BaseNoteSequenceConverter):
    """One-hot event-list converter on a note_seq OneHotEncoding (Magenta's class of that name).

    Quantizes, extracts event lists with `event_extractor_fn`, optionally pads / slices (hop one
    bar), de-duplicates, and one-hot encodes each window with `legacy_encoder_decoder`
    (inputs == outputs).

    Args:
      event_list_fn: returns a new empty event sequence (for decoding).
      event_extractor_fn: quantized NoteSequence -> list of event sequences.
      legacy_encoder_decoder: a note_seq OneHotEncoding.
      add_end_token: append an end token (class `num_classes`).
      slice_bars / slice_steps: window size (at most one of them).
      steps_per_quarter, quarters_per_bar: quantization grid; only sequences whose bar has
        steps_per_quarter * quarters_per_bar steps are converted.
      pad_to_total_time: pad event lists to the sequence's total time.
      chord_encoding: a note_seq chord OneHotEncoding to condition on (chords inferred if absent).
      condition_on_key: condition on the key (12-way one-hot, after the chords).
      dedupe_event_lists: keep only unique windows.
    """

    def __init__(self, event_list_fn: Callable, event_extractor_fn: Callable,
                 legacy_encoder_decoder, add_end_token=False, slice_bars=None, slice_steps=None,
                 steps_per_quarter=4, quarters_per_bar=4, pad_to_total_time=False,
                 max_tensors_per_notesequence=None, presplit_on_time_changes=True,
                 chord_encoding=None, condition_on_key=False, dedupe_event_lists=True):
        if slice_bars is not None and slice_steps is not None:
            raise ValueError("At most one of `slice_bars` and `slice_steps` should be provided.")
        if not steps_per_quarter:
            raise ValueError("`steps_per_quarter` must be a positive integer.")
        self._event_list_fn = event_list_fn
        self._event_extractor_fn = event_extractor_fn
        self._legacy_encoder_decoder = legacy_encoder_decoder
        self._chord_encoding = chord_encoding
        self._condition_on_key = condition_on_key
        self._steps_per_quarter = steps_per_quarter
        self._steps_per_bar = steps_per_quarter * quarters_per_bar
        self._slice_steps = self._steps_per_bar * slice_bars if slice_bars else slice_steps
        self._pad_to_total_time = pad_to_total_time
        self._dedupe_event_lists = dedupe_event_lists
        num_classes = legacy_encoder_decoder.num_classes
        depth = num_classes + int(add_end_token)
        control_depth = ((chord_encoding.num_classes if chord_encoding is not None else 0)
                         + (NUM_KEYS if condition_on_key else 0))
        super().__init__(input_depth=depth, input_dtype=np.bool_, output_depth=depth,
                         output_dtype=np.bool_, control_depth=control_depth,
                         control_dtype=np.bool_,
                         end_token=num_classes if add_end_token else None,
                         max_tensors_per_notesequence=max_tensors_per_notesequence,
                         presplit_on_time_changes=presplit_on_time_changes)

    # ---- encoding -------------------------------------------------------------------------
    def _needs_inference(self, quantized_sequence) -> bool:
        has_chords = any(ta.annotation_type == CHORD_SYMBOL
                         for ta in quantized_sequence.text_annotations)
        return bool((self._chord_encoding and not has_chords)
                    or (self._condition_on_key and not quantized_sequence.key_signatures))

    def _control_lists(self, quantized_sequence, windows):
        """Per-window chord and key lists aligned with `windows`, or None if Magenta drops."""
        lists = []
        if self._chord_encoding:
            try:
                lists.append(chords_lib.event_list_chords(quantized_sequence, windows))
            except chords_lib.CoincidentChordsError:
                return None
        if self._condition_on_key:
            qpm = quantized_sequence.tempos[0].qpm if quantized_sequence.tempos else \
                note_seq.DEFAULT_QUARTERS_PER_MINUTE
            steps_per_second = self._steps_per_quarter * qpm / 60.0
            lists.append(chords_lib.event_list_keys(quantized_sequence, windows, steps_per_second))
        return lists

    def _controls_for(self, chords, keys) -> Optional[np.ndarray]:
        """One-hot chord and/or key controls for one window; None on a chord encoding error."""
        parts = []
        if chords is not None:
            try:
                tokens = [self._chord_encoding.encode_event(c) for c in chords]
                if self.end_token is not None:
                    # Repeat the last chord rather than a special token (as Magenta).
                    tokens.append(tokens[-1] if tokens else
                                  self._chord_encoding.encode_event(note_seq.NO_CHORD))
            except (note_seq.ChordSymbolError, note_seq.ChordEncodingError):
                return None
            parts.append(np_onehot(tokens, self._chord_encoding.num_classes, self.control_dtype))
        if keys is not None:
            keys = list(keys)
            if self.end_token is not None:
                keys.append(keys[-1] if keys else int(self._rng.integers(NUM_KEYS)))
            parts.append(np_onehot(keys, NUM_KEYS, self.control_dtype))
        return np.concatenate(parts, axis=1)

    def _encode_events(self, events) -> np.ndarray:
        labels = [self._legacy_encoder_decoder.encode_event(e) for e in events]
        if self.end_token is not None:
            labels.append(self.end_token)
        return np_onehot(labels, self.output_depth, self.output_dtype)

    def _to_tensors_fn(self, note_sequence) -> ConverterTensors:
        """Quantize, extract, slice, dedupe and encode one NoteSequence without time changes."""
        quantized = quantize_or_none(note_sequence, self._steps_per_quarter, self._steps_per_bar)
        if quantized is None:
            return ConverterTensors()
        if self._needs_inference(quantized):
            try:
                note_seq.infer_chords_for_sequence(quantized,
                                                   add_key_signatures=self._condition_on_key)
            except note_seq.ChordInferenceError:
                return ConverterTensors()
        event_lists = self._event_extractor_fn(quantized)
        windows = pad_and_slice(event_lists, quantized.total_quantized_steps,
                                self._pad_to_total_time, self._slice_steps, self._steps_per_bar)
        control_lists = self._control_lists(quantized, windows)
        if control_lists is None:
            return ConverterTensors()
        # Per window a tuple of per-step tuples (event[, chord][, key]), as Magenta's dedupe keys.
        per_window = [tuple(zip(*lists)) for lists in zip(windows, *control_lists)]
        per_window = dedupe(per_window, self._dedupe_event_lists)
        per_window = [per_window[i] for i in maybe_sample_items(
            len(per_window), self.max_tensors_per_notesequence, self.is_training, self._rng)]
        per_window = [w for w in per_window if w]
        if not per_window:
            return ConverterTensors()
        result = ConverterTensors()
        has_chords = self._chord_encoding is not None
        for window in per_window:
            columns = list(zip(*window))
            seq = self._encode_events(columns[0])
            if has_chords or self._condition_on_key:
                controls = self._controls_for(columns[1] if has_chords else None,
                                              columns[-1] if self._condition_on_key else None)
                if controls is None:
                    return ConverterTensors()
            else:
                controls = self.empty_controls(len(seq))
            result.inputs.append(seq)
            result.outputs.append(seq)
            result.controls.append(controls)
            result.lengths.append(len(seq))
        return result

    # ---- decoding -------------------------------------------------------------------------
    def _seconds_per_step(self) -> float:
        return 60.0 / (self._steps_per_quarter * note_seq.DEFAULT_QUARTERS_PER_MINUTE)

    def from_tensors(self, samples, controls=None) -> list:
        """Decode one-hot samples (argmax per step, cut at the end token) into NoteSequences.

        Notes get velocity 80 at 120 qpm; chord / key controls, when given, become chord-symbol
        annotations and key signatures at the event steps.
        """
        sequences = []
        chord_depth = self._chord_encoding.num_classes if self._chord_encoding else 0
        for i, sample in enumerate(samples):
            labels = cut_at_end_token(argmax_labels(sample), self.end_token)
            events = self._event_list_fn()
            for label in labels:
                events.append(self._legacy_encoder_decoder.decode_event(int(label)))
            sequence = events.to_sequence(velocity=OUTPUT_VELOCITY,
                                          qpm=note_seq.DEFAULT_QUARTERS_PER_MINUTE)
            if controls is not None and (self._chord_encoding or self._condition_on_key):
                control = np.asarray(controls[i])[:len(labels)]
                times = [step * self._seconds_per_step() for step in events.steps]
                if self._chord_encoding:
                    chords = [self._chord_encoding.decode_event(int(c))
                              for c in argmax_labels(control[:, :chord_depth])]
                    chords_lib.add_chords_to_sequence(sequence, chords, times)
                if self._condition_on_key:
                    keys = argmax_labels(control[:, -NUM_KEYS:])
                    chords_lib.add_keys_to_sequence(sequence, keys, times)
            sequences.append(sequence)
        return sequences

