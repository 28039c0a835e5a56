"""LSTM building blocks shared by the encoders and decoders (Magenta's lstm_utils, in keras.ops).

`StackedLstm` is Magenta's `rnn_cell`: a stack of LSTM layers, each with dropout on its input
(DropoutWrapper(input_keep_prob), a fresh mask at every time step). It runs either a whole
sequence (`call`, keras.layers.LSTM: fast teacher forcing) or one step (`step`, the same
weights through `layer.cell`: sampling and scheduled sampling).
"""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops


def small_normal(stddev: float = 0.001):
    """Magenta's kernel initializer for the latent and initial-state projections."""
    return keras.initializers.RandomNormal(stddev=stddev)


def check_level_lengths(owner: str, level_lengths, max_seq_len: int) -> list:
    """Level lengths as ints; ValueError unless their product equals max_seq_len."""
    levels = [int(n) for n in level_lengths]
    if int(np.prod(levels)) != max_seq_len:
        raise ValueError(f"{owner}: product of level_lengths {levels} must equal max_seq_len "
                         f"{max_seq_len}")
    return levels


def length_mask(lengths, max_len: int, dtype="float32"):
    """(B, max_len) mask that is 1 where step < length."""
    steps = ops.arange(max_len, dtype="int32")
    mask = ops.expand_dims(steps, 0) < ops.expand_dims(ops.cast(lengths, "int32"), 1)
    return mask if dtype == "bool" else ops.cast(mask, dtype)


def segment_lengths(lengths, num_segments: int, segment_len: int):
    """(B,) total lengths -> (B, num_segments) per-segment lengths; (B, S) lengths pass through.

    A total length L fills the segments in order: segment i gets clip(L - i*segment_len, 0,
    segment_len). For L in {0, total} this is Magenta's `maybe_split_sequence_lengths`.
    """
    lengths = ops.cast(lengths, "int32")
    if len(lengths.shape) == 2:
        if lengths.shape[1] is not None and lengths.shape[1] != num_segments:
            raise ValueError(f"lengths has {lengths.shape[1]} segments, expected {num_segments}")
        return ops.minimum(lengths, segment_len)
    starts = ops.arange(num_segments, dtype="int32") * segment_len
    return ops.clip(ops.expand_dims(lengths, 1) - ops.expand_dims(starts, 0), 0, segment_len)


def repeat_over_time(v, num_steps: int):
    """(B, D) -> (B, num_steps, D)."""
    return ops.repeat(ops.expand_dims(v, 1), num_steps, axis=1)


def concat_nonempty(tensors, axis=-1):
    """Concatenate the tensors that are not None."""
    tensors = [t for t in tensors if t is not None]
    return tensors[0] if len(tensors) == 1 else ops.concatenate(tensors, axis=axis)


class StackedLstm(keras.layers.Layer):
    """Stack of LSTMs with per-step input dropout; sequence (`call`) and single-step (`step`) modes.

    States are a list with one [h, c] pair per layer.
    """

    def __init__(self, units: Sequence[int], dropout_keep_prob: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = [int(u) for u in units]
        rate = 1.0 - float(dropout_keep_prob)
        self.dropouts = [keras.layers.Dropout(rate) for _ in self.units] if rate > 0 else []
        self.lstms = [keras.layers.LSTM(u, return_sequences=True, return_state=True,
                                        name=f"lstm_{i}") for i, u in enumerate(self.units)]

    @property
    def state_sizes(self) -> list:
        """Flat sizes [h0, c0, h1, c1, ...]."""
        return [u for u in self.units for _ in range(2)]

    @property
    def output_size(self) -> int:
        return self.units[-1]

    def build(self, input_shape):
        depth = input_shape[-1]
        for lstm, units in zip(self.lstms, self.units):
            lstm.build((None, None, depth))
            depth = units
        self.built = True

    def call(self, sequence, initial_state=None, mask=None, training=None):
        """(B, T, D) -> (outputs (B, T, H_last), final states)."""
        states = []
        x = sequence
        for i, lstm in enumerate(self.lstms):
            if self.dropouts:
                x = self.dropouts[i](x, training=training)
            init = None if initial_state is None else list(initial_state[i])
            x, h, c = lstm(x, initial_state=init, mask=mask, training=training)
            states.append([h, c])
        return x, states

    def step(self, x, states, training=None):
        """One time step: (B, D) input and states -> ((B, H_last) output, new states)."""
        new_states = []
        for i, lstm in enumerate(self.lstms):
            if self.dropouts:
                x = self.dropouts[i](x, training=training)
            cell = lstm.cell
            if cell.compute_dtype == cell.variable_dtype:
                # .call skips Layer.__call__ bookkeeping: this runs once per step, often eagerly.
                x, state = cell.call(x, list(states[i]), training=training)
            else:  # mixed precision: __call__ casts inputs, states and variables
                x, state = cell(x, list(states[i]), training=training)
            new_states.append(list(state))
        return x, new_states


class InitialState(keras.layers.Layer):
    """Magenta's `initial_cell_state_from_embedding`: tanh(dense(z)) split into LSTM states."""

    def __init__(self, state_sizes: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.state_sizes = list(state_sizes)
        self.dense = keras.layers.Dense(sum(self.state_sizes), activation="tanh",
                                        kernel_initializer=small_normal(), name="dense")

    def build(self, input_shape):
        self.dense.build((None, input_shape[-1]))
        self.built = True

    def call(self, z):
        flat = self.dense(z)
        bounds, total = [], 0
        for size in self.state_sizes[:-1]:
            total += size
            bounds.append(total)
        parts = ops.split(flat, bounds, axis=-1)
        return [[parts[i], parts[i + 1]] for i in range(0, len(parts), 2)]
