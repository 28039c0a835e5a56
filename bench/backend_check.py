"""Check that musicgen.models trains, evaluates, samples and round-trips weights on the current
Keras backend (KERAS_BACKEND=tensorflow | jax | torch). Needs only keras, numpy and the backend:
no TensorFlow, converters or configs (so it runs in a bare `pip install keras jax` venv).

  KERAS_BACKEND=jax python bench/backend_check.py    ->  bench/results/backend_check_<backend>.json
  KERAS_BACKEND=jax python bench/backend_check.py mixed_float16   (or mixed_bfloat16: a Keras dtype
      policy)  ->  bench/results/backend_check_<backend>_<policy>.json
"""
from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from musicgen.models.lstm_decoders import (CategoricalLstmDecoder, GrooveLstmDecoder,  # noqa: E402
                                           HierarchicalLstmDecoder, SplitMultiOutLstmDecoder)
from musicgen.models.lstm_encoders import BidirectionalLstmEncoder, HierarchicalLstmEncoder  # noqa
from musicgen.models.music_vae import MusicVAEBuilder  # noqa: E402

EPOCHS = 15
BASE = dict(max_seq_len=8, z_size=4, free_bits=0.0, max_beta=0.2, beta_rate=0.0, batch_size=4,
            grad_clip=1.0, clip_mode="global_norm", grad_norm_clip_to_zero=10000.0,
            learning_rate=0.01, decay_rate=0.9999, min_learning_rate=1e-5, conditional=True,
            dec_rnn_size=[8], enc_rnn_size=[8], dropout_keep_prob=1.0,
            sampling_schedule="constant", sampling_rate=0.0, residual_encoder=False,
            residual_decoder=False)

CASES = {
    "groove (dropout)": (MusicVAEBuilder(BidirectionalLstmEncoder, GrooveLstmDecoder), 27,
                         dict(dropout_keep_prob=0.3)),
    "categorical (scheduled sampling)": (
        MusicVAEBuilder(BidirectionalLstmEncoder, CategoricalLstmDecoder), 12,
        dict(sampling_schedule="inverse_sigmoid", sampling_rate=1000.0)),
    "hierarchical split (trio-like)": (
        MusicVAEBuilder(functools.partial(HierarchicalLstmEncoder, level_lengths=[4, 2]),
                        functools.partial(HierarchicalLstmDecoder, level_lengths=[2, 4],
                                          core_decoder=functools.partial(
                                              SplitMultiOutLstmDecoder,
                                              core_decoders=[CategoricalLstmDecoder] * 2,
                                              output_depths=[5, 7]))), 12, {}),
}


def batch(depth, groove, n=4, t=8, seed=0):
    rng = np.random.default_rng(seed)
    if groove:
        out = rng.random((n, t, depth)).astype("float32")
        out[..., : depth // 3] = out[..., : depth // 3] > 0.7
    else:
        out = np.eye(depth, dtype="float32")[rng.integers(0, depth, (n, t))]
    return {"inputs": out, "outputs": out, "controls": np.zeros((n, t, 0), "float32"),
            "lengths": np.array([t, t, t - 2, 3], "int32")}


def check(name, builder, depth, overrides):
    hp = types.SimpleNamespace(**dict(BASE, **overrides))
    model = builder(hp, depth, seed=0)
    model.compile(optimizer=model.make_optimizer())
    data = batch(depth, "groove" in name)
    t0 = time.time()
    hist = model.fit(data, batch_size=4, epochs=EPOCHS, verbose=0, shuffle=False)
    losses = [float(v) for v in hist.history["recon_loss"]]
    evaluation = model.evaluate(data, batch_size=4, verbose=0, return_dict=True)
    samples = model.sample(2, temperature=0.5)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.weights.h5")
        model.save_weights(path)
        other = builder(hp, depth, seed=0)
        other.load_weights(path)
        same = bool(np.array_equal(model.encode(data["inputs"], data["lengths"])[1],
                                   other.encode(data["inputs"], data["lengths"])[1]))
    return {"recon_loss_first_last": [losses[0], losses[-1]], "loss_decreased": losses[-1] < losses[0],
            "global_step": int(keras.ops.convert_to_numpy(model.global_step)),
            "eval_keys": sorted(evaluation), "sample_shape": list(samples.shape),
            "weights_round_trip_identical": same, "seconds": round(time.time() - t0, 1)}


def main(policy=None):
    backend = keras.backend.backend()
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    results = {"backend": backend, "keras": keras.__version__, "policy": policy or "float32",
               "cases": {}}
    for name, (builder, depth, overrides) in CASES.items():
        results["cases"][name] = check(name, builder, depth, overrides)
        print(backend, name, results["cases"][name], flush=True)
    ok = all(c["loss_decreased"] and c["weights_round_trip_identical"] and c["global_step"] == EPOCHS
             for c in results["cases"].values())
    results["ok"] = ok
    suffix = f"_{policy}" if policy else ""
    out = os.path.join(ROOT, "bench", "results", f"backend_check_{backend}{suffix}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print("OK" if ok else "FAILED", "->", out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
