"""Melody + bass + drums trio converter (Magenta's `TrioConverter`).

Each instrument is classified by program (melody 0-31, bass 32-39, drums by `is_drum`; an instrument
with several classes is invalid), encoded whole by a `OneHotMelodyConverter` (90 classes) or a
`DrumsConverter` (512 classes) padded to the sequence length, and every (melody, bass, drums)
combination is cut into `slice_bars` windows (hop one bar) wherever all three cover the window;
`gap_bars` empty bars are tolerated per instrument. Steps are [melody 90 | bass 90 | drums 512].

>>> TrioConverter(steps_per_quarter=4, slice_bars=16, gap_bars=2).output_depth   # trio_16bar
692
"""
from __future__ import annotations

import collections
import itertools
import logging

import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from musicgen.converters.base import BaseNoteSequenceConverter, ConverterTensors
from musicgen.converters.drums import DrumsConverter
from musicgen.converters.event_list import CHORD_SYMBOL, quantize_or_none
from musicgen.converters.melody import BASS_PROGRAMS, MEL_PROGRAMS, OneHotMelodyConverter

MAX_INSTRUMENT_NUMBER = 127
ELECTRIC_BASS_PROGRAM = 33
DEFAULT_QPM = 120.0

_log = logging.getLogger(__name__)


class InstrumentType:
    UNK = 0
    MEL = 1
    BASS = 2
    DRUMS = 3
    INVALID = 4


def extract_instrument(note_sequence, instrument: int):
    """Copy of `note_sequence` holding only the notes of `instrument`."""
    extracted = music_pb2.NoteSequence()
    extracted.CopyFrom(note_sequence)
    del extracted.notes[:]
    extracted.notes.extend(n for n in note_sequence.notes if n.instrument == instrument)
    return extracted


