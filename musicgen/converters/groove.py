"""GrooveConverter: drum performances <-> (hit, velocity, offset) tensors (GrooVAE).

Behaviour follows Magenta's `music_vae/data.py` GrooveConverter (current head), written anew
on numpy + note_seq:

* The sequence is quantized with `note_seq.sequences_lib.quantize_note_sequence` at
  `steps_per_quarter`. Sequences whose bar is not `steps_per_quarter * quarters_per_bar` steps,
  or that have tempo / time-signature changes, bad time signatures or negative times, give no
  tensors (exactly the errors Magenta catches).
* Every note is mapped to a drum class by pitch (`pitch_classes`, Roland V-Drum classes by
  default; `inference_pitch_classes` in 'infer' mode). Per step and class only the loudest note
  is kept (the first one on ties, as Python's `max`).
* Per step: [hits (D), velocity / 127 (D), offset (D)] with
  offset = 2 * (quantized_onset - onset) / step_length, in [-1, 1] (positive = early).
  The sequence is padded with empty steps to a whole number of bars.
* Options: `humanize` (inputs without velocities and offsets), `tapify` (inputs: the loudest
  hit of each step on the open hi-hat channel 3), `fixed_velocities` (inputs without
  velocities), `add_instruments` (classes removed from the inputs only),
  `max_note_dropout_probability` (inputs lose notes at random, quiet ones more often),
  `num_velocity_bins` + `num_offset_bins` (one-hot velocities / offsets),
  `split_instruments` (one step per drum, with a one-hot instrument control),
  `hits_as_controls` (hits also given as bool controls), `split_bars` + `hop_size`
  (sliding windows; a trailing partial window is dropped).
* `from_tensors` writes one drum note per hit > 0.5 (instrument 9, pitch = first pitch of the
  class, one step long) at tempo `qpm` (120 as Magenta unless given).

Deviations from Magenta (all deliberate, see the notes in `from_tensors` / `to_tensors`):

* A pitch outside every class raises `ValueError` naming the pitch (Magenta: bare KeyError).
* Categorical samples without `split_instruments` are decoded over all their steps (Magenta
  decodes only the first T / D steps, a bug its tests hide by comparing with `zip`).
* Note dropout draws from the converter's own generator (`seed()`), not numpy's global one.
* Decoded sequences get `total_time` set to their whole bars (Magenta leaves 0); an early first
  hit starts at 0 s (MIDI has no earlier time).
* In infer mode (TrainedModel) a sequence is read on its bar grid: its whole bars, padded with
  silent bars to at least one window, so a groove with silent last bars still encodes (Magenta
  extracts no window from it). Training and evaluation windows are Magenta's.
* Like current Magenta, `max_tensors_per_notesequence` is stored but does not limit the
  windows, and sequences are not pre-split on time changes.

Example:

>>> conv = GrooveConverter(split_bars=4, max_tensors_per_notesequence=20,
...                        pitch_classes=ROLAND_DRUM_PITCH_CLASSES,
...                        inference_pitch_classes=REDUCED_DRUM_PITCH_CLASSES)
>>> conv.output_depth
27
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from note_seq import drums_encoder_decoder, sequences_lib
from note_seq.events_lib import NonIntegerStepsPerBarError
from note_seq.protobuf import music_pb2

from musicgen.converters.base import BaseNoteSequenceConverter, ConverterTensors, np_onehot

# 9 classes: kick, snare, closed hi-hat, open hi-hat, low tom, mid tom, high tom, crash, ride.
REDUCED_DRUM_PITCH_CLASSES = drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
# The same 9 classes for the Roland TD-11 kit the Groove MIDI Dataset was recorded on.
ROLAND_DRUM_PITCH_CLASSES = [
    [36],                # kick drum
    [38, 37, 40],        # snare drum (head, cross-stick, rim)
    [42, 22, 44],        # closed hi-hat (bow, edge, pedal)
    [46, 26],            # open hi-hat
    [43, 58],            # low tom
    [47, 45],            # mid tom
    [50, 48],            # high tom
    [49, 52, 55, 57],    # crash cymbal
    [51, 53, 59],        # ride cymbal
]
TAP_CLASS = 3  # tapify squashes every hit onto the open hi-hat channel, as Magenta
DEFAULT_QPM = 120.0
DRUM_INSTRUMENT = 9

_QUANTIZE_ERRORS = (sequences_lib.BadTimeSignatureError, NonIntegerStepsPerBarError,
                    sequences_lib.NegativeTimeError, sequences_lib.MultipleTimeSignatureError,
                    sequences_lib.MultipleTempoError)


def classes_to_map(classes: Sequence[Sequence[int]]) -> dict:
    """{pitch: class index}; a pitch listed twice belongs to its last class (as Magenta)."""
    return {pitch: cls for cls, pitches in enumerate(classes) for pitch in pitches}


def to_categorical(values: np.ndarray, min_value: float, max_value: float,
                   num_bins: int) -> np.ndarray:
    """(T, D) continuous values -> (T, D * num_bins) one-hots, bins as Magenta's np.digitize."""
    bins = np.linspace(min_value, max_value + 0.0001, num_bins)
    idx = np.digitize(values, bins, right=True)
    return np_onehot(idx.reshape(-1), num_bins, np.int32).reshape(len(values), -1)


