r"""Realism report: `python -m musicgen.report` (any model family).

    python -m musicgen.report --dataset_dir=out/groove_ns                  # bundled groovae_4bar
    python -m musicgen.report --config=groovae_4bar --checkpoint=runs/groovae_4bar \
        --dataset_dir=out/groove_ns --split=test --num_samples=512 --output_dir=reports

Compares three sets of NoteSequences per feature: the held-out data (the converter windows of the
`--split` NoteSequence shards in --dataset_dir, at most --max_windows of them drawn with a fixed
seed; each window's converter *output* tensors are decoded with the converter's `from_tensors`, so
the data go through the same decode path as the samples), samples of the model (the family's
`sample` generate mode with its defaults: temperature 0.5 for VAEs, the config's for token LMs,
unless --temperature) and samples of an untrained model (the same config built after
`keras.utils.set_random_seed(0)` with seed 0, sampled the same way, same temperature and seed).
Times are read from each NoteSequence at its own tempo (GrooVAE decodes data windows and samples
alike at 120 qpm).

Which features apply is read from the data's notes, never from the model: drum features
(`musicgen.realism.drum_features`) when the data windows hold drum notes, pitched features
(`musicgen.realism.pitched_features`) when they hold non-drum notes (both for mixed data). Per
feature: mean / sd (scalars) or the total-variation distance of the set's mean histogram to the
data's (histograms), and the MGEval overlap area and KL divergence of generated-vs-data and
untrained-vs-data (`musicgen.realism.overlap`); "closer" = the generated samples' overlap area is
larger than the untrained model's (equal areas: the smaller KL). With drum features, the groove
targets of `drum_features` (module doc: the exact definitions) are computed for each set and
checked for the generated samples.

Writes `<output_dir>/<config>_<split>_report.json` (every number), `..._report.md` (the tables)
and `..._report.png` (one panel per feature: histograms of scalars, mean histograms of histogram
features, the overlap areas in the titles). Every bad flag exits with status 1 and one line
`musicgen.report: error: --flag: ...`, checked before any model loads.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

PROG = "musicgen.report"
DEFAULT_CONFIG = "groovae_4bar"
SETS = ("data", "generated", "untrained")
UNTRAINED_SEED = 0
WINDOW_SEED = 0


class FlagError(ValueError):
    """A flag value that cannot be used; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line naming the flag, no usage dump
        if message.startswith("unrecognized arguments: "):
            raise FlagError(f"{message[len('unrecognized arguments: '):]}: unknown flag")
        raise FlagError(message[len("argument "):] if message.startswith("argument ") else message)


