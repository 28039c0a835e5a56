"""Transformer-XL core (Dai et al. 2019): segment-level recurrence + relative positional encoding.

A window of T tokens is read in segments of `segment_len` (x_len). Each layer's input states of
the previous segments, gradient stopped, are kept as memory (the last `mem_len` positions) and
prepended to that layer's keys / values. The score of query i on key j (distance d = i - j):

    (q_i + u) . k_j  +  (q_i + v) . W_R R_d        R: sinusoidal encoding of d;  u, v: learned

computed for a whole segment with the skew (`relative_shift`, Transformer-XL's rel_shift over
memory + segment keys). Post-LN blocks as in the original (and YatingMusic/remi) code.

Memory resets at every window: the training windows of the REMI configs are groups of whole bars
of one piece, several segments long, so consecutive segments of one piece share a batch row and a
new piece starts with empty memory (YatingMusic/remi trains on such groups of 5 segments).

Decoding keeps one (keys, values) buffer per layer of the whole generated length and masks each
query to exactly what the segment-wise pass shows it: from `mem_len` positions before its
segment's start up to itself. Memory is carried across segment boundaries, nothing is recomputed,
and cached logits equal the segment-wise pass (test_transformers.py).

>>> from musicgen.models.lm.hparams import LMHParams
>>> core = TransformerXLCore(LMHParams(core="transformer_xl", num_layers=2, num_heads=2,
...                                    embedding_size=8, filter_size=16, segment_len=4, mem_len=4))
>>> h, _ = core(keras.ops.zeros((1, 10, 8)))
>>> tuple(h.shape)
(1, 10, 8)
"""
from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from musicgen.models.lm.relative_attention import attend, relative_shift
from musicgen.models.lm.transformer import feed_forward


def sinusoid(distances, width: int):
    """(n,) distances -> (n, width) [sin(d w_k), cos(d w_k)], w_k = 10000^(-2k / width)."""
    inv_freq = 1.0 / (10000.0 ** (ops.arange(0, width, 2, dtype="float32") / width))
    angles = ops.cast(distances, "float32")[:, None] * inv_freq[None, :]
    return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