def extract_windows(tensor: np.ndarray, window_size: int, hop_size: int) -> list:
    """Windows of `window_size` rows every `hop_size` rows; a partial last window is dropped."""
    return [tensor[i:i + window_size] for i in range(0, len(tensor) - window_size + 1, hop_size)]


class GrooveConverter(BaseNoteSequenceConverter):
    """Converts drum NoteSequences to and from hit / velocity / offset tensors (see module doc).

    Args (names and defaults as Magenta's):
      split_bars: window length in bars, or None for one tensor of the whole sequence.
      steps_per_quarter, quarters_per_bar: the quantization grid (16 steps per 4/4 bar).
      max_tensors_per_notesequence: stored (as Magenta) but not applied, see module doc.
      pitch_classes: list of pitch lists, one per drum class (ROLAND_DRUM_PITCH_CLASSES).
      inference_pitch_classes: classes used in 'infer' mode (default: pitch_classes).
      humanize, tapify, fixed_velocities, add_instruments, max_note_dropout_probability:
        input-only transformations (outputs keep the full performance).
      num_velocity_bins, num_offset_bins: one-hot velocity / offset encodings (both or none).
      split_instruments: one model step per drum, with instrument one-hot controls.
      hop_size: steps between windows (needs split_bars; default: the window length).
      hits_as_controls: pass the hits as bool controls too.
    """

    # Inference (TrainedModel) reads only drum notes (MIDI channel 10) of an input, as a drummer
    # would; Magenta maps every note's pitch, so a piano part became "drums" without a word.
    drum_notes_only = True


    def __init__(self, split_bars: Optional[int] = None, steps_per_quarter: int = 4,
                 quarters_per_bar: int = 4, max_tensors_per_notesequence: Optional[int] = 8,
                 pitch_classes=None, inference_pitch_classes=None, humanize: bool = False,
                 tapify: bool = False, add_instruments: Optional[Sequence[int]] = None,
                 num_velocity_bins: Optional[int] = None, num_offset_bins: Optional[int] = None,
                 split_instruments: bool = False, hop_size: Optional[int] = None,
                 hits_as_controls: bool = False, fixed_velocities: bool = False,
                 max_note_dropout_probability: Optional[float] = None):
        self._split_bars = split_bars
        self._steps_per_quarter = steps_per_quarter
        self._steps_per_bar = steps_per_quarter * quarters_per_bar
        self._humanize = humanize
        self._tapify = tapify
        self._add_instruments = list(add_instruments) if add_instruments else None
        self._fixed_velocities = fixed_velocities
        self._num_velocity_bins = num_velocity_bins
        self._num_offset_bins = num_offset_bins
        self._categorical_outputs = bool(num_velocity_bins and num_offset_bins)
        self._split_instruments = split_instruments
        self._hop_size = hop_size
        self._hits_as_controls = hits_as_controls
        self._max_note_dropout_probability = max_note_dropout_probability
        self._note_dropout = max_note_dropout_probability is not None

        self._pitch_classes = [list(c) for c in (pitch_classes or ROLAND_DRUM_PITCH_CLASSES)]
        self._infer_pitch_classes = ([list(c) for c in inference_pitch_classes]
                                     if inference_pitch_classes else self._pitch_classes)
        if len(self._pitch_classes) != len(self._infer_pitch_classes):
            raise ValueError(
                "GrooveConverter: training and inference must have the same number of pitch "
                f"classes, got {len(self._pitch_classes)} vs {len(self._infer_pitch_classes)}")
        self._pitch_class_map = classes_to_map(self._pitch_classes)
        self._infer_pitch_class_map = classes_to_map(self._infer_pitch_classes)
        self._num_drums = len(self._pitch_classes)

        if bool(num_velocity_bins) ^ bool(num_offset_bins):
            raise ValueError("GrooveConverter: num_velocity_bins and num_offset_bins must be "
                             f"set together, got {num_velocity_bins} and {num_offset_bins}")
        if split_bars is None and hop_size is not None:
            raise ValueError("GrooveConverter: hop_size needs split_bars")
        if tapify and self._num_drums <= TAP_CLASS:
            raise ValueError(f"GrooveConverter: tapify needs more than {TAP_CLASS} pitch classes")

        drums_per_output = 1 if split_instruments else self._num_drums
        if self._categorical_outputs:
            depth = drums_per_output * (1 + num_velocity_bins + num_offset_bins)
        else:
            depth = drums_per_output * 3
        control_depth = 0
        if hits_as_controls:
            control_depth += 1 if split_instruments else self._num_drums
        if split_instruments:
            control_depth += self._num_drums

        super().__init__(input_depth=depth, input_dtype=np.float32, output_depth=depth,
                         output_dtype=np.float32, control_depth=control_depth,
                         control_dtype=np.bool_, end_token=False,
                         max_tensors_per_notesequence=max_tensors_per_notesequence,
                         presplit_on_time_changes=False)

    # ---- read-only settings ---------------------------------------------------------------
    categorical_outputs = property(lambda self: self._categorical_outputs)
    num_drums = property(lambda self: self._num_drums)
    steps_per_quarter = property(lambda self: self._steps_per_quarter)
    steps_per_bar = property(lambda self: self._steps_per_bar)
    split_bars = property(lambda self: self._split_bars)
    hop_size = property(lambda self: self._hop_size)
    split_instruments = property(lambda self: self._split_instruments)

    # ---- mode-dependent pitch classes ----------------------------------------------------
    @property
    def pitch_classes(self) -> list:
        return self._infer_pitch_classes if self.is_inferring else self._pitch_classes

    @property
    def pitch_class_map(self) -> dict:
        return self._infer_pitch_class_map if self.is_inferring else self._pitch_class_map

    # ---- NoteSequence -> tensors ---------------------------------------------------------
    def to_tensors(self, note_sequence: music_pb2.NoteSequence) -> ConverterTensors:
        """All windows of one NoteSequence (as Magenta: no time-change split, no window cap)."""
        return self._to_tensors_fn(note_sequence)

    def _quantize(self, note_sequence):
        """Quantized copy, or None where Magenta gives no tensors (wrong bar, tempo change...)."""
        try:
            qns = sequences_lib.quantize_note_sequence(note_sequence, self._steps_per_quarter)
            if sequences_lib.steps_per_bar_in_quantized_sequence(qns) != self._steps_per_bar:
                return None
        except _QUANTIZE_ERRORS:
            return None
        return qns

    def _performance_matrices(self, qns):
        """(hits, velocities, offsets), each (max_step, D) float64, loudest note per cell."""
        step_length = 60.0 / qns.tempos[0].qpm / qns.quantization_info.steps_per_quarter
        class_map = self.pitch_class_map
        n = len(qns.notes)
        steps = np.empty(n, np.int64)
        drums = np.empty(n, np.int64)
        velocities = np.empty(n, np.int64)
        starts = np.empty(n, np.float64)
        pitches = np.empty(n, np.int64)
        for i, note in enumerate(qns.notes):
            drum = class_map.get(note.pitch)
            if drum is None:
                raise ValueError(
                    f"GrooveConverter: note pitch {note.pitch} at {note.start_time:.3f} s is in "
                    f"no pitch class (known pitches: {sorted(class_map)})")
            steps[i], drums[i] = note.quantized_start_step, drum
            velocities[i], starts[i], pitches[i] = note.velocity, note.start_time, note.pitch
        total_bars = int(np.ceil((steps.max() + 1) / self._steps_per_bar))
        if self.is_inferring and self._split_bars:
            # Inference reads the bar grid: the sequence's whole bars (total_time, which decoded
            # samples set), and at least one window, so a groove whose last bars are silent
            # (e.g. the model's own sample, written to MIDI and read back) still encodes.
            grid_bars = qns.total_quantized_steps // self._steps_per_bar
            total_bars = max(total_bars, grid_bars, self._split_bars)
        max_step = self._steps_per_bar * total_bars
        # Loudest note per (step, drum); on a velocity tie the earliest onset, then the lower pitch
        # (Magenta: the first in note order). Independent of note order (tests/test_note_order.py),
        # so MIDI readers that list simultaneous notes in another order give the same tensors.
        order = np.lexsort((np.arange(n), pitches, starts, -velocities, drums, steps))
        cell = steps[order] * self._num_drums + drums[order]
        first = np.concatenate([[True], cell[1:] != cell[:-1]])
        keep = order[first]
        hits = np.zeros((max_step, self._num_drums))
        vels = np.zeros((max_step, self._num_drums))
        offsets = np.zeros((max_step, self._num_drums))
        s, d = steps[keep], drums[keep]
        hits[s, d] = 1.0
        vels[s, d] = velocities[keep] / 127.0
        offsets[s, d] = (step_length * s - starts[keep]) / step_length * 2
        return hits, vels, offsets

    def _input_matrices(self, hits, vels, offsets):
        """The encoder's view: dropout, tapify, humanize, fixed velocities, removed drums."""
        in_hits, in_vels, in_offsets = hits.copy(), vels.copy(), offsets.copy()
        if self._note_dropout:  # applied in every mode, as Magenta
            probability = self._rng.uniform(0.0, self._max_note_dropout_probability)
            weights = np.maximum(0.2, 1 - in_vels)
            keep = 1 - self._rng.binomial(1, weights * probability)
            in_hits *= keep
            in_vels *= keep
            in_offsets *= keep
        if self._tapify:
            rows = np.arange(len(hits))
            loudest = np.argmax(in_vels, axis=1)  # after dropout; values from the originals
            for m in (in_hits, in_vels, in_offsets):
                m[:] = 0
            in_hits[:, TAP_CLASS] = hits[rows, loudest]
            in_vels[:, TAP_CLASS] = vels[rows, loudest]
            in_offsets[:, TAP_CLASS] = offsets[rows, loudest]
        if self._humanize:
            in_vels[:] = 0
            in_offsets[:] = 0
        if self._fixed_velocities:
            in_vels[:] = 0
        if self._add_instruments:
            for m in (in_hits, in_vels, in_offsets):
                m[:, self._add_instruments] = 0
        return in_hits, in_vels, in_offsets

    def _flatten(self, hits, vels, offsets):
        """Concatenate [hits, velocities, offsets] per step (per drum when split_instruments)."""
        if self._categorical_outputs:
            vels = to_categorical(vels, 0.0, 1.0, self._num_velocity_bins)
            offsets = to_categorical(offsets, -1.0, 1.0, self._num_offset_bins)
        if self._split_instruments:
            length = hits.shape[0] * self._num_drums
            hits, vels, offsets = (m.reshape(length, -1) for m in (hits, vels, offsets))
        return np.concatenate([hits, vels, offsets], axis=1).astype(np.float32)

    def _controls(self, hits):
        """Bool controls: hits (hits_as_controls) then the instrument cycle (split_instruments)."""
        max_step = hits.shape[0]
        length = max_step * self._num_drums if self._split_instruments else max_step
        parts = []
        if self._hits_as_controls:
            parts.append(hits.reshape(length, -1).astype(np.bool_))
        if self._split_instruments:
            parts.append(np.tile(np.eye(self._num_drums, dtype=np.bool_), (max_step, 1)))
        if not parts:
            return self.empty_controls(length)
        return np.concatenate(parts, axis=1)

    def _to_tensors_fn(self, note_sequence: music_pb2.NoteSequence) -> ConverterTensors:
        qns = self._quantize(note_sequence)
        if qns is None or not qns.notes:
            return ConverterTensors()
        hits, vels, offsets = self._performance_matrices(qns)
        outputs = self._flatten(hits, vels, offsets)
        inputs = self._flatten(*self._input_matrices(hits, vels, offsets))
        controls = self._controls(hits)
        if self._split_bars:
            window = self._steps_per_bar * self._split_bars
            hop = self._hop_size or window
            if self._split_instruments:
                window *= self._num_drums
                hop *= self._num_drums
            inputs, outputs, controls = (extract_windows(m, window, hop)
                                         for m in (inputs, outputs, controls))
        else:
            inputs, outputs, controls = [inputs], [outputs], [controls]
        return ConverterTensors(inputs=inputs, outputs=outputs, controls=controls,
                                lengths=[len(x) for x in inputs])

    # ---- tensors -> NoteSequence ---------------------------------------------------------
    def _step_features(self, sample, i):
        """(hits, velocities, offsets) of model step i: D entries each (one-hot rows if binned)."""
        d = self._num_drums
        if self._split_instruments:
            rows = sample[i * d:(i + 1) * d]
            if self._categorical_outputs:
                return np.split(rows, [1, self._num_velocity_bins + 1], axis=1)
            return rows.T
        if self._categorical_outputs:
            hits, vels, offsets = np.split(sample[i], [d, d * (self._num_velocity_bins + 1)])
            return hits, np.split(vels, d), np.split(offsets, d)
        return np.split(sample[i], 3)

    def _decode_velocity_offset(self, velocity, offset):
        """MIDI velocity (1..127: a velocity-0 note-on would be a note-off and the hit would vanish
        from the file) and offset in steps ([-0.5, 0.5], positive = early)."""
        if self._categorical_outputs:
            return (int(np.clip(int((np.argmax(velocity) / len(velocity)) * 127), 1, 127)),
                    np.argmax(offset) / len(offset) - 0.5)
        return (int(np.clip(int(np.round(velocity * 127)), 1, 127)),
                float(np.clip(offset / 2, -0.5, 0.5)))

    def from_tensors(self, samples, controls=None, qpm: float = DEFAULT_QPM) -> list:
        """One NoteSequence per sample (T, output_depth); `controls` are not needed."""
        del controls
        step_length = 60.0 / qpm / self._steps_per_quarter
        classes = self.pitch_classes
        sequences = []
        for sample in samples:
            sample = np.asarray(sample)
            ns = music_pb2.NoteSequence()
            ns.tempos.add(qpm=qpm)
            n_steps = len(sample) // (self._num_drums if self._split_instruments else 1)
            for i in range(n_steps):
                hits, vels, offsets = self._step_features(sample, i)
                for j in range(len(hits)):
                    if not hits[j] > 0.5:
                        continue
                    velocity, offset = self._decode_velocity_offset(vels[j], offsets[j])
                    note = ns.notes.add(instrument=DRUM_INSTRUMENT, is_drum=True,
                                        pitch=classes[j][0], velocity=velocity)
                    # MIDI has no time before 0: an early (pushed) first hit starts at 0.
                    note.start_time = max(0.0, (i - offset) * step_length)
                    note.end_time = note.start_time + step_length
                    ns.total_time = max(ns.total_time, note.end_time)
            # The bar grid, not the last hit, sets the length (a file lasts its whole bars).
            ns.total_time = max(ns.total_time, n_steps * step_length)
            sequences.append(ns)
        return sequences