def parse_flags(argv) -> argparse.Namespace:
    p = _Parser(prog=PROG, description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--config", default=None, help="config name (default: the checkpoint's; "
                   f"without --checkpoint: {DEFAULT_CONFIG})")
    p.add_argument("--checkpoint", default=None, help="run dir, checkpoint prefix or .weights.h5 "
                   "(default: the bundled model of --config)")
    p.add_argument("--dataset_dir", default=None, help="NoteSequence shards <dir>/<split>-*")
    p.add_argument("--split", default="test")
    p.add_argument("--num_samples", type=int, default=512, help="samples per model")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature (default: the family's, 0.5 for VAEs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output_dir", default="reports")
    p.add_argument("--max_windows", type=int, default=2048, help="most data windows used")
    p.add_argument("--batch_size", type=int, default=64, help="most sequences per model call")
    return p.parse_args(argv)


def check_flags(args) -> dict:
    """The checks that need no model: numbers, --dataset_dir shards, --output_dir, then --config
    and --checkpoint. Returns {files, output_dir, checkpoint, config_name, config}."""
    for name, low in (("num_samples", 2), ("max_windows", 2), ("batch_size", 1)):
        if getattr(args, name) < low:
            raise FlagError(f"--{name}={getattr(args, name)}: must be >= {low}")
    if args.temperature is not None and not args.temperature >= 0:
        raise FlagError(f"--temperature={args.temperature}: must be >= 0")
    if not args.dataset_dir:
        raise FlagError("--dataset_dir: required (a folder of NoteSequence shards "
                        "<split>-*.tfrecord, e.g. from python -m pipelines.convert_midi)")
    from musicgen.paths import make_writable_dir, split_files, split_pattern
    dataset_dir = os.path.expanduser(args.dataset_dir)
    if not os.path.exists(dataset_dir):
        raise FlagError(f"--dataset_dir={args.dataset_dir}: no such folder")
    try:
        files = split_files(split_pattern(dataset_dir, args.split), "--dataset_dir")
    except FileNotFoundError:
        raise FlagError(f"--dataset_dir={args.dataset_dir}: no {args.split}-* shards "
                        f"(--split={args.split})") from None
    output_dir = os.path.abspath(os.path.expanduser(args.output_dir))
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise FlagError(f"--output_dir={args.output_dir}: exists and is not a folder")
    try:
        make_writable_dir(output_dir)
    except OSError as err:
        raise FlagError(f"--output_dir={args.output_dir}: cannot write there "
                        f"({err.strerror or err})") from None
    checkpoint, config_name, config = _model_flags(args)
    return dict(files=files, output_dir=output_dir, checkpoint=checkpoint,
                config_name=config_name, config=config)


def _model_flags(args):
    from musicgen import checkpoints
    from musicgen.config import config_names
    if args.config and args.config not in config_names():
        raise FlagError(f"--config: unknown config {args.config!r}; valid configs: "
                        f"{', '.join(config_names())}")
    if args.checkpoint:
        try:
            checkpoint = checkpoints.resolve_checkpoint_path(os.path.expanduser(args.checkpoint))
        except FileNotFoundError as err:
            raise FlagError(f"--checkpoint: {err}") from None
    else:
        checkpoint = checkpoints.pretrained_path(args.config or DEFAULT_CONFIG)
        if not os.path.exists(checkpoint + checkpoints.WEIGHTS_SUFFIX):
            raise FlagError(f"--checkpoint: required for --config={args.config or DEFAULT_CONFIG}"
                            f" (no bundled model {checkpoint + checkpoints.WEIGHTS_SUFFIX})")
    meta = checkpoints.read_metadata(checkpoint)
    if args.config and meta.get("config") and meta["config"] != args.config:
        raise FlagError(f"--config={args.config}: {checkpoint} holds a {meta['config']} model")
    name = args.config or meta.get("config")
    if not name:
        raise FlagError(f"--config: {checkpoint} stores no config name; pass --config")
    try:
        name, config = checkpoints.get_config(name, meta.get("hparams", ""))
    except ValueError as err:
        raise FlagError(f"--checkpoint: {err}") from None
    return checkpoint, name, config


# ---- the three sets --------------------------------------------------------------------------
def data_windows(config, files, max_windows: int) -> tuple:
    """(decoded NoteSequences of at most max_windows data windows, windows in the split)."""
    import numpy as np
    from musicgen import config as config_lib
    from musicgen.datasets.tfrecord import iterate_note_sequences
    conv = config_lib.converter_for(config, "eval")
    outputs = []
    for path in files:
        for ns in iterate_note_sequences(path):
            try:
                outputs.extend(conv.to_tensors(ns).outputs)
            except ValueError:  # a sequence the converter cannot take (as the input pipeline)
                continue
    total = len(outputs)
    if total > max_windows:
        keep = np.sort(np.random.default_rng(WINDOW_SEED).choice(total, max_windows,
                                                                  replace=False))
        outputs = [outputs[i] for i in keep]
    return conv.from_tensors(outputs), total


def sample_mode_flags(num_samples: int, temperature, seed: int):
    """musicgen.generate's flags at their defaults (every family's sample-mode options) with
    --num_outputs / --temperature / --seed set: the sample mode then uses the family's defaults."""
    from absl import flags
    from musicgen import generate
    fv = generate.define_flags(flags.FlagValues())
    fv([PROG])
    fv.num_outputs, fv.temperature, fv.seed = num_samples, temperature, seed
    return fv


def model_samples(name, config, model, args) -> list:
    """The family's sample mode run on `model` (no family branch here)."""
    wrapper = config.family.inference(name, config, model, seed=args.seed,
                                      batch_size=min(args.batch_size, args.num_samples))
    fv = sample_mode_flags(args.num_samples, args.temperature, args.seed)
    return list(config.family.modes["sample"].run(wrapper, fv, []))


def generated_and_untrained(checks: dict, args) -> dict:
    import keras
    from musicgen import checkpoints
    from musicgen import config as config_lib
    keras.utils.set_random_seed(args.seed)
    name, config, model = checkpoints.load_model(checks["checkpoint"], checks["config_name"])
    out = {"generated": model_samples(name, config, model, args)}
    keras.utils.set_random_seed(UNTRAINED_SEED)
    untrained = config_lib.build_model(config, compile=False, seed=UNTRAINED_SEED)
    out["untrained"] = model_samples(name, config, untrained, args)
    return out


# ---- features and comparisons ----------------------------------------------------------------
def feature_table(sets: dict) -> tuple:
    """(specs [(name, label, kind, group, bins)], values {set: {name: per-sample list}}, drum
    bars); bins: the bin centres of a histogram feature (None for scalars)."""
    from collections import Counter
    from musicgen.realism import drum_features, pitched_features
    data_notes = [n for ns in sets["data"] for n in ns.notes]
    specs, values, bars = [], {s: {} for s in sets}, None
    if any(n.is_drum for n in data_notes):
        counts = Counter(b for b in map(drum_features.window_bars, sets["data"]) if b)
        bars = counts.most_common(1)[0][0]
        specs += [spec + ("drums", drum_features.BINS.get(spec[0]))
                  for spec in drum_features.FEATURES]
        for s, seqs in sets.items():
            values[s].update(drum_features.set_features(seqs, bars))
    if any(not n.is_drum for n in data_notes):
        specs += [spec + ("pitched", pitched_features.BINS.get(spec[0]))
                  for spec in pitched_features.FEATURES]
        for s, seqs in sets.items():
            values[s].update(pitched_features.set_features(seqs))
    return specs, values, bars


def summarize(kind: str, vals, data_vals) -> dict:
    import numpy as np
    from musicgen.realism.overlap import as_matrix
    m = as_matrix(vals)
    out = {"n": int(len(m))}
    if kind == "scalar":
        out.update(mean=float(m.mean()) if len(m) else None,
                   sd=float(m.std()) if len(m) else None)
    else:
        ref = as_matrix(data_vals)
        mean = m.mean(axis=0) if len(m) else None
        out["mean"] = None if mean is None else [round(float(v), 5) for v in mean]
        out["tv_to_data"] = (None if mean is None or not len(ref) else
                             float(0.5 * np.abs(mean - ref.mean(axis=0)).sum()))
    return out


def compare_features(specs, values, seed: int) -> dict:
    from musicgen.realism.overlap import compare
    out = {}
    for name, label, kind, group, bins in specs:
        row = {"label": label, "kind": kind, "group": group}
        if bins is not None:
            row["bins"] = bins
        for s in SETS:
            row[s] = summarize(kind, values[s][name], values["data"][name])
        for s in SETS[1:]:
            row[f"{s}_vs_data"] = compare(values["data"][name], values[s][name], seed=seed)
        g, u = row["generated_vs_data"], row["untrained_vs_data"]
        if g["overlap_area"] is None or u["overlap_area"] is None:
            row["closer"] = None
        elif g["overlap_area"] != u["overlap_area"]:
            row["closer"] = bool(g["overlap_area"] > u["overlap_area"])
        else:
            row["closer"] = bool(g["kl_divergence"] < u["kl_divergence"])
        out[name] = row
    return out


def groove_targets(sets: dict, values: dict, bars: int) -> dict:
    from musicgen.realism import drum_features as df
    numbers = {s: df.groove_targets(sets[s], bars, values[s]) for s in SETS}
    out = {}
    for name in numbers["data"]:
        op, threshold, issue = df.TARGETS.get(name, (None, None, None))
        out[name] = {s: numbers[s][name] for s in SETS}
        if name in df.TARGETS:
            out[name].update(target=None if op is None else f"{op} {threshold:g}",
                             issue_data=issue,
                             passed=df.check_target(name, numbers["generated"][name]))
    return out


# ---- outputs ---------------------------------------------------------------------------------
def _fmt(v, digits=3):
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"


def markdown(report: dict) -> str:
    def cell(row, s):
        r = row[s]
        if row["kind"] == "scalar":
            return "-" if r["mean"] is None else f"{_fmt(r['mean'])} ± {_fmt(r['sd'])}"
        return "ref" if s == "data" else f"TV {_fmt(r['tv_to_data'])}"
    lines = [f"# Realism report: {report['config']} vs `{report['split']}`", "",
             f"Checkpoint `{report['checkpoint']}` (step {report['checkpoint_step']}); "
             f"{report['num_windows']} data windows (of {report['split_windows']}), "
             f"{report['num_samples']} samples per model, temperature "
             f"{report['temperature'] if report['temperature'] is not None else 'family default'},"
             f" seed {report['seed']}; untrained = same config, seed {UNTRAINED_SEED}. "
             f"OA: MGEval overlap area with the data (1 = same), KL: KL(intra || inter) in nats. "
             f"Histogram features: total-variation distance of the mean histogram to the data's. "
             f"`python -m musicgen.report`, {report['date']}, {report['seconds']:.0f} s.", "",
             "| feature | data | generated | untrained | OA gen | OA untrained | KL gen | "
             "KL untrained | closer? |", "|---|---|---|---|---|---|---|---|---|"]
    for row in report["features"].values():
        g, u = row["generated_vs_data"], row["untrained_vs_data"]
        closer = {True: "yes", False: "**no**", None: "-"}[row["closer"]]
        lines.append(f"| {row['label']} | {cell(row, 'data')} | {cell(row, 'generated')} | "
                     f"{cell(row, 'untrained')} | {_fmt(g['overlap_area'])} | "
                     f"{_fmt(u['overlap_area'])} | {_fmt(g['kl_divergence'])} | "
                     f"{_fmt(u['kl_divergence'])} | {closer} |")
    n = [r["closer"] for r in report["features"].values()]
    lines += ["", f"Generated closer to the data than untrained on {sum(c is True for c in n)} "
              f"of {len(n)} features."]
    if report.get("groove_targets"):
        lines += ["", "## Groove targets (definitions: `musicgen/realism/drum_features.py`)", "",
                  "| target | data | generated | untrained | target | issue's data | pass |",
                  "|---|---|---|---|---|---|---|"]
        for name, t in report["groove_targets"].items():
            passed = {True: "pass", False: "**fail**", None: "-"}[t.get("passed")]
            lines.append(f"| {name} | {_fmt(t['data'])} | {_fmt(t['generated'])} | "
                         f"{_fmt(t['untrained'])} | {t.get('target') or '-'} | "
                         f"{_fmt(t.get('issue_data'))} | {passed} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, values: dict, path: str) -> None:
    """One page: a panel per feature (see the module doc)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from musicgen.realism.overlap import as_matrix
    colors = {"data": "black", "generated": "tab:blue", "untrained": "tab:red"}
    rows = list(report["features"].items())
    ncols = 5
    nrows = (len(rows) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows + 0.6),
                             squeeze=False)
    for ax, (name, row) in zip(axes.ravel(), rows):
        mats = {s: as_matrix(values[s][name]) for s in SETS}
        if row["kind"] == "scalar":
            pooled = np.concatenate([m.ravel() for m in mats.values()])
            lo, hi = (pooled.min(), pooled.max()) if len(pooled) else (0.0, 1.0)
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 25)
            for s, m in mats.items():
                if len(m):
                    ax.hist(m.ravel(), edges, density=True, histtype="step", color=colors[s],
                            lw=1.4, label=s)
        else:
            for s, m in mats.items():
                if len(m):
                    ax.plot(row.get("bins", np.arange(m.shape[1])), m.mean(axis=0), "o-",
                            ms=2.5, lw=1.2, color=colors[s], label=s)
            ax.set_xlabel("bin centre; mean share of the sample's notes", fontsize=7)
        g = row["generated_vs_data"]["overlap_area"]
        u = row["untrained_vs_data"]["overlap_area"]
        ax.set_title(f"{row['label']}\nOA gen {_fmt(g, 2)} | untrained {_fmt(u, 2)}", fontsize=8,
                     color="black" if row["closer"] is not False else "tab:red")
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(rows):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=6)
    fig.suptitle(f"{report['config']} vs {report['split']} ({report['num_windows']} windows, "
                 f"{report['num_samples']} samples per model): data black, generated blue, "
                 f"untrained red", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _shown(path: str) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    path = os.path.abspath(os.path.expanduser(path))
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def run(argv) -> dict:
    """Check the flags, build the three sets, compare, write JSON / MD / PNG; returns the report."""
    t0 = time.perf_counter()
    args = parse_flags(argv)
    checks = check_flags(args)
    data, split_windows = data_windows(checks["config"], checks["files"], args.max_windows)
    if len(data) < 2:
        raise FlagError(f"--dataset_dir={args.dataset_dir}: the {args.split} shards give "
                        f"{len(data)} {checks['config_name']} window(s); at least 2 are needed")
    sets = {"data": data, **generated_and_untrained(checks, args)}
    specs, values, bars = feature_table(sets)
    from musicgen import checkpoints
    name = checks["config_name"]
    report = {
        "config": name, "checkpoint": _shown(checks["checkpoint"]),
        "checkpoint_step": checkpoints.read_metadata(checks["checkpoint"]).get("step"),
        "split": args.split, "dataset_dir": _shown(args.dataset_dir),
        "split_windows": split_windows, "num_windows": len(data),
        "num_samples": args.num_samples, "temperature": args.temperature, "seed": args.seed,
        "untrained_seed": UNTRAINED_SEED, "drum_window_bars": bars,
        "features": compare_features(specs, values, args.seed),
    }
    if bars is not None:
        report["groove_targets"] = groove_targets(sets, values, bars)
    report["date"] = time.strftime("%Y-%m-%d %H:%M")
    report["seconds"] = round(time.perf_counter() - t0, 1)
    prefix = os.path.join(checks["output_dir"], f"{name}_{args.split}_report")
    with open(prefix + ".json.tmp", "w", encoding="utf-8") as f:  # feature order kept
        json.dump(report, f, indent=1, default=str)
        f.write("\n")
    os.replace(prefix + ".json.tmp", prefix + ".json")
    text = markdown(report)
    with open(prefix + ".md", "w", encoding="utf-8") as f:
        f.write(text)
    plot(report, values, prefix + ".png")
    print(text)
    print(f"wrote {prefix}.json, .md and .png")
    return report


def main(argv=None) -> None:
    try:
        run(sys.argv[1:] if argv is None else argv)
    except FlagError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
