"""The source material's four experiments at CPU-sized steps, in one run.

    (a) hierdec-groove_4bar_categorical  4-bar hierarchical MusicVAE, categorical (softmax) core
                                         decoder, on GrooveConverter tensors   (Groove MIDI)
    (b) hierdec-drums_4bar               the same model on DrumsConverter tensors (Groove MIDI)
    (c) groovae_4bar                     GrooVAE                                (Groove MIDI)
    (d) hierdec-mel_4bar                 4-bar hierarchical melody VAE          (MAESTRO subset)

Each is trained from scratch by the project's own command (`python -m musicgen.train`, a child
process, same seed, batch and steps for all four), its loss curves read back from the run's
TensorBoard events. Beside the curves, evidence of what each decoder's output distribution can
represent: measured on the validation split's target tensors (is each step's target a
distribution the decoder's likelihood is defined over?) and on 64 prior samples of each trained
model (hits per step, velocities). Needs the NoteSequence shards first:

    python -m pipelines.convert_midi --dataset=groove --input_dir=../shared/data/groove --output_dir=out/groove_ns
    python -m pipelines.convert_midi --dataset=maestro --input_dir=../shared/data/maestro-v2.0.0 --output_dir=out/maestro_ns
    .venv/bin/python bench/four_experiments.py                       # 300 steps each, batch 64
    .venv/bin/python bench/four_experiments.py --steps=50 --only=a,b # a quick look

A run dir that already reached --steps is not retrained (rerun after an interruption resumes).
Writes bench/results/four_experiments.{json,md,png}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "bench", "results")

EXPERIMENTS = {  # key: (config, dataset dir, what it is)
    "a": ("hierdec-groove_4bar_categorical", "out/groove_ns",
          "hierarchical, categorical core decoder, GrooveConverter"),
    "b": ("hierdec-drums_4bar", "out/groove_ns", "hierarchical, categorical, DrumsConverter"),
    "c": ("groovae_4bar", "out/groove_ns", "GrooVAE (sigmoid hits + MSE velocity / offset)"),
    "d": ("hierdec-mel_4bar", "out/maestro_ns", "hierarchical melody VAE, MAESTRO"),
}


def train(key, args):
    config, data, _ = EXPERIMENTS[key]
    run_dir = os.path.join(args.work_dir, key)
    pointer = os.path.join(run_dir, "checkpoint.json")
    timing = os.path.join(run_dir, "bench_train_seconds.json")
    if os.path.exists(pointer):
        with open(pointer) as f:
            if int(json.load(f).get("step", 0)) >= args.steps:
                if os.path.exists(timing):
                    with open(timing) as t:
                        return run_dir, json.load(t)["seconds"]
                return run_dir, None
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "musicgen.train", f"--config={config}", f"--run_dir={run_dir}",
           f"--dataset_dir={os.path.join(ROOT, data)}", f"--num_steps={args.steps}",
           f"--hparams=batch_size={args.batch_size}", "--log_every=10",
           f"--save_checkpoint_steps={min(100, args.steps)}", f"--seed={args.seed}",
           "--progress=false"]
    t0 = time.perf_counter()
    with open(run_dir + ".log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    with open(timing, "w") as f:
        json.dump({"seconds": seconds}, f)
    return run_dir, seconds


def target_evidence(config_name, data_dir, max_sequences):
    """What the validation targets are, per step: one-hot (a categorical's support) or not."""
    import numpy as np
    from musicgen.config import converter_for, get_config
    from musicgen.datasets.tfrecord import iterate_note_sequences
    from musicgen.paths import split_files, split_pattern
    _, config = get_config(config_name)
    conv = converter_for(config, "eval")
    steps = []
    seen = 0
    for path in split_files(split_pattern(os.path.join(ROOT, data_dir), "validation"), "data"):
        for ns in iterate_note_sequences(path):
            if seen >= max_sequences:
                break
            seen += 1
            try:
                steps.extend(np.asarray(o, np.float64) for o in conv.to_tensors(ns).outputs)
            except ValueError:
                continue
    t = np.concatenate(steps, axis=0)  # (steps, depth)
    depth = t.shape[1]
    nonzero = (t != 0).sum(axis=1)
    one_hot = (nonzero == 1) & np.isclose(t.max(axis=1), 1.0)
    negative = (t < 0).any(axis=1)
    out = {"config": config_name, "windows": len(steps), "steps": int(t.shape[0]),
           "output_depth": int(depth),
           "share_steps_one_hot": float(one_hot.mean()),
           "share_steps_with_negative_entries": float(negative.mean()),
           "mean_target_sum": float(t.sum(axis=1).mean()),
           "mean_nonzero_entries_per_step": float(nonzero.mean())}
    if config_name.startswith(("groovae", "hierdec-groove")):
        d = depth // 3
        hits = t[:, :d] > 0.5
        out["drums"] = d
        out["share_steps_two_or_more_hits"] = float((hits.sum(axis=1) >= 2).mean())
        out["share_hit_steps_two_or_more_hits"] = float(
            (hits.sum(axis=1) >= 2).sum() / max(1, hits.any(axis=1).sum()))
        # (a): -sum(t * log_softmax(l)) is bounded below only when t >= 0: with a negative entry the
        # logit of that class can be pushed to -inf and the "loss" with it.
        if config_name.startswith("hierdec-groove"):  # the softmax decoder's loss on them
            out["xent_bounded_below"] = bool(not negative.any())
            # Even on the non-negative part alone, a softmax p cannot reach 0 loss: the minimum
            # of -sum(t+ log p) is S H(t+ / S) nats at p = t+ / S (S = sum of t+), per window:
            pos = np.clip(t, 0.0, None)
            total = pos.sum(axis=1)
            q = pos / np.where(total > 0, total, 1.0)[:, None]
            ent = -(np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)).sum(axis=1)
            out["xent_floor_nonneg_part_per_window"] = float((total * ent).sum() / len(steps))
    return out


