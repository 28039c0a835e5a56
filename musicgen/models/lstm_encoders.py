"""LSTM encoders of MusicVAE: sequence (B, T, D) + lengths -> embedding (B, N).

* `BidirectionalLstmEncoder`: stacked bidirectional LSTMs (each layer reads the previous layer's
  concatenated forward/backward outputs); the embedding is [last forward h, last backward h] of
  the top layer, respecting each sequence's length (Magenta's stack_bidirectional_dynamic_rnn).
* `HierarchicalLstmEncoder`: level 0 encodes fixed-size segments (all segments of the batch in
  one call), the next level encodes the sequence of segment embeddings, until one remains.
"""
from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from musicgen.models.lstm_utils import check_level_lengths, length_mask, segment_lengths


class BidirectionalLstmEncoder(keras.layers.Layer):
    """Stacked bidirectional LSTM encoder; `hparams.enc_rnn_size` units per layer per direction."""

    def __init__(self, hparams, **kwargs):
        super().__init__(**kwargs)
        self.units = list(hparams.enc_rnn_size)
        rate = 1.0 - float(hparams.dropout_keep_prob)
        self.dropouts = [keras.layers.Dropout(rate) for _ in self.units] if rate > 0 else []
        self.layers_ = [
            keras.layers.Bidirectional(
                keras.layers.LSTM(u, return_sequences=True, return_state=True), name=f"bilstm_{i}")
            for i, u in enumerate(self.units)]

    @property
    def output_depth(self) -> int:
        return 2 * self.units[-1]

    def build(self, input_shape):
        depth = input_shape[-1]
        for layer, units in zip(self.layers_, self.units):
            layer.build((None, None, depth))
            depth = 2 * units
        self.built = True

    def call(self, sequence, lengths, training=None):
        mask = length_mask(lengths, sequence.shape[1], dtype="bool")
        x = sequence
        for i, layer in enumerate(self.layers_):
            if self.dropouts:
                x = self.dropouts[i](x, training=training)
            x, h_fw, _, h_bw, _ = layer(x, mask=mask, training=training)
        return ops.concatenate([h_fw, h_bw], axis=-1)


class HierarchicalLstmEncoder(keras.layers.Layer):
    """Hierarchical encoder: `level_lengths[i]` items per segment at level i (Magenta's order).

    The product of level_lengths must equal hparams.max_seq_len. `lengths` may be (B,) totals or
    (B, num_segments) per-segment lengths of level 0.
    """

    def __init__(self, hparams, level_lengths: Sequence[int], core_encoder_cls=None, **kwargs):
        super().__init__(**kwargs)
        self.level_lengths = check_level_lengths("HierarchicalLstmEncoder", level_lengths,
                                                 hparams.max_seq_len)
        core_encoder_cls = core_encoder_cls or BidirectionalLstmEncoder
        self.encoders = [core_encoder_cls(hparams, name=f"level_{i}")
                         for i in range(len(self.level_lengths))]

    @property
    def output_depth(self) -> int:
        return self.encoders[-1].output_depth

    def level(self, i: int):
        return self.encoders[i]

    def build(self, input_shape):
        depth = input_shape[-1]
        for enc in self.encoders:
            enc.build((None, None, depth))
            depth = enc.output_depth
        self.built = True

    def call(self, sequence, lengths, training=None):
        num_segments = sequence.shape[1] // self.level_lengths[0]
        lengths = ops.reshape(segment_lengths(lengths, num_segments, self.level_lengths[0]), (-1,))
        x = sequence
        for i, enc in enumerate(self.encoders):
            seg_len = self.level_lengths[i]
            emb = enc(ops.reshape(x, (-1, seg_len, x.shape[-1])), lengths, training=training)
            if i + 1 < len(self.encoders):
                next_len = self.level_lengths[i + 1]
                x = emb
                lengths = ops.full_like(ops.reshape(emb[:, 0], (-1, next_len))[:, 0], next_len,
                                        dtype="int32")
        return emb
