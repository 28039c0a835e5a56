"""One Sampler for every token LM: greedy, temperature, top-k, top-p; seeded; compiled loop.

The decode loop is a `keras.ops.while_loop` over the model's `call_with_cache(ids, cache, index)`
(see token_lm.py): the prompt is fed once to fill the cache ("prefill"), then each iteration feeds
the last token, picks the next one and writes it with `ops.slice_update`, until every row has
produced EOS or `max_new_tokens` are written. The cache is any nested structure of tensors (an RNN
state today, a key/value cache or Transformer-XL memory tomorrow) and the loop never looks inside.

Randomness: one uniform draw of shape (max_new_tokens, B, V) from the integer seed before the
loop, turned into Gumbel noise: argmax(filtered_logits / T + Gumbel) is an exact sample of the
filtered softmax, needs no stateful RNG inside the loop (JAX traces it), and one seed gives one
output on every backend run.

Filtering (`filter_logits`): top-k keeps the k largest logits; top-p keeps the smallest set of
most likely tokens whose probability reaches p (ties at the boundary are kept); temperature 0 is
greedy (argmax of the raw logits, no noise).

>>> from musicgen.models.lm.hparams import LMHParams
>>> from musicgen.models.lm.token_lm import TokenLM
>>> lm = TokenLM(LMHParams(core="gru", rnn_size=[16], embedding_size=8), vocab_size=12)
>>> out = Sampler(temperature=1.0, top_k=5, seed=1).generate(lm, [[2, 5]] * 3, 10)
>>> out["tokens"].shape, out["tokens"][:, :2].tolist()
((3, 12), [[2, 5], [2, 5], [2, 5]])
"""
from __future__ import annotations

from typing import Optional

import keras
import numpy as np
from keras import ops

PAD_ID, EOS_ID = 0, 1
NEG_INF = -1e9


def filter_logits(logits, top_k: int = 0, top_p: float = 1.0):
    """Logits (B, V) with everything outside the top-k / top-p set set to a large negative."""
    logits = ops.cast(logits, "float32")
    vocab = logits.shape[-1]
    if top_k and 0 < top_k < vocab:
        kth = ops.top_k(logits, top_k, sorted=True)[0][:, -1:]
        logits = ops.where(logits < kth, NEG_INF, logits)
    if top_p is not None and top_p < 1.0:
        sorted_desc = ops.flip(ops.sort(logits, axis=-1), axis=-1)
        probs = ops.softmax(sorted_desc, axis=-1)
        before = ops.cumsum(probs, axis=-1) - probs           # mass of strictly more likely ones
        keep = ops.cast(before < top_p, "int32")               # always keeps the first
        last = ops.maximum(ops.sum(keep, axis=-1, keepdims=True) - 1, 0)
        threshold = ops.take_along_axis(sorted_desc, last, axis=-1)
        logits = ops.where(logits < threshold, NEG_INF, logits)
    return logits


def gumbel_noise(shape, seed: int):
    """-log(-log(U)) for U ~ uniform(0, 1), from an integer seed (stateless)."""
    u = keras.random.uniform(shape, minval=1e-7, maxval=1.0 - 1e-7, seed=int(seed))
    return -ops.log(-ops.log(u))


