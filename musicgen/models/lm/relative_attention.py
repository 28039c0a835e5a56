"""Causal self-attention with learned relative-position embeddings (Music Transformer).

Score of query i on key j (i >= j, one head of depth dh, q already scaled by dh**-0.5):

    logit[i, j] = q_i . k_j + q_i . E[i - j]      (E[d] = 0 for d >= max_relative_position)

Whole sequence (training): `Q @ Er^T` against the embeddings ordered by distance L-1 .. 0, then the
skew (`relative_shift`): pad one zero column on the left, reshape (L, L+1) -> (L+1, L), drop the
first row, reshape to (L, L). Extra memory O(L * dh) for Er, against O(L^2 * dh) when an embedding is
gathered for every (query, key) pair (`naive_relative_logits`, kept for tests and the bench).

One decoding step with a key/value cache: the query's relative logits `q . E^T` (max_relative_position
of them) are read directly at each key's distance (`cached_relative_logits`), no skew.

>>> layer = RelativeAttention(num_heads=2, head_size=4, max_relative_position=6)
>>> x = keras.random.normal((1, 5, 8), seed=0)
>>> full, _ = layer(x)
>>> cache = layer.initial_cache(1, 5)
>>> step, cache = layer(x[:, :3], cache=cache, index=0)
>>> step2, cache = layer(x[:, 3:], cache=cache, index=3)
>>> bool(ops.max(ops.abs(ops.concatenate([step, step2], 1) - full)) < 1e-5)
True
"""
from __future__ import annotations

import keras
from keras import ops

NEG_INF = -1e9


def relative_shift(x):
    """Skew (..., Lq, Lk) logits against keys ordered by distance Lk-1 .. 0 into key order.

    out[..., i, j] = x[..., i, j + Lq - 1 - i] wherever j <= i + Lk - Lq (the causal part; the rest
    is garbage to be masked). Lq == Lk == L is Music Transformer's skew; Lk = memory + Lq is
    Transformer-XL's `rel_shift`.
    """
    shape = ops.shape(x)
    lead, lq, lk = tuple(shape[:-2]), shape[-2], shape[-1]
    x = ops.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[1, 0]])
    x = ops.reshape(x, lead + (lk + 1, lq))[..., 1:, :]
    return ops.reshape(x, lead + (lq, lk))


def distance_ordered(embeddings, length: int):
    """(H, max_rel, dh) embeddings by distance -> (H, length, dh) for distances length-1 .. 0
    (zero rows for distances >= max_rel)."""
    max_rel = embeddings.shape[1]
    used = ops.flip(embeddings[:, :min(length, max_rel)], axis=1)
    if length > max_rel:
        used = ops.pad(used, [[0, 0], [length - max_rel, 0], [0, 0]])
    return used


def skewed_relative_logits(q, embeddings):
    """q (B, H, L, dh) x embeddings (H, max_rel, dh) -> (B, H, L, L) relative logits by skewing."""
    er = distance_ordered(embeddings, q.shape[2])
    return relative_shift(ops.einsum("bhld,hmd->bhlm", q, er))


def naive_relative_logits(q, embeddings):
    """The O(L^2 dh) reference: gather E[i - j] for every (i, j), then dot with q_i."""
    length, max_rel = q.shape[2], embeddings.shape[1]
    distance = ops.arange(length)[:, None] - ops.arange(length)[None, :]
    valid = ops.logical_and(distance >= 0, distance < max_rel)
    gathered = ops.take(embeddings, ops.clip(distance, 0, max_rel - 1), axis=1)  # (H, L, L, dh)
    gathered = gathered * ops.cast(valid, gathered.dtype)[None, :, :, None]
    # (1, H, L, L, dh) @ (B, H, L, dh, 1): no transposed copy of the gathered tensor
    return ops.squeeze(ops.matmul(gathered[None], q[..., None]), -1)


def cached_relative_logits(q, embeddings, index, num_keys: int):
    """Relative logits (B, H, n, num_keys) of queries at positions index .. index+n-1 against key
    positions 0 .. num_keys-1, read from q . E^T at each distance (no skew); 0 where the distance
    is >= max_rel or < 0 (future keys, masked by the caller)."""
    batch, heads, n, _ = q.shape
    max_rel = embeddings.shape[1]
    by_distance = ops.einsum("bhnd,hmd->bhnm", q, embeddings)          # (B, H, n, max_rel)
    distance = _query_positions(index, n)[:, None] - ops.arange(num_keys)[None, :]
    take = ops.broadcast_to(ops.clip(distance, 0, max_rel - 1)[None, None],
                            (ops.shape(q)[0], heads, n, num_keys))
    rel = ops.take_along_axis(by_distance, take, axis=-1)
    valid = ops.logical_and(distance >= 0, distance < max_rel)
    return ops.where(valid[None, None], rel, ops.zeros_like(rel))


