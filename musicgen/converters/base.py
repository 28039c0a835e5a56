"""Common base of the data converters: NoteSequence <-> model tensors.

A converter turns one NoteSequence into zero or more fixed-depth tensor windows
(`to_tensors`) and turns model samples back into NoteSequences (`from_tensors`).
Converters know NoteSequences and numpy only: no models, no files, no TensorFlow.

Behaviour follows Magenta's `music_vae/data.py` (BaseNoteSequenceConverter):

* `to_tensors` first splits the sequence on tempo / time-signature changes
  (when `presplit_on_time_changes`), converts each piece with `_to_tensors_fn`, then
  keeps at most `max_tensors_per_notesequence` results: a random subset in
  'train' mode, the first ones otherwise.
* `set_mode('train'|'eval'|'infer')` switches augmentation (train only) and
  inference behaviour.

Example:

>>> conv = SomeConverter(...)                   # doctest: +SKIP
>>> t = conv.to_tensors(note_sequence)          # doctest: +SKIP
>>> seqs = conv.from_tensors(t.outputs)         # doctest: +SKIP
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Optional, Sequence

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

MODES = ("train", "eval", "infer")


@dataclasses.dataclass
class ConverterTensors:
    """Lists of per-window arrays, all of the same length.

    inputs[i]:   (T_i, input_depth)
    outputs[i]:  (T_i, output_depth)
    controls[i]: (T_i, control_depth)  (zero-width when the converter has no controls)
    lengths[i]:  int, or an int array of shape `length_shape` for hierarchical converters
    """

    inputs: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    controls: list = dataclasses.field(default_factory=list)
    lengths: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.inputs)

    def extend(self, other: "ConverterTensors") -> None:
        self.inputs.extend(other.inputs)
        self.outputs.extend(other.outputs)
        self.controls.extend(other.controls)
        self.lengths.extend(other.lengths)

    def select(self, indices: Sequence[int]) -> "ConverterTensors":
        return ConverterTensors(
            inputs=[self.inputs[i] for i in indices],
            outputs=[self.outputs[i] for i in indices],
            controls=[self.controls[i] for i in indices],
            lengths=[self.lengths[i] for i in indices],
        )


def maybe_sample_items(n: int, sample_size: Optional[int], randomize: bool,
                       rng: Optional[np.random.Generator] = None) -> list:
    """Indices of the items kept: all, a random subset (train) or the first `sample_size`."""
    if not sample_size or n <= sample_size:
        return list(range(n))
    if randomize:
        rng = rng or np.random.default_rng()
        return sorted(rng.choice(n, size=sample_size, replace=False).tolist())
    return list(range(sample_size))


def with_notes(note_sequence: music_pb2.NoteSequence, notes) -> music_pb2.NoteSequence:
    """Copy of `note_sequence` (every other field kept) whose notes are `notes`, in that order."""
    out = music_pb2.NoteSequence()
    out.CopyFrom(note_sequence)
    del out.notes[:]
    out.notes.extend(notes)
    return out


def np_onehot(indices, depth: int, dtype=np.bool_) -> np.ndarray:
    """One-hot encode an int sequence into shape (len(indices), depth)."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    out = np.zeros((len(indices), depth), dtype=dtype)
    if len(indices):
        out[np.arange(len(indices)), indices] = 1
    return out


class BaseNoteSequenceConverter(abc.ABC):
    """Base class for converters between NoteSequences and model tensors.

    Args:
      input_depth / output_depth / control_depth: last-axis sizes of the tensors.
      input_dtype / output_dtype / control_dtype: numpy dtypes of the tensors.
      end_token: index of the end token in the output one-hot, or None.
      max_tensors_per_notesequence: cap on windows per (split) NoteSequence.
      length_shape: shape of each `lengths` entry (() or (num_segments,)).
      presplit_on_time_changes: split on tempo / time-signature changes first.
    """

    def __init__(self, input_depth: int, input_dtype, output_depth: int, output_dtype,
                 control_depth: int = 0, control_dtype=np.bool_, end_token: Optional[int] = None,
                 max_tensors_per_notesequence: Optional[int] = None, length_shape=(),
                 presplit_on_time_changes: bool = True):
        self._input_depth = input_depth
        self._input_dtype = input_dtype
        self._output_depth = output_depth
        self._output_dtype = output_dtype
        self._control_depth = control_depth
        self._control_dtype = control_dtype
        self._end_token = end_token
        self._max_tensors_per_notesequence = max_tensors_per_notesequence
        self._length_shape = tuple(length_shape)
        self._presplit_on_time_changes = presplit_on_time_changes
        self._mode = "eval"
        self._rng = np.random.default_rng()

    # ---- properties -----------------------------------------------------------------------
    input_depth = property(lambda self: self._input_depth)
    input_dtype = property(lambda self: self._input_dtype)
    output_depth = property(lambda self: self._output_depth)
    output_dtype = property(lambda self: self._output_dtype)
    control_depth = property(lambda self: self._control_depth)
    control_dtype = property(lambda self: self._control_dtype)
    end_token = property(lambda self: self._end_token)
    length_shape = property(lambda self: self._length_shape)
    mode = property(lambda self: self._mode)
    is_training = property(lambda self: self._mode == "train")
    is_inferring = property(lambda self: self._mode == "infer")

    @property
    def max_tensors_per_notesequence(self):
        return self._max_tensors_per_notesequence

    @max_tensors_per_notesequence.setter
    def max_tensors_per_notesequence(self, value):
        self._max_tensors_per_notesequence = value

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._mode = mode

    def seed(self, seed: Optional[int]) -> None:
        """Seed the converter's own random generator (augmentation, window sampling)."""
        self._rng = np.random.default_rng(seed)

    # ---- conversion -----------------------------------------------------------------------
    @abc.abstractmethod
    def _to_tensors_fn(self, note_sequence: music_pb2.NoteSequence) -> ConverterTensors:
        """Convert one NoteSequence with no time changes into tensors."""

    @abc.abstractmethod
    def from_tensors(self, samples, controls=None) -> list:
        """Convert model output samples (one array per sample) back into NoteSequences."""

    def to_tensors(self, note_sequence: music_pb2.NoteSequence) -> ConverterTensors:
        """Convert a NoteSequence into (at most max_tensors_per_notesequence) tensor windows."""
        if self._presplit_on_time_changes:
            pieces = sequences_lib.split_note_sequence_on_time_changes(note_sequence)
        else:
            pieces = [note_sequence]
        result = ConverterTensors()
        for piece in pieces:
            result.extend(self._to_tensors_fn(piece))
        keep = maybe_sample_items(len(result), self._max_tensors_per_notesequence,
                                  self.is_training, self._rng)
        if len(keep) != len(result):
            result = result.select(keep)
        return result

    def empty_controls(self, length: int) -> np.ndarray:
        """A zero-width (or all-zero) control array for `length` steps."""
        return np.zeros((length, self._control_depth), dtype=self._control_dtype)
