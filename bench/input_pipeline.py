"""tf.data throughput of the training input: prepared Example shards vs the direct NoteSequence path.

Same process, same config (groovae_4bar), same split and batch size (512, the paper's):

* prepared: `pipelines.make_examples` Example shards of the train split (made here once, in
  `--work_dir`), read with `musicgen.datasets.input.make_dataset(examples_path=...)`;
* direct (steady state): `make_dataset(dataset_dir=...)` after its first epoch, i.e. from the cache of
  converted tensors;
* direct (first epoch): the same dataset's first pass, which runs the converter on every NoteSequence;
* parse only: our batched Example parse vs `musicgen.datasets.examples.parse_batch` on one batch.

Each figure is the median of --repeats timings of --batches batches (after --warmup batches).

    python bench/input_pipeline.py --dataset_dir=out/groove_ns
    # NoteSequence shards: python -m pipelines.convert_midi --dataset=groove \
    #     --input_dir=/work/shared/data/groove --output_dir=out/groove_ns

Writes bench/results/input_pipeline.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import configs  # noqa: E402
from musicgen.datasets import input as input_lib  # noqa: E402
from musicgen.datasets import tfrecord  # noqa: E402


def examples_per_second(iterator, batch_size: int, batches: int) -> float:
    t0 = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batch_size * batches / (time.perf_counter() - t0)


def median_rate(ds, batch_size: int, warmup: int, batches: int, repeats: int) -> dict:
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    rates = [examples_per_second(it, batch_size, batches) for _ in range(repeats)]
    return {"median_examples_per_s": round(statistics.median(rates)),
            "runs_examples_per_s": [round(r) for r in rates]}


def parse_rates(examples_dir: str, config, batch_size: int, repeats: int) -> dict:
    """Parse-only examples/s on one batch of records: ours (reshape when every window is full
    length) vs musicgen.datasets.examples.parse_batch (RaggedTensor.to_tensor padding)."""
    import tensorflow as tf
    from musicgen.datasets import examples as examples_lib
    files = tfrecord.expand_pattern(os.path.join(examples_dir, "train-*"))
    batch = next(iter(tf.data.TFRecordDataset(files).batch(batch_size)))
    conv = config.data_converter
    fns = {"input.parse_examples_fn (reshape fast path)": input_lib.parse_examples_fn(config),
           "examples.parse_batch (to_tensor padding)": lambda s: examples_lib.parse_batch(
               s, conv.input_depth, conv.output_depth, conv.control_depth,
               config.hparams.max_seq_len, tuple(conv.length_shape))}
    out = {}
    for name, fn in fns.items():
        fn = tf.function(fn)
        fn(batch)
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(10):
                fn(batch)
            rates.append(10 * batch_size / (time.perf_counter() - t0))
        out[name] = {"median_examples_per_s": round(statistics.median(rates)),
                     "runs_examples_per_s": [round(r) for r in rates]}
    return out


def ensure_examples(config_name: str, dataset_dir: str, work_dir: str) -> tuple:
    """4 Example shards of the train split made with pipelines.make_examples; (dir, seconds)."""
    out = os.path.join(work_dir, f"{config_name}_examples")
    if os.path.exists(os.path.join(out, "spec.json")):
        return out, None
    from pipelines import make_examples
    config = configs.CONFIG_MAP[config_name]
    t0 = time.perf_counter()
    make_examples.make_examples(config, os.path.join(dataset_dir, "train-*"), out,
                                config_name=config_name, num_workers=1, num_shards=4)
    return out, round(time.perf_counter() - t0, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="groovae_4bar")
    ap.add_argument("--dataset_dir", default=os.path.join(ROOT, "out", "groove_ns"))
    ap.add_argument("--work_dir", default=os.path.join(ROOT, "out", "bench_input"))
    ap.add_argument("--batch_size", type=int, default=512)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "input_pipeline"))
    args = ap.parse_args()

    config = configs.CONFIG_MAP[args.config]
    train_pattern = os.path.join(args.dataset_dir, "train-*")
    num_sequences = sum(tfrecord.count_records(p) for p in tfrecord.expand_pattern(train_pattern))
    examples_dir, make_seconds = ensure_examples(args.config, args.dataset_dir, args.work_dir)
    num_windows = sum(tfrecord.count_records(p) for p in
                      tfrecord.expand_pattern(os.path.join(examples_dir, "train-*")))
    common = dict(batch_size=args.batch_size, seed=0)
    results = {}

    ds = input_lib.make_dataset(config, "train", examples_path=examples_dir, **common)
    results["prepared_examples"] = median_rate(ds, args.batch_size, args.warmup, args.batches,
                                               args.repeats)

    # Direct path, first epoch: conversion of every NoteSequence (no cache, one pass, no repeat).
    ds = input_lib.make_dataset(config, "train", dataset_dir=args.dataset_dir, cache=False,
                                repeat=False, **common)
    firsts = []
    for _ in range(max(1, args.repeats // 2)):
        t0 = time.perf_counter()
        n = sum(int(b["lengths"].shape[0]) for b in ds)
        firsts.append(n / (time.perf_counter() - t0))
    results["direct_first_epoch"] = {"median_examples_per_s": round(statistics.median(firsts)),
                                     "runs_examples_per_s": [round(r) for r in firsts]}

    ds = input_lib.make_dataset(config, "train", dataset_dir=args.dataset_dir, cache=True, **common)
    warm = args.warmup + -(-num_windows // args.batch_size)  # past the first (converting) epoch
    results["direct_cached"] = median_rate(ds, args.batch_size, warm, args.batches, args.repeats)

    parse = parse_rates(examples_dir, config, args.batch_size, args.repeats)
    prepared = results["prepared_examples"]["median_examples_per_s"]
    report = {
        "config": args.config, "batch_size": args.batch_size, "split": "train",
        "note_sequences": num_sequences, "windows": num_windows,
        "make_examples_seconds": make_seconds, "results": results, "parse_only": parse,
        "ratio_prepared_vs_direct_first_epoch": round(
            prepared / results["direct_first_epoch"]["median_examples_per_s"], 2),
        "ratio_prepared_vs_direct_cached": round(
            prepared / results["direct_cached"]["median_examples_per_s"], 2),
        "goal_examples_per_s": 20000, "goal_met": prepared >= 20000,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), {platform.python_version()}",
        "command": "python " + " ".join(sys.argv),
        "settings": {"warmup": args.warmup, "batches": args.batches, "repeats": args.repeats},
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    rows = [f"| {name} | {r['median_examples_per_s']:,} | {r['runs_examples_per_s']} |"
            for name, r in results.items()]
    parse_rows = [f"| {name} | {r['median_examples_per_s']:,} | {r['runs_examples_per_s']} |"
                  for name, r in parse.items()]
    md = "\n".join([
        f"# Input pipeline throughput: {args.config}, batch {args.batch_size}, train split",
        "", f"`{report['command']}` on {report['machine']}.",
        f"{num_sequences} NoteSequences -> {num_windows} windows.", "",
        "| path | median examples/s | runs |", "|---|---|---|", *rows, "",
        f"prepared / direct first epoch: {report['ratio_prepared_vs_direct_first_epoch']}x; "
        f"prepared / direct cached: {report['ratio_prepared_vs_direct_cached']}x. "
        f"Goal >= 20,000 examples/s from prepared shards: {'met' if report['goal_met'] else 'NOT met'}.",
        "", f"Parse only, one batch of {args.batch_size} records (10 calls per run):", "",
        "| parse | median examples/s | runs |", "|---|---|---|", *parse_rows, ""])
    with open(args.out + ".md", "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