class Sampler:
    """Next-token selection + the compiled decode loop.

    Args:
      temperature: logits are divided by it; 0 = greedy.
      top_k: keep the k most likely tokens (0 = all).
      top_p: nucleus sampling mass (1.0 = all).
      seed: integer seed (None: drawn from NumPy's global generator at each call).
      eos_id: rows stop after this id; later positions are PAD.
    """

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 seed: Optional[int] = None, eos_id: int = EOS_ID):
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        self.temperature, self.top_k, self.top_p = float(temperature), int(top_k), float(top_p)
        self.seed, self.eos_id = seed, int(eos_id)
        self._compiled = {}

    def select(self, logits, noise):
        """Next ids (B,) from logits (B, V) and Gumbel noise (B, V)."""
        if self.temperature == 0.0:
            return ops.cast(ops.argmax(logits, axis=-1), "int32")
        filtered = filter_logits(logits, self.top_k, self.top_p)
        return ops.cast(ops.argmax(filtered / self.temperature + noise, axis=-1), "int32")

    def _loop(self, model, prompt, noise):
        """The decode loop over (B, L) `prompt` with pre-drawn (max_new, B, V) Gumbel `noise`."""
        batch, plen = prompt.shape
        max_new = noise.shape[0]
        cache = model.initial_cache(batch, plen + max_new)
        if plen > 1:
            _, cache = model.call_with_cache(prompt[:, :-1], cache, 0)
        tokens = ops.concatenate([prompt, ops.zeros((batch, max_new), "int32")], axis=1)

        def cond(i, tokens, cache, done):
            return ops.logical_and(i < max_new, ops.logical_not(ops.all(done)))

        def body(i, tokens, cache, done):
            pos = plen - 1 + i
            last = ops.slice(tokens, [0, pos], [batch, 1])
            logits, cache = model.call_with_cache(last, cache, pos)
            nxt = self.select(logits[:, -1], noise[i])
            nxt = ops.where(done, PAD_ID, nxt)
            tokens = ops.slice_update(tokens, [0, pos + 1], ops.expand_dims(nxt, 1))
            return i + 1, tokens, cache, ops.logical_or(done, nxt == self.eos_id)

        done = ops.zeros((batch,), "bool")
        _, tokens, _, done = ops.while_loop(cond, body, (ops.convert_to_tensor(0), tokens, cache,
                                                         done))
        return tokens

    def generate(self, model, prompt, max_new_tokens: int, seed: Optional[int] = None) -> dict:
        """Decode after `prompt` ((B, L) ids, L >= 1, e.g. [[BOS]] * n).

        Returns {"tokens": (B, L + max_new_tokens) int32 numpy (PAD after EOS),
        "lengths": (B,) tokens up to and including EOS (or all)}; prompt positions untouched.
        """
        prompt = np.asarray(prompt, np.int32)
        if prompt.ndim != 2 or prompt.shape[1] < 1:
            raise ValueError(f"prompt must be (batch, length >= 1) ids, got shape {prompt.shape}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        seed = self.seed if seed is None else seed
        if seed is None:
            seed = int(np.random.randint(0, 2 ** 31 - 1))
        noise = gumbel_noise((int(max_new_tokens), prompt.shape[0], model.vocab_size), int(seed))
        tokens = ops.convert_to_numpy(self._compiled_loop(model)(ops.convert_to_tensor(prompt),
                                                                 noise))
        return {"tokens": tokens, "lengths": token_lengths(tokens, prompt.shape[1], self.eos_id)}

    def _compiled_loop(self, model):
        """The loop compiled for the backend: tf.function on TensorFlow (one trace per prompt /
        noise shape); JAX compiles the while_loop itself (lax.while_loop); PyTorch runs eagerly."""
        key = id(model)
        if key not in self._compiled:
            def loop(prompt, noise):
                return self._loop(model, prompt, noise)
            compiled = loop
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf  # the one backend-specific line: graph-compile the loop
                compiled = tf.function(loop)
            self._compiled[key] = compiled
        return self._compiled[key]


def token_lengths(tokens: np.ndarray, prompt_len: int, eos_id: int = EOS_ID) -> np.ndarray:
    """Tokens of each row up to and including the first EOS after the prompt (or the row)."""
    out = np.full(len(tokens), tokens.shape[1], np.int32)
    for r, row in enumerate(tokens):
        hits = np.nonzero(row[prompt_len:] == eos_id)[0]
        if hits.size:
            out[r] = prompt_len + hits[0] + 1
    return out


def python_loop_generate(model, prompt, max_new_tokens: int, sampler: Sampler,
                         seed: int) -> np.ndarray:
    """Reference decoder: one eager model call per token from Python (the bench baseline; the
    same noise as `Sampler.generate`, so equal outputs)."""
    prompt = np.asarray(prompt, np.int32)
    batch, plen = prompt.shape
    cache = model.initial_cache(batch, plen + max_new_tokens)
    if plen > 1:
        _, cache = model.call_with_cache(prompt[:, :-1], cache, 0)
    noise = gumbel_noise((max_new_tokens, batch, model.vocab_size), seed)
    tokens = [prompt[:, i] for i in range(plen)]
    done = np.zeros(batch, bool)
    for i in range(max_new_tokens):
        logits, cache = model.call_with_cache(tokens[-1][:, None], cache, plen - 1 + i)
        nxt = np.where(done, PAD_ID, ops.convert_to_numpy(sampler.select(logits[:, -1], noise[i])))
        tokens.append(nxt.astype(np.int32))
        done |= nxt == sampler.eos_id
        if done.all():
            break
    out = np.stack(tokens, axis=1)
    return np.pad(out, [(0, 0), (0, plen + max_new_tokens - out.shape[1])])
