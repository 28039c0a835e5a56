"""Check that the token LMs (musicgen.models.lm) train, sample and round-trip weights on the current
Keras backend (KERAS_BACKEND=tensorflow | jax | torch). Needs only keras, numpy, h5py and the
backend: no TensorFlow, converters or configs.

  KERAS_BACKEND=jax python bench/lm_backend_check.py  ->  bench/results/lm_backend_check_<backend>.json

For each core (rnn, gru, lstm, transformer, transformer_xl): 60 training steps on a fixed synthetic "language" (each token is the
previous one + 1 modulo the event range, so a model can learn it); the loss must fall; greedy
sampling from a prompt must continue the pattern after training; the compiled sampler must equal the
Python loop; save_weights -> load_weights into a fresh model must give identical logits; the
cached step-by-step logits must equal the full pass (attention caches, RNN states alike).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from musicgen.models.lm.hparams import LMHParams  # noqa: E402
from musicgen.models.lm.sampler import Sampler, python_loop_generate  # noqa: E402
from musicgen.models.lm.token_lm import TokenLM  # noqa: E402

VOCAB, EVENTS, T, B = 16, 13, 24, 16  # ids 3..15 are events


def batch(rng):
    start = rng.integers(0, EVENTS, B)
    seq = (start[:, None] + np.arange(T - 1)[None, :]) % EVENTS + 3
    tokens = np.concatenate([np.full((B, 1), 2), seq], axis=1).astype(np.int32)
    return {"tokens": tokens, "lengths": np.full((B,), T, np.int32)}


ATTENTION = dict(num_layers=2, num_heads=2, filter_size=32, max_relative_position=16,
                 segment_len=8, mem_len=8)


def cached_equals_full(model, tokens) -> float:
    """Max |cached step logits - full-pass logits| over a prefill + one token per step."""
    cache = model.initial_cache(tokens.shape[0], tokens.shape[1])
    logits, cache = model.call_with_cache(tokens[:, :4], cache, 0)
    steps = [ops.convert_to_numpy(logits)]
    for i in range(4, tokens.shape[1]):
        logits, cache = model.call_with_cache(tokens[:, i:i + 1], cache, i)
        steps.append(ops.convert_to_numpy(logits))
    full = ops.convert_to_numpy(model.logits(tokens))
    return float(np.abs(np.concatenate(steps, axis=1) - full).max())


def check(core):
    keras.utils.set_random_seed(0)
    hp = LMHParams(core=core, rnn_size=[32], embedding_size=16, learning_rate=1e-2, **ATTENTION)
    model = TokenLM(hp, VOCAB)
    model.compile(optimizer=model.make_optimizer())
    rng = np.random.default_rng(0)
    losses = [float(model.train_on_batch(batch(rng), return_dict=True)["loss"]) for _ in range(60)]
    prompt = np.array([[2, 5, 6, 7]] * 2, np.int32)
    greedy = Sampler(temperature=0.0).generate(model, prompt, 6)["tokens"][0].tolist()
    want = [2, 5, 6, 7] + [(7 - 3 + i) % EVENTS + 3 for i in range(1, 7)]
    sampler = Sampler(temperature=1.0, top_k=5)
    compiled = sampler.generate(model, prompt, 12, seed=3)["tokens"]
    python = python_loop_generate(model, prompt, 12, sampler, seed=3)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "w.weights.h5")
        model.save_weights(path)
        other = TokenLM(hp, VOCAB)
        other.load_weights(path)
        x = batch(rng)["tokens"]
        same = bool(np.array_equal(ops.convert_to_numpy(model.logits(x)),
                                   ops.convert_to_numpy(other.logits(x))))
        cache_error = cached_equals_full(model, x)
    return {"core": core, "first_loss": losses[0], "last_loss": losses[-1],
            "loss_fell": losses[-1] < 0.5 * losses[0], "greedy": greedy, "greedy_expected": want,
            "greedy_continues_pattern": greedy == want,
            "compiled_equals_python_loop": bool(np.array_equal(compiled, python)),
            "weights_round_trip_identical": same, "cached_vs_full_max_abs": cache_error,
            "cached_equals_full": cache_error < 1e-4}


def main():
    t0 = time.time()
    results = [check(c) for c in ("rnn", "gru", "lstm", "transformer", "transformer_xl")]
    ok = all(r["loss_fell"] and r["compiled_equals_python_loop"] and
             r["weights_round_trip_identical"] and r["cached_equals_full"] for r in results)
    out = {"backend": keras.backend.backend(), "keras": keras.__version__, "ok": ok,
           "results": results, "seconds": round(time.time() - t0, 1),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    path = os.path.join(ROOT, "bench", "results", f"lm_backend_check_{keras.backend.backend()}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
