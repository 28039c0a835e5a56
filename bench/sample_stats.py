"""Do GrooVAE samples look like Groove MIDI? Statistics of prior samples next to the test split.

    .venv/bin/python bench/sample_stats.py                          # bundled model, 512 samples
    .venv/bin/python bench/sample_stats.py --checkpoint=runs/groovae_4bar --num_samples=256

For the test split's 4-bar windows (the data), the model's samples from z ~ N(0, I) at each
--temperatures, and an untrained model of the same config (seed 0) at temperature 1.0, reports per
4-bar window: hits per bar; the share of hits of each of the 9 drum classes and its total-variation
distance to the data's; velocity (MIDI 0-127) and timing offset (ms at 120 bpm) mean / std over hits;
the share of 16th steps with a kick / snare / closed hi-hat; and how many samples have a hit pattern
no other sample has (distinctness). Writes bench/results/sample_stats_groovae_4bar.{json,md}.
The test NoteSequences come from `pipelines.convert_midi` into --work_dir (as bench/eval_groove.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "bench", "results")
GROOVE = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "groove"))
DRUMS = ["kick", "snare", "closed hh", "open hh", "low tom", "mid tom", "high tom", "crash", "ride"]
OFFSET_MS = 62.5  # offset 1.0 = half a 16th at 120 bpm (musicgen.evaluate)


def window_stats(tensors: np.ndarray) -> dict:
    """(N, 64, 27) [hits, velocities 0-1, offsets -1..1] -> summary statistics (floats)."""
    d = tensors.shape[-1] // 3
    hits = tensors[..., :d] > 0.5
    vel = tensors[..., d:2 * d][hits] * 127.0
    off = tensors[..., 2 * d:][hits] * OFFSET_MS
    bars = tensors.shape[1] / 16.0
    per_window = hits.sum(axis=(1, 2)) / bars
    per_class = hits.sum(axis=(0, 1)).astype(np.float64)
    patterns = [h.tobytes() for h in hits]
    counts = {p: patterns.count(p) for p in set(patterns)}
    return {
        "windows": int(len(tensors)),
        "hits_per_bar_mean": float(per_window.mean()), "hits_per_bar_std": float(per_window.std()),
        "class_share": (per_class / max(per_class.sum(), 1)).round(4).tolist(),
        "velocity_mean": float(vel.mean()) if vel.size else None,
        "velocity_std": float(vel.std()) if vel.size else None,
        "offset_ms_mean": float(off.mean()) if off.size else None,
        "offset_ms_std": float(off.std()) if off.size else None,
        "steps_with": {DRUMS[i]: float(hits[..., i].mean()) for i in (0, 1, 2)},
        "unique_pattern_share": sum(1 for p in patterns if counts[p] == 1) / max(len(patterns), 1),
    }


def tv_distance(p, q) -> float:
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum())


def test_windows(config, ns_dir: str, split: str) -> np.ndarray:
    from musicgen.datasets.input import convert_note_sequences
    from musicgen.datasets.tfrecord import iterate_note_sequences
    elements = convert_note_sequences(
        iterate_note_sequences(os.path.join(ns_dir, f"{split}-*")), config, False)
    return np.stack([outputs for _, outputs, _, _ in elements])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--num_samples", type=int, default=512)
    parser.add_argument("--temperatures", default="0.5,1.0")
    parser.add_argument("--split", default="test")
    parser.add_argument("--groove_dir", default=GROOVE)
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "musicgen_eval"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ns_dir = os.path.join(args.work_dir, f"groove_ns_{args.split}")
    if not os.path.exists(os.path.join(ns_dir, "manifest.json")):
        subprocess.run([sys.executable, "-m", "pipelines.convert_midi", "--dataset=groove",
                        f"--input_dir={args.groove_dir}", f"--output_dir={ns_dir}",
                        f"--split={args.split}"], cwd=ROOT, check=True)
    import keras
    from musicgen import checkpoints
    from musicgen.trained_model import DEFAULT_CONFIG, load_model

    checkpoint = args.checkpoint or checkpoints.pretrained_path(DEFAULT_CONFIG)
    keras.utils.set_random_seed(args.seed)
    name, config, model = load_model(None, checkpoint)
    step = checkpoints.read_metadata(checkpoints.resolve_checkpoint_path(checkpoint)).get("step")
    rows = {f"data ({args.split})": window_stats(test_windows(config, ns_dir, args.split))}
    t0 = time.perf_counter()
    for temp in [float(t) for t in args.temperatures.split(",")]:
        rows[f"trained, T={temp:g}"] = window_stats(model.sample(args.num_samples,
                                                                 temperature=temp))
    keras.utils.set_random_seed(args.seed)
    _, floor = checkpoints.build_model_for(config, "", build=False)
    rows["untrained, T=1"] = window_stats(floor.sample(args.num_samples, temperature=1.0))
    data_share = next(iter(rows.values()))["class_share"]
    for r in rows.values():
        r["class_tv_to_data"] = tv_distance(r["class_share"], data_share)

    def fmt(v, f="{:.2f}"):
        return "-" if v is None else f.format(v)
    lines = ["| windows | n | hits/bar | drum-class TV to data | velocity mean (sd) | "
             "offset ms mean (sd) | steps w/ kick / snare / closed hh | unique patterns |",
             "|---|---|---|---|---|---|---|---|"]
    for label, r in rows.items():
        s = r["steps_with"]
        lines.append(
            f"| {label} | {r['windows']} | {fmt(r['hits_per_bar_mean'], '{:.1f}')} "
            f"(sd {fmt(r['hits_per_bar_std'], '{:.1f}')}) | {fmt(r['class_tv_to_data'], '{:.3f}')} | "
            f"{fmt(r['velocity_mean'], '{:.1f}')} ({fmt(r['velocity_std'], '{:.1f}')}) | "
            f"{fmt(r['offset_ms_mean'], '{:.1f}')} ({fmt(r['offset_ms_std'], '{:.1f}')}) | "
            f"{s['kick']:.2f} / {s['snare']:.2f} / {s['closed hh']:.2f} | "
            f"{r['unique_pattern_share']:.2f} |")
    table = "\n".join(lines)
    report = {"config": name, "checkpoint": os.path.relpath(os.fspath(checkpoint), ROOT),
              "checkpoint_step": step, "num_samples": args.num_samples, "seed": args.seed,
              "drum_classes": DRUMS, "rows": rows, "table": table,
              "sampling_seconds": round(time.perf_counter() - t0, 1),
              "date": time.strftime("%Y-%m-%d %H:%M")}
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, f"sample_stats_{name}")
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(f"# {name}: prior samples vs Groove MIDI `{args.split}` windows\n\n"
                f"Checkpoint `{report['checkpoint']}` (step {step}); {args.num_samples} samples "
                f"per row from z ~ N(0, I), seed {args.seed}; untrained = same config, seed "
                f"{args.seed}, no training. Velocity and offsets over hits only; offsets in ms at "
                f"120 bpm. `bench/sample_stats.py`, {report['date']}.\n\n{table}\n")
    print(table)
    print(f"wrote {out}.json and .md")
    return report


if __name__ == "__main__":
    main()
