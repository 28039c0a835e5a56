"""Per-step reconstruction accuracy of the bundled MusicVAE / GrooVAE models on their test splits,
beside the MusicVAE paper's Table 1 rows and each model's untrained floor.

    .venv/bin/python bench/vae_accuracy.py                    # every bundled VAE, whole test split
    .venv/bin/python bench/vae_accuracy.py --models=cat-mel_2bar_small --num_batches=5
    .venv/bin/python bench/vae_accuracy.py --reuse            # only rebuild the table

Each model: `python -m musicgen.evaluate --config=C --split=test` on its NoteSequence shards (the
bundled weights; the untrained model of the same config and seed in the same run), JSON in
bench/results/eval_<config>_test.json (--reuse: an existing one is read, not recomputed). Needs:

    python -m pipelines.convert_midi --input=maestro:../shared/data/maestro-v2.0.0,dir:../shared/data/nottingham/MIDI/melody --output_dir=out/mel_mix_ns
    python -m pipelines.convert_midi --dataset=groove --input_dir=../shared/data/groove --output_dir=out/groove_ns

Writes bench/results/vae_accuracy.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore::DeprecationWarning")

# config -> (dataset dir, the paper row it is set beside, what differs)
MODELS = {
    "cat-mel_2bar_small": ("out/mel_mix_ns", "2-bar melody",
                           "2 bars; MAESTRO top lines + Nottingham tunes vs Lakh melodies"),
    "hierdec-mel_4bar": ("out/mel_mix_ns", "16-bar melody",
                         "4 bars (paper: 16) at the source material's small sizes"),
    "cat-drums_2bar_small": ("out/groove_ns", "2-bar drum",
                             "live Groove MIDI drums vs quantized Lakh drums"),
    "groovae_4bar": ("out/groove_ns", "2-bar drum",
                     "4 bars, hits only (velocity / offset heads have no paper row)"),
}
# ../shared/papers/README.md (MusicVAE Table 1): (TF flat, TF hier, sampled flat, sampled hier)
PAPER = {"2-bar drum": (0.979, None, 0.917, None), "2-bar melody": (0.986, None, 0.951, None),
         "16-bar melody": (0.883, 0.919, 0.620, 0.812), "16-bar drum": (0.884, 0.928, 0.549, 0.879)}


def evaluate(config, dataset_dir, num_batches, reuse):
    path = os.path.join(RESULTS, f"eval_{config}_test.json")
    if not (reuse and os.path.exists(path)):
        cmd = [sys.executable, "-m", "musicgen.evaluate", f"--config={config}",
               f"--dataset_dir={os.path.join(ROOT, dataset_dir)}", "--split=test",
               f"--output_json={path}", "--noplot_curves"]
        if num_batches:
            cmd.append(f"--num_batches={num_batches}")
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, env=ENV, check=True)
    with open(path) as f:
        return json.load(f)


def row(config, result):
    r = result["results"]
    steps = r["trained"]["teacher_forced"].get("steps")
    return {"config": config, "checkpoint_step": result.get("checkpoint_step"),
            "tf": r["trained"]["teacher_forced"]["accuracy"],
            "sampled": r["trained"]["sampled"]["accuracy"],
            "untrained_tf": r["untrained"]["teacher_forced"]["accuracy"],
            "untrained_sampled": r["untrained"]["sampled"]["accuracy"],
            "all_zero": r["all-zero output"]["teacher_forced"]["accuracy"],
            "test_windows": r["trained"].get("num_sequences"),
            "kl_bits": r["trained"].get("kl_bits"), "test_steps": steps,
            "dataset_dir": MODELS[config][0], "paper_row": MODELS[config][1],
            "differences": MODELS[config][2]}


def table(rows):
    def f(x):
        return "-" if x is None else f"{x:.3f}"
    lines = ["| model (ours, test split) | trained steps | windows | acc TF | acc sampled | "
             "untrained TF / sampled | all-zero output | paper row | paper TF | paper sampled | "
             "differences |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = PAPER[r["paper_row"]]
        hier = r["config"].startswith("hierdec")
        tf_p, s_p = (p[1], p[3]) if hier else (p[0], p[2])
        which = f"{r['paper_row']} ({'hierarchical' if hier else 'flat'})"
        lines.append(f"| {r['config']} | {r['checkpoint_step']:,} | {r['test_windows']:,} | "
                     f"{f(r['tf'])} | {f(r['sampled'])} | {f(r['untrained_tf'])} / "
                     f"{f(r['untrained_sampled'])} | {f(r['all_zero'])} | "
                     f"{which} | {f(tf_p)} | {f(s_p)} | {r['differences']} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--num_batches", type=int, default=0)
    p.add_argument("--reuse", action="store_true")
    a = p.parse_args(argv)
    rows = []
    for config in [m.strip() for m in a.models.split(",") if m.strip()]:
        if config not in MODELS:
            p.error(f"--models: {config!r} is not one of {', '.join(MODELS)}")
        rows.append(row(config, evaluate(config, MODELS[config][0], a.num_batches, a.reuse)))
    md = ("# Bundled VAEs: per-step reconstruction accuracy (bench/vae_accuracy.py)\n\n"
          "TF = teacher-forced, sampled = free-running greedy decode from z = mu; accuracy = share "
          "of 16th steps whose whole class is right (melody: 90 classes; drums: 512 drum "
          "combinations; GrooVAE: all 9 hits of the step). all-zero output = class 0 at every step "
          "(melody: no event, i.e. hold / rest; drums: silence). Paper: MusicVAE Table 1.\n\n"
          + table(rows) + "\n")
    with open(os.path.join(RESULTS, "vae_accuracy.json"), "w") as f:
        json.dump({"rows": rows, "paper": PAPER}, f, indent=1)
    with open(os.path.join(RESULTS, "vae_accuracy.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
