"""Do performance-LM samples look like held-out MAESTRO? Statistics of samples next to the data.

    .venv/bin/python bench/sample_stats_lm.py                     # bundled performance_rnn_small
    .venv/bin/python bench/sample_stats_lm.py --checkpoint=runs/performance_rnn_small --num_samples=64

The data: every eval-mode window (512 events, sustain applied, no augmentation) of the MAESTRO
subset's --split, decoded back to notes by the same converter. The model: --num_samples samples of
--max_events events from BOS at each --temperatures (top_p 1), and an untrained model of the same
config (seed 0) at temperature 1.0 as the floor. Per window / sample: notes per second (notes over
the span from the first onset to the last offset), pitch range (highest - lowest MIDI pitch),
velocity spread (std of MIDI velocities), mean velocity, and the share of notes held longer than
5 s. Reported: medians (and the 10th / 90th percentiles) over windows / samples.
NoteSequence shards come from `pipelines.convert_midi` into --work_dir when --ns_dir is not given.
Writes bench/results/sample_stats_<config>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "bench", "results")
MAESTRO = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "maestro-v2.0.0"))
STATS = ("notes_per_s", "pitch_range", "velocity_std", "velocity_mean", "share_notes_over_5s")


def sequence_stats(ns):
    """Statistics of one NoteSequence (None when it has fewer than 2 notes)."""
    notes = list(ns.notes)
    if len(notes) < 2:
        return None
    start = min(n.start_time for n in notes)
    end = max(n.end_time for n in notes)
    pitches = np.array([n.pitch for n in notes])
    vel = np.array([n.velocity for n in notes], float)
    dur = np.array([n.end_time - n.start_time for n in notes])
    return {"notes_per_s": len(notes) / max(end - start, 1e-3),
            "pitch_range": float(pitches.max() - pitches.min()),
            "velocity_std": float(vel.std()), "velocity_mean": float(vel.mean()),
            "share_notes_over_5s": float((dur > 5.0).mean()), "notes": len(notes),
            "seconds": end - start}


def summarise(rows: list) -> dict:
    rows = [r for r in rows if r is not None]
    out = {"count": len(rows)}
    for k in STATS + ("seconds",):
        v = np.array([r[k] for r in rows])
        out[k] = {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
                  "p90": float(np.percentile(v, 90))}
    return out


def data_rows(config, ns_dir: str, split: str) -> list:
    from musicgen.datasets.convert import Conversion
    from musicgen.datasets.tfrecord import iterate_note_sequences
    conversion = Conversion(config, "eval")
    rows = []
    for ns in iterate_note_sequences(os.path.join(ns_dir, f"{split}-*")):
        for tokens, _ in conversion(ns):
            rows.append(sequence_stats(conversion.converter.lm_decode(tokens)))
    return rows


def sample_rows(lm, n: int, max_events: int, temperature: float, seed: int) -> list:
    return [sequence_stats(ns) for ns in lm.sample(n, max_events=max_events,
                                                   temperature=temperature, seed=seed)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="performance_rnn_small")
    ap.add_argument("--checkpoint", default=None, help="default: the bundled model of --config")
    ap.add_argument("--ns_dir", default=None, help="MAESTRO NoteSequence shards")
    ap.add_argument("--work_dir", default=os.path.join(ROOT, "out"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--num_samples", type=int, default=32)
    ap.add_argument("--max_events", type=int, default=512)
    ap.add_argument("--temperatures", default="1.0,0.9")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default=None)
    args = ap.parse_args(argv)

    from musicgen import checkpoints
    from musicgen import config as config_lib
    from musicgen.trained_lm import TrainedLM

    ns_dir = args.ns_dir or os.path.join(args.work_dir, "maestro_ns")
    if not os.path.exists(os.path.join(ns_dir, "manifest.json")):
        subprocess.run([sys.executable, "-m", "pipelines.convert_midi", "--dataset=maestro",
                        f"--input_dir={MAESTRO}", f"--output_dir={ns_dir}"], check=True, cwd=ROOT)
    checkpoint = args.checkpoint or checkpoints.pretrained_path(args.config)
    name, config, model = checkpoints.load_model(checkpoint, args.config)
    meta = checkpoints.read_metadata(checkpoints.resolve_checkpoint_path(checkpoint))
    t0 = time.perf_counter()
    results = {f"MAESTRO {args.split} windows": summarise(data_rows(config, ns_dir, args.split))}
    lm = TrainedLM(name, config, model, batch_size=16)
    for t in (float(x) for x in args.temperatures.split(",")):
        results[f"samples T={t:g}"] = summarise(sample_rows(lm, args.num_samples,
                                                            args.max_events, t, args.seed))
    import keras
    keras.utils.set_random_seed(0)
    untrained = TrainedLM(name, config, config_lib.build_model(config, compile=False, seed=0),
                          batch_size=16)
    results["untrained T=1"] = summarise(sample_rows(untrained, args.num_samples,
                                                     args.max_events, 1.0, args.seed))
    report = {"config": name, "checkpoint": os.path.relpath(os.fspath(checkpoint), ROOT),
              "checkpoint_step": meta.get("step"), "split": args.split,
              "num_samples": args.num_samples, "max_events": args.max_events,
              "seed": args.seed, "results": results, "seconds": round(time.perf_counter() - t0, 1),
              "date": time.strftime("%Y-%m-%d %H:%M")}
    out = args.output or os.path.join(RESULTS, f"sample_stats_{name}")
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    head = ["notes/s", "pitch range", "velocity std", "velocity mean", "notes > 5 s"]
    lines = [f"# {name} samples vs held-out MAESTRO `{args.split}` windows", "",
             f"Checkpoint `{report['checkpoint']}` (step {report['checkpoint_step']}); "
             f"{args.num_samples} samples of {args.max_events} events from BOS per row (seed "
             f"{args.seed}); data: every 512-event eval window of the split, decoded by the same "
             f"converter. Median [10th - 90th percentile]. `bench/sample_stats_lm.py`, "
             f"{report['date']}.", "",
             "| source | n | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for row, r in results.items():
        cells = []
        for k in STATS:
            s = r[k]
            f = "{:.1%}" if k == "share_notes_over_5s" else "{:.1f}"
            cells.append(f"{f.format(s['median'])} [{f.format(s['p10'])} - {f.format(s['p90'])}]")
        lines.append(f"| {row} | {r['count']} | " + " | ".join(cells) + " |")
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