class XLAttention(keras.layers.Layer):
    """Relative multi-head attention of Transformer-XL (no projection biases, as the original)."""

    def __init__(self, num_heads: int, head_size: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.head_size = int(num_heads), int(head_size)
        width = self.num_heads * self.head_size
        self.qkv = keras.layers.Dense(3 * width, use_bias=False, name="qkv")
        self.r_proj = keras.layers.Dense(width, use_bias=False, name="r_proj")
        self.out = keras.layers.Dense(width, use_bias=False, name="out")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        width = self.num_heads * self.head_size
        self.qkv.build(input_shape)
        self.r_proj.build((None, width))
        self.out.build(tuple(input_shape[:-1]) + (width,))
        self.u = self.add_weight(name="u", shape=(self.num_heads, self.head_size),
                                 initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.num_heads, self.head_size),
                                 initializer="zeros")
        self.built = True

    def _split(self, x):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, t, self.num_heads, self.head_size)), (0, 2, 1, 3))

    def _qkv(self, x):
        return [self._split(t) for t in ops.split(self.qkv(x), 3, axis=-1)]

    def call(self, h, memory=None, training=None):
        """One segment (B, S, D) with memory (B, M, D) or None -> (B, S, D)."""
        q, _, _ = self._qkv(h)
        context = h if memory is None else ops.concatenate([memory, h], axis=1)
        _, k, v = self._qkv(context)
        seg, klen = h.shape[1], context.shape[1]
        r = self.r_proj(sinusoid(ops.arange(klen - 1, -1, -1), q.shape[-1] * self.num_heads))
        r = ops.transpose(ops.reshape(r, (klen, self.num_heads, self.head_size)), (1, 0, 2))
        ac = ops.einsum("bhid,bhjd->bhij", q + self.u[None, :, None], k)
        bd = relative_shift(ops.einsum("bhid,hjd->bhij", q + self.v[None, :, None], r))
        visible = ops.arange(klen)[None, :] <= ops.arange(seg)[:, None] + (klen - seg)
        return self._attend(ac + bd, visible, v, training)

    def call_cached(self, h, cache, index, segment_len: int, mem_len: int):
        """Positions index .. index+n-1 against (B, H, max_len, dh) key / value buffers."""
        k_cache, v_cache = cache
        q, k, v = self._qkv(h)
        start = [0, 0, ops.cast(index, "int32"), 0]
        k_cache = ops.slice_update(k_cache, start, ops.cast(k, k_cache.dtype))
        v_cache = ops.slice_update(v_cache, start, ops.cast(v, v_cache.dtype))
        n, num_keys = h.shape[1], k_cache.shape[2]
        window = mem_len + segment_len
        pos = ops.cast(index, "int32") + ops.arange(n, dtype="int32")
        distance = pos[:, None] - ops.arange(num_keys, dtype="int32")[None, :]
        first = (pos // segment_len) * segment_len - mem_len
        visible = ops.logical_and(distance >= 0, ops.arange(num_keys)[None, :] >= first[:, None])
        ac = ops.einsum("bhid,bhjd->bhij", q + self.u[None, :, None], k_cache)
        # (q + v) . W_R R_d for every d < window: project the query back through W_R, then dot
        # with the sinusoids (H * D * window per query instead of D^2 * window for W_R R).
        kernel = ops.reshape(self.r_proj.kernel, (-1, self.num_heads, self.head_size))
        q_r = ops.einsum("bhnk,mhk->bhnm", q + self.v[None, :, None], ops.cast(kernel, q.dtype))
        by_distance = ops.einsum("bhnm,wm->bhnw", q_r,
                                 ops.cast(sinusoid(ops.arange(window), kernel.shape[0]), q.dtype))
        take = ops.broadcast_to(ops.clip(distance, 0, window - 1)[None, None],
                                (ops.shape(q)[0], self.num_heads, n, num_keys))
        bd = ops.take_along_axis(by_distance, take, axis=-1)
        return self._attend(ac + bd, visible, v_cache, None), (k_cache, v_cache)

    def _attend(self, logits, visible, v, training):
        """Scaled after the sum, as Transformer-XL does: (AC + BD) / sqrt(dh)."""
        logits = ops.cast(logits, "float32") * (self.head_size ** -0.5)
        return self.out(attend(logits, visible, v, self.dropout, training))


class XLBlock(keras.layers.Layer):
    """Post-LN block: LN(h + drop(attn)), LN(h + drop(FFN))."""

    def __init__(self, width, num_heads, filter_size, activation, dropout, attention_dropout,
                 **kwargs):
        super().__init__(**kwargs)
        if width % num_heads:
            raise ValueError(f"embedding_size {width} is not divisible by num_heads {num_heads}")
        self.attention = XLAttention(num_heads, width // num_heads, attention_dropout,
                                     name="attention")
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm1")
        self.ffn = feed_forward(width, filter_size, activation, "ffn")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm2")
        self.drop1, self.drop2 = keras.layers.Dropout(dropout), keras.layers.Dropout(dropout)

    def build(self, input_shape):
        for layer in (self.attention, self.norm1, self.ffn, self.norm2):
            layer.build(input_shape)
        self.built = True

    def _rest(self, h, y, training):
        h = self.norm1(h + self.drop1(y, training=training))
        return self.norm2(h + self.drop2(self.ffn(h), training=training))

    def call(self, h, memory=None, training=None):
        return self._rest(h, self.attention(h, memory, training=training), training)

    def call_cached(self, h, cache, index, segment_len, mem_len):
        y, cache = self.attention.call_cached(h, cache, index, segment_len, mem_len)
        return self._rest(h, y, False), cache


class TransformerXLCore(keras.layers.Layer):
    """N Transformer-XL blocks over segments of hparams.segment_len with hparams.mem_len memory
    (hparams: num_layers, num_heads, embedding_size, filter_size, activation, dropout,
    attention_dropout)."""

    def __init__(self, hparams, **kwargs):
        super().__init__(**kwargs)
        width = int(hparams.embedding_size)
        self.segment_len, self.mem_len = int(hparams.segment_len), int(hparams.mem_len)
        if self.segment_len < 1 or self.mem_len < 0:
            raise ValueError(f"segment_len must be >= 1 and mem_len >= 0, got "
                             f"{self.segment_len} / {self.mem_len}")
        self.blocks = [XLBlock(width, hparams.num_heads, hparams.filter_size, hparams.activation,
                               hparams.dropout, hparams.attention_dropout, name=f"block_{i}")
                       for i in range(int(hparams.num_layers))]
        if not self.blocks:
            raise ValueError("num_layers must be >= 1")
        self.input_dropout = keras.layers.Dropout(hparams.dropout)
        self.output_dropout = keras.layers.Dropout(hparams.dropout)
        self.output_size = width

    def build(self, input_shape):
        for block in self.blocks:
            block.build(input_shape)
        self.built = True

    def initial_state(self, batch_size: int, max_length: int) -> tuple:
        blocks = self.blocks
        shape = (batch_size, blocks[0].attention.num_heads, max_length,
                 blocks[0].attention.head_size)
        return tuple((ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))
                     for _ in blocks)

    def call(self, x, state: Optional[tuple] = None, index=None, training=None):
        """(B, T, D) -> ((B, T, D), cache). Without a cache: segment by segment from empty memory;
        with one: positions index .. index+T-1 decoded against the key / value buffers."""
        x = self.input_dropout(x, training=training)
        if state is not None:
            new_state = []
            for block, cache in zip(self.blocks, state):
                x, cache = block.call_cached(x, cache, index, self.segment_len, self.mem_len)
                new_state.append(cache)
            return x, tuple(new_state)
        memories = [None] * len(self.blocks)
        outputs = []
        for start in range(0, x.shape[1], self.segment_len):
            h = x[:, start:start + self.segment_len]
            for i, block in enumerate(self.blocks):
                memory = memories[i]
                memories[i] = self._remember(memory, h)
                h = block(h, memory, training=training)
            outputs.append(h)
        out = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=1)
        return self.output_dropout(out, training=training), None

    def _remember(self, memory, h):
        """The next segment's memory for one layer: its last mem_len input states, no gradient."""
        if self.mem_len == 0:
            return None
        context = h if memory is None else ops.concatenate([memory, h], axis=1)
        return ops.stop_gradient(context[:, -self.mem_len:])
