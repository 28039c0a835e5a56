"""Token-LM speed on CPU, each figure beside its baseline timed in the same process.

1. Sampling: 1,024 new events with the compiled Sampler (one `keras.ops.while_loop`, graph-compiled
   on TensorFlow) vs `python_loop_generate` (one eager single-step `call_with_cache` per event from
   Python), same model, same noise, same prompt; both outputs are checked equal. Median of --reps
   runs after one warm-up (the compiled loop's trace is reported separately).
2. Training: Keras' compiled train step on real MAESTRO-shaped batches (random ids, full
   514-token windows) of each config; events/s = predicted tokens per second; achieved FLOP/s =
   analytic FLOPs per step / median step time, against a plain 2048x2048 float32 matmul timed in
   the same run (`bench/train_speed.py`'s baseline).

Analytic FLOPs per position (multiply-adds count 2; embedding lookups and element-wise ops ignored):
LSTM layer 8 H (I + H), GRU 6 H (I + H), SimpleRNN 2 H (I + H), projection 2 H V; a training step
= 3 x forward over every position of the padded batch (B x (T - 1)).

Usage:
  python bench/lm_speed.py                        # performance_rnn_small (+ performance_rnn at B=8)
  python bench/lm_speed.py --configs=performance_rnn_small,gru_lm:16 --steps=5 --reps=3
Writes bench/results/lm_speed.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import configs  # noqa: E402
from keras import ops  # noqa: E402

from musicgen.models.lm.sampler import Sampler, python_loop_generate  # noqa: E402
from train_speed import matmul_baseline  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def forward_flops_per_position(config) -> int:
    hp, vocab = config.hparams, config.data_converter.vocab_size
    flops, depth = 0, hp.embedding_size
    for h in hp.rnn_size:
        flops += 2 * GATES[hp.core] * h * (depth + h)
        depth = h
    return flops + 2 * depth * vocab


def build(name, batch_size=None):
    config = configs.CONFIG_MAP[name]
    if batch_size:
        config = configs.update_config(config, {"batch_size": batch_size})
    keras.utils.set_random_seed(0)
    return config, configs.build_model(config, compile=False, seed=0)


def bench_sampling(name, new_events, batch, reps):
    config, model = build(name)
    # Untrained weights would stop at a random EOS: make EOS impossible so every run decodes
    # exactly `new_events` events (the timing is of the loop, not of the weights).
    bias = ops.convert_to_numpy(model.projection.bias).copy()
    bias[1] = -1e4
    model.projection.bias.assign(bias)
    sampler = Sampler(temperature=1.0, top_p=0.95)
    prompt = np.full((batch, 1), 2, np.int32)
    t0 = time.perf_counter()
    compiled_out = sampler.generate(model, prompt, new_events, seed=1)["tokens"]
    first = time.perf_counter() - t0
    python_out = python_loop_generate(model, prompt, new_events, sampler, seed=1)
    same = bool(np.array_equal(compiled_out, python_out))
    decoded = int((compiled_out[:, 1:] != 0).sum(axis=1).max())  # == new_events (no EOS)
    c_times, p_times = [], []
    for _ in range(reps):  # interleaved: both see the same machine load
        t0 = time.perf_counter()
        sampler.generate(model, prompt, new_events, seed=1)
        c_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        python_loop_generate(model, prompt, new_events, sampler, seed=1)
        p_times.append(time.perf_counter() - t0)
    c, p = statistics.median(c_times), statistics.median(p_times)
    return {"config": name, "batch": batch, "new_events": new_events, "decoded_events": decoded,
            "outputs_equal": same, "compiled_first_call_s": first, "compiled_median_s": c,
            "python_loop_median_s": p, "speedup": p / c, "compiled_events_per_s": decoded / c,
            "python_events_per_s": decoded / p, "compiled_times_s": c_times,
            "python_times_s": p_times}


def time_train_steps(name, config, model, steps, warmup):
    """Step times of Keras' compiled train step on one full batch of random ids (+ last logs)."""
    model.compile(optimizer=model.make_optimizer())
    b, t = config.hparams.batch_size, config.hparams.max_seq_len
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, config.data_converter.vocab_size, (b, t)).astype(np.int32)
    tokens[:, 0] = 2
    batch = {"tokens": tokens, "lengths": np.full((b,), t, np.int32)}
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        logs = model.train_on_batch(batch, return_dict=True)
        times.append(time.perf_counter() - t0)
        print(f"  {name} B={b} step {i}: {times[-1]:.3f}s nll {logs['nll']:.3f}", flush=True,
              file=sys.stderr)
    return times, logs


