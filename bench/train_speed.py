"""Training speed of MusicVAE configs on CPU, against a plain matmul timed in the same process.

For each config: build at paper size (optionally with a smaller batch), train on a synthetic batch
in the brief's format (`model.train_on_batch`, Keras' compiled train function), skip warm-up
steps, report the median step time, examples/s, and achieved FLOP/s = analytic FLOPs per step /
median step time. The baseline is keras.ops.matmul of two 2048x2048 float32 matrices
(2 * 2048**3 FLOPs), median of several runs, in the same process and thread settings.

Analytic FLOPs per training step (multiply-adds count 2; element-wise ops ignored):
  LSTM layer, per step and direction: 8 * H * (I + H)  (4 gates, [x, h] @ W of (I+H) x 4H)
  Dense layer: 2 * in * out per row
  training step = 3 x forward (backward ~ 2 x forward).
Encoder: bidirectional layers over T steps (layer i>0 reads 2*H_{i-1}); mu and sigma dense.
Flat decoder: z -> initial state dense, LSTM stack over T steps (input: output depth + z +
controls), output projection at every step. Hierarchical decoder: conductor stack over
level_lengths[0] steps (input 1), then per segment: initial-state dense from the conductor output
and the core stack over the segment (input: output depth + conductor output).

Usage:
  python bench/train_speed.py                       # groovae_4bar (batch 512), hierdec-mel_16bar
  python bench/train_speed.py --configs=groovae_4bar:64,groovae_4bar:64:xla --steps=5
Each --configs item is NAME[:BATCH][:xla] (xla: compile the train step with jit_compile=True).
Writes bench/results/train_speed.json and .md.
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import configs  # noqa: E402
from musicgen.models.lstm_decoders import HierarchicalLstmDecoder  # noqa: E402

# Paper batch sizes that do not fit a few-minute CPU run are reduced by default (see --batch_size).
DEFAULT_BATCH = {"groovae_4bar": None, "hierdec-mel_16bar": 4}


def lstm_stack_flops(units, input_depth, steps):
    """Forward FLOPs of a stacked LSTM over `steps` steps for one sequence."""
    total, depth = 0, input_depth
    for h in units:
        total += 8 * h * (depth + h) * steps
        depth = h
    return total


def forward_flops_per_example(config) -> int:
    """Analytic forward FLOPs for one example (see module doc)."""
    hp, conv = config.hparams, config.data_converter
    t, z = hp.max_seq_len, hp.z_size
    flops, depth = 0, conv.input_depth + conv.control_depth
    for h in hp.enc_rnn_size:  # bidirectional encoder
        flops += 2 * 8 * h * (depth + h) * t
        depth = 2 * h
    flops += 2 * (2 * depth * z)  # mu, sigma
    dec_units = hp.dec_rnn_size
    state = 2 * sum(dec_units)
    out_d = conv.output_depth
    decoder_fn = config.model.decoder_fn
    if getattr(decoder_fn, "func", None) is HierarchicalLstmDecoder:
        levels = decoder_fn.keywords["level_lengths"]
        segments, seg_len, emb = int(np.prod(levels[:-1])), levels[-1], z
        steps_so_far = 1
        for n in levels[:-1]:  # conductors
            flops += steps_so_far * (2 * emb * state + lstm_stack_flops(dec_units, 1, n))
            steps_so_far *= n
            emb = dec_units[-1]
        core = decoder_fn.keywords["core_decoder"]
        parts = getattr(core, "keywords", {}).get("output_depths") or [out_d]
        for d in parts:  # one core decoder per output part (SplitMultiOut) or one
            flops += segments * (2 * emb * state
                                 + lstm_stack_flops(dec_units, d + emb + conv.control_depth,
                                                    seg_len)
                                 + 2 * dec_units[-1] * d * seg_len)
    else:
        flops += 2 * z * state + lstm_stack_flops(dec_units, out_d + z + conv.control_depth, t)
        flops += 2 * dec_units[-1] * out_d * t
    return int(flops)


def synthetic_batch(config, batch_size, seed=0):
    conv, t = config.data_converter, config.hparams.max_seq_len
    rng = np.random.default_rng(seed)
    outputs = np.eye(conv.output_depth, dtype="float32")[rng.integers(0, conv.output_depth,
                                                                      (batch_size, t))]
    inputs = (outputs if conv.input_depth == conv.output_depth else
              np.eye(conv.input_depth, dtype="float32")[rng.integers(0, conv.input_depth,
                                                                     (batch_size, t))])
    return {"inputs": inputs, "outputs": outputs,
            "controls": np.zeros((batch_size, t, conv.control_depth), "float32"),
            "lengths": np.full((batch_size,), t, "int32")}


def matmul_baseline(n=2048, reps=7):
    a = keras.random.normal((n, n), seed=1)
    b = keras.random.normal((n, n), seed=2)
    ops.convert_to_numpy(ops.matmul(a, b))  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        ops.convert_to_numpy(ops.matmul(a, b))
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"n": n, "median_s": med, "flops": 2 * n ** 3, "gflops_per_s": 2 * n ** 3 / med / 1e9,
            "times_s": times}


def bench_config(name, batch_size, steps, warmup, jit_compile=False):
    config = configs.CONFIG_MAP[name]
    batch_size = batch_size or config.hparams.batch_size
    config = configs.update_config(config, {"batch_size": batch_size})
    t0 = time.perf_counter()
    model = configs.build_model(config, compile=False)
    model.compile(optimizer=model.make_optimizer(), jit_compile=jit_compile)
    build_s = time.perf_counter() - t0
    batch = synthetic_batch(config, batch_size)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        logs = model.train_on_batch(batch, return_dict=True)
        times.append(time.perf_counter() - t0)
        print(f"  {name} step {i}: {times[-1]:.3f}s loss {logs['loss']:.2f}", flush=True)
    med = statistics.median(times[warmup:])
    flops = 3 * forward_flops_per_example(config) * batch_size
    return {"config": name, "jit_compile": jit_compile, "batch_size": batch_size, "paper_batch_size":
            configs.CONFIG_MAP[name].hparams.batch_size, "max_seq_len": config.hparams.max_seq_len,
            "params": int(model.count_params()), "build_s": build_s, "first_step_s": times[0],
            "step_times_s": times[warmup:], "median_step_s": med,
            "examples_per_s": batch_size / med, "train_flops_per_step": flops,
            "achieved_gflops_per_s": flops / med / 1e9}


def write_results(result, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "train_speed.json"), "w") as f:
        json.dump(result, f, indent=2)
    base = result["matmul_baseline"]
    lines = ["# MusicVAE training speed (CPU)", "",
             f"Command: `{result['command']}`  ",
             f"Machine: {result['machine']}, load average at start {result['loadavg_start']}, "
             f"Keras {result['keras']} backend {result['backend']}, "
             f"TF_ENABLE_ONEDNN_OPTS={result['onednn']}", "",
             f"Baseline: keras.ops.matmul {base['n']}x{base['n']} float32: median "
             f"{base['median_s'] * 1e3:.1f} ms = {base['gflops_per_s']:.1f} GFLOP/s"
             + (f" (after the configs: {result['matmul_baseline_after']['gflops_per_s']:.1f})"
                if "matmul_baseline_after" in result else ""), "",
             "| config | batch (paper) | params | median step s | examples/s | train GFLOP/step "
             "| achieved GFLOP/s | vs matmul | first step s (trace + step) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["configs"]:
        lines.append(
            f"| {r['config']}{' (XLA)' if r['jit_compile'] else ''} | {r['batch_size']} ({r['paper_batch_size']}) | {r['params']:,} | "
            f"{r['median_step_s']:.3f} | {r['examples_per_s']:.3g} | "
            f"{r['train_flops_per_step'] / 1e9:.1f} | {r['achieved_gflops_per_s']:.1f} | "
            f"{r['achieved_gflops_per_s'] / base['gflops_per_s']:.2f} | "
            f"{r['first_step_s']:.1f} |")
    lines += ["", f"Process niceness {result.get('niceness', 0)}. On a machine shared with other "
              "jobs compare rows by their ratio to the matmul rows, not across runs. Step times of the 16-bar "
              "hierarchical model at batch 16 are memory-bound (each LSTM step streams its "
              "weights for 16 rows).", "", "FLOPs are analytic (bench/train_speed.py docstring): LSTM 8*H*(I+H) per step "
              "and direction, dense 2*in*out, x3 for forward+backward; element-wise ops ignored."]
    with open(os.path.join(out_dir, "train_speed.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def render(json_path, out_dir):
    """Rewrite train_speed.md from an existing train_speed.json (no measuring)."""
    with open(json_path) as f:
        write_results(json.load(f), out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="groovae_4bar,hierdec-mel_16bar")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="override every config's batch (default: paper batch, except "
                             "hierdec-mel_16bar: 4)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out_dir", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args(argv)
    result = {"command": "python bench/train_speed.py " + " ".join(argv or sys.argv[1:]),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
              "loadavg_start": [round(x, 2) for x in os.getloadavg()],
              "keras": keras.__version__, "backend": keras.backend.backend(),
              "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "niceness": os.nice(0)}
    result["matmul_baseline"] = matmul_baseline()
    print(f"matmul baseline: {result['matmul_baseline']['gflops_per_s']:.1f} GFLOP/s", flush=True)
    result["configs"] = []
    for item in args.configs.split(","):
        name, *rest = item.split(":")
        xla = "xla" in rest
        sizes = [int(r) for r in rest if r.isdigit()]
        batch = sizes[0] if sizes else (args.batch_size or DEFAULT_BATCH.get(name))
        result["configs"].append(bench_config(name, batch, args.steps, args.warmup, xla))
        write_results(result, args.out_dir)  # keep what is measured if a later config is cut
    result["matmul_baseline_after"] = matmul_baseline()
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results(result, args.out_dir)
    print(open(os.path.join(args.out_dir, "train_speed.md")).read())


if __name__ == "__main__":
    main()