def sample_evidence(config_name, run_dir, n, seed):
    """Prior samples of the trained model: what its outputs can express."""
    import numpy as np
    from musicgen.trained_model import TrainedModel
    tm = TrainedModel(config_name, run_dir, batch_size=n, seed=seed)
    tensors = np.asarray(tm.decode_to_tensors(
        np.random.default_rng(seed).standard_normal((n, tm.z_size)).astype(np.float32),
        temperature=0.5))
    nss = tm.converter.from_tensors(tensors)
    notes = [nn for ns in nss for nn in ns.notes]
    onsets_per_sample = []
    for ns in nss:
        by_start = {}
        for nn in ns.notes:
            by_start[round(nn.start_time, 4)] = by_start.get(round(nn.start_time, 4), 0) + 1
        onsets_per_sample.append(max(by_start.values()) if by_start else 0)
    out = {"samples": n, "temperature": 0.5,
           "mean_notes_per_sample": float(len(notes) / n),
           "max_simultaneous_onsets": int(max(onsets_per_sample) if onsets_per_sample else 0),
           "distinct_velocities": int(len({nn.velocity for nn in notes}))}
    if notes:
        out["median_velocity"] = float(statistics.median(nn.velocity for nn in notes))
    if config_name.startswith(("groovae", "hierdec-groove")):
        d = tensors.shape[-1] // 3
        active = (tensors != 0).sum(axis=-1)
        out["mean_nonzero_output_entries_per_step"] = float(active.mean())
        out["max_hits_in_one_step"] = int((tensors[..., :d] > 0.5).sum(axis=-1).max())
    return out


def curves(run_dir):
    from musicgen.curves import read_scalars
    s = read_scalars(os.path.join(run_dir, "train"))
    return {tag: s[tag] for tag in ("loss", "recon_loss", "kl_bits", "accuracy") if tag in s}


def last_median(series, k=5):
    vals = [v for _, v in series[-k:]]
    return float(statistics.median(vals)) if vals else None


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for key, r in results.items():
        label = f"({key}) {r['config']}"
        for ax, tag in zip(axes, ("loss", "recon_loss", "accuracy")):
            pts = r["curves"].get(tag, [])
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label)
    for ax, title in zip(axes, ("loss (recon + beta x KL term)", "reconstruction loss",
                                "per-step accuracy (training batches)")):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_md(report, path):
    lines = ["# Four experiments (bench/four_experiments.py)", "",
             f"{report['steps']} steps each, batch {report['batch_size']}, seed {report['seed']}, "
             "trained from scratch by `musicgen.train` on 2 CPU cores.", "",
             "| exp | config | loss (last 5 logs, median) | recon | accuracy | KL bits | train s |",
             "|---|---|---|---|---|---|---|"]
    for key, r in report["experiments"].items():
        c = r["curves"]
        lines.append(f"| ({key}) | {r['config']} | {fmt(last_median(c.get('loss', [])))} | "
                     f"{fmt(last_median(c.get('recon_loss', [])))} | "
                     f"{fmt(last_median(c.get('accuracy', [])), 3)} | "
                     f"{fmt(last_median(c.get('kl_bits', [])))} | {fmt(r['train_seconds'], 0)} |")
    lines += ["", "## Targets (validation split) and prior samples", ""]
    for key, r in report["experiments"].items():
        lines.append(f"- ({key}) targets: `{json.dumps(r['targets'])}`")
        lines.append(f"  samples: `{json.dumps(r['samples'])}`")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default="a,b,c,d")
    p.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "four_experiments"))
    p.add_argument("--validation_sequences", type=int, default=60)
    p.add_argument("--num_samples", type=int, default=64)
    p.add_argument("--out_dir", default=RESULTS)
    a = p.parse_args(argv)
    keys = [k.strip() for k in a.only.split(",") if k.strip()]
    for k in keys:
        if k not in EXPERIMENTS:
            p.error(f"--only: unknown experiment {k!r} (choose from a, b, c, d)")
        data = os.path.join(ROOT, EXPERIMENTS[k][1])
        if not os.path.isdir(data):
            p.error(f"experiment ({k}) needs NoteSequence shards in {data} (see the module doc)")
    os.makedirs(a.work_dir, exist_ok=True)
    results = {}
    for k in keys:
        config, data, what = EXPERIMENTS[k]
        run_dir, secs = train(k, a)
        print(f"({k}) {config}: trained ({'earlier, time not kept' if secs is None else f'{secs:.0f} s'})",
              flush=True)
        results[k] = {"config": config, "data": data, "what": what, "train_seconds": secs,
                      "curves": curves(run_dir),
                      "targets": target_evidence(config, data, a.validation_sequences),
                      "samples": sample_evidence(config, run_dir, a.num_samples, a.seed)}
    report = {"steps": a.steps, "batch_size": a.batch_size, "seed": a.seed,
              "experiments": results}
    os.makedirs(a.out_dir, exist_ok=True)
    base = os.path.join(a.out_dir, "four_experiments")
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=1)
    write_md(report, base + ".md")
    plot(results, base + ".png")
    print(open(base + ".md").read())


if __name__ == "__main__":
    main()