def bench_training(name, batch_size, steps, warmup):
    config, model = build(name, batch_size)
    times, _ = time_train_steps(name, config, model, steps, warmup)
    b, t = config.hparams.batch_size, config.hparams.max_seq_len
    med = statistics.median(times[warmup:])
    positions = b * (t - 1)
    flops = 3 * forward_flops_per_position(config) * positions
    return {"config": name, "batch_size": b, "paper_batch_size":
            configs.CONFIG_MAP[name].hparams.batch_size, "max_seq_len": t,
            "params": int(model.count_params()), "median_step_s": med,
            "events_per_s": positions / med, "flops_per_step": flops,
            "gflops_per_s": flops / med / 1e9, "first_step_s": times[0],
            "step_times_s": times[warmup:]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample_config", default="performance_rnn_small")
    ap.add_argument("--new_events", type=int, default=1024)
    ap.add_argument("--sample_batches", default="1,5")
    ap.add_argument("--configs", default="performance_rnn_small,performance_rnn:8")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--output", default=os.path.join(RESULTS, "lm_speed"))
    args = ap.parse_args(argv)

    baseline_before = matmul_baseline()
    sampling = [bench_sampling(args.sample_config, args.new_events, int(b), args.reps)
                for b in args.sample_batches.split(",")]
    training = []
    for item in args.configs.split(","):
        name, _, batch = item.partition(":")
        training.append(bench_training(name, int(batch) if batch else None, args.steps,
                                       args.warmup))
    baseline_after = matmul_baseline()
    matmul = statistics.median([baseline_before["gflops_per_s"], baseline_after["gflops_per_s"]])
    for r in training:
        r["fraction_of_matmul"] = r["gflops_per_s"] / matmul
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "backend": keras.backend.backend(),
              "keras": keras.__version__, "matmul_before": baseline_before,
              "matmul_after": baseline_after, "matmul_gflops_per_s": matmul,
              "sampling": sampling, "training": training, "argv": sys.argv[1:]}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    lines = [f"# Token-LM speed on CPU ({result['cpus']} cores, {result['backend']}), "
             f"`bench/lm_speed.py`, {result['date']}", "",
             f"## Sampling {args.new_events} events: compiled Sampler vs Python loop "
             f"(same model, same noise)", "",
             "| config | batch | compiled s | Python loop s | speedup | compiled events/s | "
             "outputs equal |", "|---|---|---|---|---|---|---|"]
    for r in sampling:
        lines.append(f"| {r['config']} | {r['batch']} | {r['compiled_median_s']:.2f} | "
                     f"{r['python_loop_median_s']:.2f} | {r['speedup']:.1f}x | "
                     f"{r['compiled_events_per_s']:.0f} | {r['outputs_equal']} |")
    lines += ["", f"Compiled first call (trace + run): "
              + ", ".join(f"B={r['batch']}: {r['compiled_first_call_s']:.1f} s" for r in sampling),
              "", "## Training (Keras compiled train step, full 514-token windows)", "",
              f"Plain float32 2048x2048 matmul in the same run: {matmul:.1f} GFLOP/s (median of "
              f"before / after).", "",
              "| config | batch | params | s/step | events/s | GFLOP/s | of matmul |",
              "|---|---|---|---|---|---|---|"]
    for r in training:
        lines.append(f"| {r['config']} | {r['batch_size']} (paper {r['paper_batch_size']}) | "
                     f"{r['params']:,} | {r['median_step_s']:.2f} | {r['events_per_s']:,.0f} | "
                     f"{r['gflops_per_s']:.1f} | {100 * r['fraction_of_matmul']:.0f}% |")
    with open(args.output + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