class TrioConverter(BaseNoteSequenceConverter):
    """Converter between NoteSequences and 3-part (melody, bass, drums) one-hot windows.

    Args:
      slice_bars: window length in bars (required for `to_tensors`).
      gap_bars: empty bars tolerated per instrument (effectively doubled for inner gaps).
      max_bars: only the first `max_bars` bars are considered.
      steps_per_quarter, quarters_per_bar: grid; other bar sizes are skipped (4/4 rule).
      max_tensors_per_notesequence: cap on windows per NoteSequence.
      chord_encoding / condition_on_key: controls, as OneHotMelodyConverter.
    """

    InstrumentType = InstrumentType

    def __init__(self, slice_bars=None, gap_bars=2, max_bars=1024, steps_per_quarter=4,
                 quarters_per_bar=4, max_tensors_per_notesequence=5, chord_encoding=None,
                 condition_on_key=False):
        self._melody_converter = OneHotMelodyConverter(
            gap_bars=None, steps_per_quarter=steps_per_quarter, pad_to_total_time=True,
            presplit_on_time_changes=False, max_tensors_per_notesequence=None,
            chord_encoding=chord_encoding, condition_on_key=condition_on_key)
        self._drums_converter = DrumsConverter(
            gap_bars=None, steps_per_quarter=steps_per_quarter, pad_to_total_time=True,
            presplit_on_time_changes=False, max_tensors_per_notesequence=None)
        self._slice_bars = slice_bars
        self._gap_bars = gap_bars
        self._max_bars = max_bars
        self._steps_per_quarter = steps_per_quarter
        self._steps_per_bar = steps_per_quarter * quarters_per_bar
        self._chord_encoding = chord_encoding
        self._condition_on_key = condition_on_key
        mel_depth = self._melody_converter.output_depth
        self._split_output_depths = (mel_depth, mel_depth, self._drums_converter.output_depth)
        output_depth = sum(self._split_output_depths)
        self._program_map = {**{p: InstrumentType.MEL for p in MEL_PROGRAMS},
                             **{p: InstrumentType.BASS for p in BASS_PROGRAMS}}
        super().__init__(input_depth=output_depth, input_dtype=np.bool_,
                         output_depth=output_depth, output_dtype=np.bool_,
                         control_depth=self._melody_converter.control_depth,
                         control_dtype=self._melody_converter.control_dtype,
                         end_token=None, presplit_on_time_changes=True,
                         max_tensors_per_notesequence=max_tensors_per_notesequence)

    # ---- encoding -------------------------------------------------------------------------
    def _copy_inferred_annotations(self, quantized, note_sequence) -> bool:
        """Infer chords / keys when conditioning needs them; copy them to `note_sequence`.

        The parts are re-extracted from the unquantized sequence, so it must carry them. Returns
        False when chord inference fails (Magenta then drops the sequence).
        """
        has_chords = any(ta.annotation_type == CHORD_SYMBOL for ta in quantized.text_annotations)
        if not ((self._chord_encoding and not has_chords)
                or (self._condition_on_key and not quantized.key_signatures)):
            return True
        try:
            note_seq.infer_chords_for_sequence(quantized, add_key_signatures=self._condition_on_key)
        except note_seq.ChordInferenceError:
            return False
        for qta in quantized.text_annotations:
            if qta.annotation_type == CHORD_SYMBOL:
                note_sequence.text_annotations.add(time=qta.time, text=qta.text,
                                                   annotation_type=CHORD_SYMBOL)
        for qks in quantized.key_signatures:
            note_sequence.key_signatures.add(time=qks.time, key=qks.key)
        return True

    def _classify(self, quantized, total_bars):
        """Instrument type per instrument number and per-bar coverage (bars x instruments)."""
        instrument_type = np.zeros(MAX_INSTRUMENT_NUMBER + 1, np.uint8)
        coverage = np.zeros((total_bars, MAX_INSTRUMENT_NUMBER + 1), bool)
        for note in quantized.notes:
            i = note.instrument
            if i > MAX_INSTRUMENT_NUMBER:
                _log.warning("Skipping invalid instrument number: %d", i)
                continue
            inferred = (InstrumentType.DRUMS if note.is_drum
                        else self._program_map.get(note.program, InstrumentType.INVALID))
            if not instrument_type[i]:
                instrument_type[i] = inferred
            elif instrument_type[i] != inferred:
                instrument_type[i] = InstrumentType.INVALID
            start_bar = note.quantized_start_step // self._steps_per_bar
            end_bar = int(np.ceil(note.quantized_end_step / self._steps_per_bar))
            if start_bar < total_bars:
                coverage[start_bar:min(end_bar, total_bars), i] = True
        by_type = collections.defaultdict(list)
        for i, kind in enumerate(instrument_type.tolist()):
            if kind not in (InstrumentType.UNK, InstrumentType.INVALID):
                by_type[kind].append(i)
        return by_type, coverage

    def _encode_parts(self, note_sequence, by_type, coverage):
        """Whole-sequence tensors per instrument (coverage cleared where none) and controls."""
        encoded, controls = {}, None
        for i in by_type[InstrumentType.MEL] + by_type[InstrumentType.BASS]:
            tensors = self._melody_converter.to_tensors(extract_instrument(note_sequence, i))
            if tensors.outputs:
                encoded[i] = tensors.outputs[0]
                if controls is None:
                    controls = tensors.controls[0]
                elif not np.array_equal(controls, tensors.controls[0]):
                    _log.warning("Trio controls disagreement between instruments.")
            else:
                coverage[:, i] = False
        for i in by_type[InstrumentType.DRUMS]:
            tensors = self._drums_converter.to_tensors(extract_instrument(note_sequence, i))
            if tensors.outputs:
                encoded[i] = tensors.outputs[0]
            else:
                coverage[:, i] = False
        return encoded, controls

    def _fill_gaps(self, coverage, total_bars):
        """A bar counts as covered if any bar within `gap_bars` of it is."""
        g = self._gap_bars
        original = coverage.copy()
        for j in range(total_bars):
            coverage[j] = np.any(original[max(0, j - g):min(total_bars, j + g) + 1], axis=0)

    def _to_tensors_fn(self, note_sequence) -> ConverterTensors:
        """Windows of every (melody, bass, drums) combination covered over `slice_bars` bars."""
        if not self._slice_bars:
            raise ValueError("TrioConverter.to_tensors needs slice_bars (a window size in bars)")
        quantized = quantize_or_none(note_sequence, self._steps_per_quarter, self._steps_per_bar)
        if quantized is None:
            return ConverterTensors()
        original, note_sequence = note_sequence, music_pb2.NoteSequence()
        note_sequence.CopyFrom(original)  # never modify the caller's sequence
        if not self._copy_inferred_annotations(quantized, note_sequence):
            return ConverterTensors()
        total_bars = min(int(np.ceil(quantized.total_quantized_steps / self._steps_per_bar)),
                         self._max_bars)
        by_type, coverage = self._classify(quantized, total_bars)
        if len(by_type) < 3:
            return ConverterTensors()
        # Total time of whole bars, so that every part is padded to the same length.
        qpm = note_sequence.tempos[0].qpm if note_sequence.tempos else DEFAULT_QPM
        note_sequence.total_time = (total_bars * self._steps_per_bar * 60 / qpm
                                    / self._steps_per_quarter)
        encoded, controls = self._encode_parts(note_sequence, by_type, coverage)
        self._fill_gaps(coverage, total_bars)
        return self._windows(by_type, coverage, encoded, controls, total_bars)

    def _windows(self, by_type, coverage, encoded, controls, total_bars) -> ConverterTensors:
        result = ConverterTensors()
        g, n = self._gap_bars, self._slice_bars
        for grp in itertools.product(by_type[InstrumentType.MEL], by_type[InstrumentType.BASS],
                                     by_type[InstrumentType.DRUMS]):
            grp = list(grp)
            if not all(i in encoded for i in grp):
                continue
            # Within gap_bars of either end, one covered instrument covers the group.
            grp_coverage = np.all(coverage[:, grp], axis=1)
            if g:
                grp_coverage[:g] = np.any(coverage[:g, grp])
                grp_coverage[-g:] = np.any(coverage[-g:, grp])
            for j in range(total_bars - n + 1):
                if np.all(grp_coverage[j:j + n]):
                    start, end = j * self._steps_per_bar, (j + n) * self._steps_per_bar
                    seq = np.concatenate([encoded[i][start:end] for i in grp], axis=-1)
                    result.inputs.append(seq)
                    result.outputs.append(seq)
                    result.controls.append(controls[start:end] if controls is not None
                                           else self.empty_controls(len(seq)))
                    result.lengths.append(len(seq))
        return result

    # ---- decoding -------------------------------------------------------------------------
    def from_tensors(self, samples, controls=None) -> list:
        """Decode [melody | bass | drums] samples; bass on instrument 1 (program 33), drums on 9."""
        sequences = []
        bounds = np.cumsum(self._split_output_depths)
        for i, sample in enumerate(samples):
            sample = np.asarray(sample)
            mel_ns = self._melody_converter.from_tensors(
                [sample[:, :bounds[0]]], [controls[i]] if controls is not None else None)[0]
            bass_ns = self._melody_converter.from_tensors([sample[:, bounds[0]:bounds[1]]])[0]
            drums_ns = self._drums_converter.from_tensors([sample[:, bounds[1]:]])[0]
            for note in bass_ns.notes:
                note.instrument = 1
                note.program = ELECTRIC_BASS_PROGRAM
            for note in drums_ns.notes:
                note.instrument = 9
            mel_ns.notes.extend(bass_ns.notes)
            mel_ns.notes.extend(drums_ns.notes)
            mel_ns.total_time = max(mel_ns.total_time, bass_ns.total_time, drums_ns.total_time)
            sequences.append(mel_ns)
        return sequences
