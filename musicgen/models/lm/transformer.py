"""Decoder-only transformer core with relative attention (Music Transformer, Music GPT-2).

    x -> dropout -> N x [x + drop(RelAttn(LN(x))); x + drop(FFN(LN(x)))] -> LN

Pre-LayerNorm blocks (tensor2tensor's default "n" / "da" pre/post-processing, which the Music
Transformer was trained with, and GPT-2's layout), FFN activation `relu` (Music Transformer) or
`gelu` (GPT-2). Positions are relative only (no absolute position embedding), so a cached decoding
step needs nothing but its index.

The decoding state is a key/value cache: one (keys, values) pair of (B, H, max_len, dh) tensors per
layer, written at `index` by each call (`RelativeAttention`).

>>> from musicgen.models.lm.hparams import LMHParams
>>> core = TransformerCore(LMHParams(core="transformer", num_layers=2, num_heads=2,
...                                  embedding_size=8, filter_size=16, max_relative_position=4))
>>> h, _ = core(keras.ops.zeros((1, 6, 8)))
>>> tuple(h.shape)
(1, 6, 8)
"""
from __future__ import annotations

from typing import Optional

import keras

from musicgen.models.lm.relative_attention import RelativeAttention


def feed_forward(width: int, filter_size: int, activation: str, name: str) -> keras.Sequential:
    if activation not in ("relu", "gelu"):
        raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
    return keras.Sequential([keras.layers.Dense(filter_size, activation=activation),
                             keras.layers.Dense(width)], name=name)


class TransformerBlock(keras.layers.Layer):
    """One pre-LN block: relative self-attention then the position-wise FFN, both residual."""

    def __init__(self, width: int, num_heads: int, filter_size: int, max_relative_position: int,
                 activation: str = "relu", dropout: float = 0.0, attention_dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if width % num_heads:
            raise ValueError(f"embedding_size {width} is not divisible by num_heads {num_heads}")
        self.width = width
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.attention = RelativeAttention(num_heads, width // num_heads, max_relative_position,
                                           attention_dropout, name="attention")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.ffn = feed_forward(width, filter_size, activation, "ffn")
        self.drop1, self.drop2 = keras.layers.Dropout(dropout), keras.layers.Dropout(dropout)

    def build(self, input_shape):
        for layer in (self.norm1, self.attention, self.norm2, self.ffn):
            layer.build(input_shape)
        self.built = True

    def call(self, x, cache=None, index=None, training=None):
        y, cache = self.attention(self.norm1(x), cache=cache, index=index, training=training)
        x = x + self.drop1(y, training=training)
        x = x + self.drop2(self.ffn(self.norm2(x)), training=training)
        return x, cache


class TransformerCore(keras.layers.Layer):
    """N relative-attention blocks (hparams: num_layers, num_heads, embedding_size = model width,
    filter_size, max_relative_position, activation, dropout, attention_dropout)."""

    def __init__(self, hparams, **kwargs):
        super().__init__(**kwargs)
        width = int(hparams.embedding_size)
        self.blocks = [TransformerBlock(width, hparams.num_heads, hparams.filter_size,
                                        hparams.max_relative_position, hparams.activation,
                                        hparams.dropout, hparams.attention_dropout,
                                        name=f"block_{i}")
                       for i in range(int(hparams.num_layers))]
        if not self.blocks:
            raise ValueError("num_layers must be >= 1")
        self.input_dropout = keras.layers.Dropout(hparams.dropout)
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.output_size = width

    def build(self, input_shape):
        for block in self.blocks:
            block.build(input_shape)
        self.final_norm.build(input_shape)
        self.built = True

    def initial_state(self, batch_size: int, max_length: int) -> tuple:
        return tuple(b.attention.initial_cache(batch_size, max_length) for b in self.blocks)

    def call(self, x, state: Optional[tuple] = None, index=None, training=None):
        """(B, T, D) -> ((B, T, D), new cache); with a cache, x is positions index .. index+T-1."""
        x = self.input_dropout(x, training=training)
        new_state = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, cache=None if state is None else state[i], index=index,
                                   training=training)
            new_state.append(layer_cache)
        return self.final_norm(x), (None if state is None else tuple(new_state))