def _query_positions(index, n: int):
    return ops.cast(index, "int32") + ops.arange(n, dtype="int32")


def causal_mask_from(index, n: int, num_keys: int):
    """(n, num_keys) bool: key j visible to the query at index + t (j <= index + t)."""
    return ops.arange(num_keys)[None, :] <= _query_positions(index, n)[:, None]


class RelativeAttention(keras.layers.Layer):
    """Multi-head causal self-attention with per-head learned relative embeddings.

    Args:
      num_heads, head_size: heads and depth per head (model width = num_heads * head_size).
      max_relative_position: distances 0 .. max_relative_position-1 get an embedding.
      dropout: on the attention weights (training only).

    call(x (B, T, D), cache=None, index=None) -> (y (B, T, D), cache). Without a cache: the whole
    sequence, causal, relative logits by skewing. With a cache ((B, H, M, dh) keys, values) from
    `initial_cache(B, M)`: x holds positions index .. index+T-1, written into the cache; queries
    attend to every cached key at or before their position.
    """

    def __init__(self, num_heads: int, head_size: int, max_relative_position: int,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if max_relative_position < 1:
            raise ValueError(f"max_relative_position must be >= 1, got {max_relative_position}")
        self.num_heads, self.head_size = int(num_heads), int(head_size)
        self.max_relative_position = int(max_relative_position)
        width = self.num_heads * self.head_size
        self.qkv = keras.layers.Dense(3 * width, name="qkv")
        self.out = keras.layers.Dense(width, name="out")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        width = self.num_heads * self.head_size
        self.qkv.build(input_shape)
        self.out.build(tuple(input_shape[:-1]) + (width,))
        self.relative_embeddings = self.add_weight(
            name="relative_embeddings",
            shape=(self.num_heads, self.max_relative_position, self.head_size),
            initializer=keras.initializers.RandomNormal(stddev=self.head_size ** -0.5))
        self.built = True

    def initial_cache(self, batch_size: int, max_length: int):
        shape = (batch_size, self.num_heads, max_length, self.head_size)
        return (ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))

    def _heads(self, x):
        """(B, T, 3 * H * dh) -> q, k, v each (B, H, T, dh); q scaled by dh**-0.5."""
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.transpose(ops.reshape(x, (b, t, 3, self.num_heads, self.head_size)), (2, 0, 3, 1, 4))
        return x[0] * (self.head_size ** -0.5), x[1], x[2]

    def call(self, x, cache=None, index=None, training=None):
        q, k, v = self._heads(self.qkv(x))
        embeddings = ops.cast(self.relative_embeddings, q.dtype)
        n = x.shape[1]
        if cache is None:
            logits = ops.einsum("bhid,bhjd->bhij", q, k) + skewed_relative_logits(q, embeddings)
            mask = causal_mask_from(0, n, n)
        else:
            k_cache, v_cache = cache
            start = [0, 0, ops.cast(index, "int32"), 0]
            k = ops.slice_update(k_cache, start, ops.cast(k, k_cache.dtype))
            v = ops.slice_update(v_cache, start, ops.cast(v, v_cache.dtype))
            cache = (k, v)
            num_keys = k.shape[2]
            logits = (ops.einsum("bhid,bhjd->bhij", q, k)
                      + cached_relative_logits(q, embeddings, index, num_keys))
            mask = causal_mask_from(index, n, num_keys)
        return self._attend(logits, mask, v, training), cache

    def _attend(self, logits, mask, v, training):
        return self.out(attend(logits, mask, v, self.dropout, training))


def attend(logits, visible, v, dropout, training):
    """Softmax over the visible keys of (B, H, T, K) logits (float32), attention dropout, weights
    times values (B, H, K, dh) -> heads merged (B, T, H * dh)."""
    logits = ops.where(visible[None, None], ops.cast(logits, "float32"), NEG_INF)
    weights = dropout(ops.cast(ops.softmax(logits, axis=-1), v.dtype), training=training)
    y = ops.einsum("bhij,bhjd->bhid", weights, v)
    b, heads, t, dh = ops.shape(y)[0], y.shape[1], ops.shape(y)[2], y.shape[3]
    return ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (b, t, heads * dh))
