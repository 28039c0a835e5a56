"""Recurrent cores of the token LMs: stacks of SimpleRNN / GRU / LSTM layers.

A core maps embeddings (B, T, E) to hidden states (B, T, H) and carries an explicit state, so the
same weights run a whole window at training time (`keras.layers.LSTM` & co.) and one token at a
time when decoding (their `cell`). The state is a tuple with one list of tensors per layer
(LSTM: [h, c]; GRU / SimpleRNN: [h]), which is the decoding cache of an RNN LM.
"""
from __future__ import annotations

from typing import List, Optional

import keras
from keras import ops

_LAYERS = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


class RecurrentCore(keras.layers.Layer):
    """Stacked recurrent layers with dropout between them.

    >>> core = RecurrentCore("gru", [64, 64])
    >>> h, state = core(keras.ops.zeros((2, 5, 16)), core.initial_state(2))
    >>> tuple(h.shape), len(state)
    ((2, 5, 64), 2)
    """

    def __init__(self, kind: str, sizes: List[int], dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in _LAYERS:
            raise ValueError(f"core must be one of {sorted(_LAYERS)}, got {kind!r}")
        if not sizes:
            raise ValueError("rnn_size must name at least one layer")
        self.kind, self.sizes, self.dropout_rate = kind, [int(s) for s in sizes], float(dropout)
        self.rnns = [_LAYERS[kind](s, return_sequences=True, return_state=True, name=f"{kind}_{i}")
                     for i, s in enumerate(self.sizes)]
        self.dropouts = [keras.layers.Dropout(dropout) for _ in self.sizes]
        self.output_size = self.sizes[-1]

    @property
    def states_per_layer(self) -> int:
        return 2 if self.kind == "lstm" else 1

    def build(self, input_shape):
        shape = tuple(input_shape)
        for rnn, size in zip(self.rnns, self.sizes):
            rnn.build(shape)
            shape = shape[:-1] + (size,)
        self.built = True

    def initial_state(self, batch_size: int, max_length: Optional[int] = None) -> tuple:
        del max_length  # a recurrent state does not grow with the sequence
        return tuple([ops.zeros((batch_size, s), self.compute_dtype)] * self.states_per_layer
                     for s in self.sizes)

    def call(self, x, state: Optional[tuple] = None, index=None, training=None):
        """(B, T, E) -> ((B, T, H), new state). T == 1 runs the cells directly (decoding); the
        position `index` is not needed by a recurrent state."""
        single_step = x.shape[1] == 1
        new_state = []
        for i, (rnn, drop) in enumerate(zip(self.rnns, self.dropouts)):
            layer_state = None if state is None else list(state[i])
            if single_step and layer_state is not None:
                h, s = rnn.cell(x[:, 0], layer_state, training=training)
                s = list(s) if isinstance(s, (list, tuple)) else [s]
                x = ops.expand_dims(h, 1)
            else:
                out = rnn(x, initial_state=layer_state, training=training)
                x, s = out[0], list(out[1:])
            new_state.append(s)
            x = drop(x, training=training)
        return x, tuple(new_state)
