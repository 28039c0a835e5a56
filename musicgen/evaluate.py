r"""Evaluate a MusicVAE checkpoint: `python -m musicgen.evaluate`.

    python -m musicgen.evaluate --config=groovae_4bar --checkpoint=runs/groove \
        --dataset_dir=/tmp/groove_ns --split=test --num_batches=20

Reports, for the trained model and for an untrained model of the same config built with the same
seed (the floor; `--nountrained` skips it):

* `acc_teacher_forced`: per-step reconstruction accuracy with the decoder fed the true previous
  step (z from the posterior). Categorical outputs: argmax == target. Groove: all drum hits of the
  step right (hit prob > 0.5), i.e. the same question as the 512-class one-hot drum models.
* `acc_sampled`: the same accuracy for the decoder running free from z = mu (its own previous
  outputs, `--sample_temperature`), as the "sampling" column of the MusicVAE paper.
* Groove only, for both decodings: hit precision / recall / F1 over (step, drum) cells, velocity
  MAE (MIDI units 0-127) and timing-offset MAE (ms at 120 bpm; 1.0 offset unit = half a 16th =
  62.5 ms) on true-positive hits.
* `kl_bits`: KL(q(z|x) || N(0, I)) per sequence, in bits.
* An "all-zero output" row: what predicting silence (no hits; class 0 for one-hot outputs) scores.

Prints a table and writes all numbers to `--output_json`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Optional

import numpy as np

GROOVE_OFFSET_MS_AT_120 = 62.5  # offset 1.0 = half a 16th note = 0.5 * 125 ms at 120 bpm


# ---- metric accumulation (numpy only; unit-tested by hand-made cases) ----------------------------
def step_mask(lengths, t: int) -> np.ndarray:
    """(B, T) bool: step < length (hierarchical lengths (B, S) are summed)."""
    lengths = np.asarray(lengths)
    if lengths.ndim > 1:
        lengths = lengths.sum(axis=tuple(range(1, lengths.ndim)))
    return np.arange(t)[None, :] < lengths[:, None]


@dataclasses.dataclass
class ReconstructionCounts:
    """Sums over valid steps; `result()` turns them into rates. Add batches with `add_*`."""

    steps: int = 0
    correct_steps: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    velocity_abs_err: float = 0.0
    offset_abs_err: float = 0.0

    def add_categorical(self, pred, target, lengths) -> None:
        """pred / target (B, T, depth) scores or one-hot: argmax per step."""
        pred, target = np.asarray(pred), np.asarray(target)
        mask = step_mask(lengths, target.shape[1])
        same = np.argmax(pred, -1) == np.argmax(target, -1)
        self.steps += int(mask.sum())
        self.correct_steps += int((same & mask).sum())

    def add_groove(self, pred, target, lengths, num_drums: Optional[int] = None) -> None:
        """pred / target (B, T, 3D) = [hits (prob or 0/1), velocities 0-1, offsets -1..1]."""
        pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
        d = num_drums or target.shape[-1] // 3
        mask = step_mask(lengths, target.shape[1])
        p_hit, t_hit = pred[..., :d] > 0.5, target[..., :d] > 0.5
        cell_mask = mask[..., None]
        self.steps += int(mask.sum())
        self.correct_steps += int(((p_hit == t_hit).all(-1) & mask).sum())
        tp = p_hit & t_hit & cell_mask
        self.tp += int(tp.sum())
        self.fp += int((p_hit & ~t_hit & cell_mask).sum())
        self.fn += int((~p_hit & t_hit & cell_mask).sum())
        vel_err = np.abs(pred[..., d:2 * d] - target[..., d:2 * d]) * 127.0
        off_err = np.abs(pred[..., 2 * d:3 * d] - target[..., 2 * d:3 * d]) * GROOVE_OFFSET_MS_AT_120
        self.velocity_abs_err += float(vel_err[tp].sum())
        self.offset_abs_err += float(off_err[tp].sum())

    def result(self, groove: bool) -> dict:
        out = {"accuracy": _ratio(self.correct_steps, self.steps), "steps": self.steps}
        if groove:
            precision = _ratio(self.tp, self.tp + self.fp)
            recall = _ratio(self.tp, self.tp + self.fn)
            f1 = (2 * precision * recall / (precision + recall)
                  if precision and recall else 0.0)
            out.update({"hit_precision": precision, "hit_recall": recall, "hit_f1": f1,
                        "velocity_mae": _ratio(self.velocity_abs_err, self.tp),
                        "offset_mae_ms": _ratio(self.offset_abs_err, self.tp),
                        "true_positive_hits": self.tp})
        return out


def _ratio(a, b) -> Optional[float]:
    """a / b, or None (json null) when b is 0: e.g. precision with no predicted hit."""
    return float(a) / b if b else None


def kl_bits(mu, sigma) -> np.ndarray:
    """KL(N(mu, sigma^2) || N(0, I)) per row, in bits."""
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    nats = 0.5 * np.sum(mu ** 2 + sigma ** 2 - 1.0 - 2.0 * np.log(sigma), axis=-1)
    return nats / math.log(2.0)


# ---- model predictions ----------------------------------------------------------------------------
def is_groove(model) -> bool:
    """True for GrooVAE decoders ([hits, velocities, offsets] outputs)."""
    return hasattr(model.decoder, "activate")


def teacher_forced_predictions(model, outputs, z, controls=None):
    """Per-step predictions with the true previous output fed back: (B, T, depth) numpy, or None.

    Groove: [hit probabilities, velocities, offsets]; categorical: logits. None for decoders
    without a flat teacher-forced path (hierarchical, multi-output): see `model_accuracy`.
    """
    from keras import ops
    decoder = model.decoder
    flat_categorical = type(decoder).__name__ == "CategoricalLstmDecoder"
    if not (is_groove(model) or flat_categorical):
        return None
    x_target = ops.convert_to_tensor(outputs, "float32")
    x_input = ops.pad(x_target[:, :-1], [(0, 0), (1, 0), (0, 0)])
    c = ops.convert_to_tensor(controls, "float32") if model.control_depth else None
    logits = decoder.teacher_forced_logits(x_input, ops.convert_to_tensor(z), c, training=False)
    if is_groove(model):
        logits = ops.concatenate(decoder.activate(logits), axis=-1)
    return ops.convert_to_numpy(logits)


def model_accuracy(model, batch) -> float:
    """The model's own accuracy metric of a batch (teacher-forced unless scheduled sampling)."""
    return float(model(batch, training=False)["accuracy"])


def evaluate_model(model, batches, sample_temperature: float = 0.0,
                   zero_baseline: bool = False) -> dict:
    """Teacher-forced and sampled reconstruction metrics plus KL bits over numpy batch dicts.

    zero_baseline=True adds "zero_baseline": the metrics of an all-zero output (no hits / class 0
    everywhere) on the same batches.
    """
    groove = is_groove(model)
    forced, sampled, zero = ReconstructionCounts(), ReconstructionCounts(), ReconstructionCounts()
    kls = []
    for batch in batches:
        outputs, lengths = batch["outputs"], batch["lengths"]
        controls = batch["controls"] if model.control_depth else None
        z, mu, sigma = model.encode(batch["inputs"], lengths, controls)
        kls.append(kl_bits(mu, sigma))
        pred = teacher_forced_predictions(model, outputs, z, controls)
        if pred is None:  # hierarchical / multi-output decoders: the model's own metric
            steps = int(step_mask(lengths, outputs.shape[1]).sum())
            forced.correct_steps += int(round(model_accuracy(model, batch) * steps))
            forced.steps += steps
        else:
            (forced.add_groove if groove else forced.add_categorical)(pred, outputs, lengths)
        samples = model.decode(mu, outputs.shape[1], temperature=sample_temperature,
                               controls=controls)
        (sampled.add_groove if groove else sampled.add_categorical)(samples, outputs, lengths)
        if zero_baseline:
            (zero.add_groove if groove else zero.add_categorical)(
                np.zeros_like(outputs), outputs, lengths)
    kl = np.concatenate(kls) if kls else np.zeros(0)
    out = {"teacher_forced": forced.result(groove), "sampled": sampled.result(groove),
           "kl_bits": float(kl.mean()) if kl.size else None,
           "num_sequences": int(kl.size)}
    if zero_baseline:
        out["zero_baseline"] = zero.result(groove)
    return out


# ---- reporting ----------------------------------------------------------------------------------
TABLE_COLUMNS = [  # (header, section, key, format)
    ("acc TF", "teacher_forced", "accuracy", "{:.3f}"),
    ("acc sampled", "sampled", "accuracy", "{:.3f}"),
    ("hit F1 TF", "teacher_forced", "hit_f1", "{:.3f}"),
    ("hit F1 sampled", "sampled", "hit_f1", "{:.3f}"),
    ("vel MAE TF", "teacher_forced", "velocity_mae", "{:.1f}"),
    ("vel MAE sampled", "sampled", "velocity_mae", "{:.1f}"),
    ("offset MAE ms TF", "teacher_forced", "offset_mae_ms", "{:.1f}"),
    ("offset MAE ms sampled", "sampled", "offset_mae_ms", "{:.1f}"),
    ("KL bits", None, "kl_bits", "{:.1f}"),
]


def format_table(results: dict) -> str:
    """Markdown table, one row per evaluated model ("trained", "untrained", "all-zero output")."""
    cols = [c for c in TABLE_COLUMNS
            if any(_cell(r, c) is not None for r in results.values())]
    lines = ["| model | " + " | ".join(c[0] for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name, r in results.items():
        cells = [_cell(r, c) for c in cols]
        lines.append(f"| {name} | " + " | ".join("-" if v is None else c[3].format(v)
                                                  for v, c in zip(cells, cols)) + " |")
    return "\n".join(lines)


def _cell(result, column):
    _, section, key, _ = column
    value = result.get(key) if section is None else result[section].get(key)
    return value


# ---- CLI ------------------------------------------------------------------------------------------
def define_flags(fv=None):
    """The CLI's flags on `fv` (default absl's FLAGS); defined only by main."""
    from absl import flags
    fv = fv if fv is not None else flags.FLAGS
    flags.DEFINE_string("config", None, "Config name (default: the checkpoint's).", flag_values=fv)
    flags.DEFINE_string("checkpoint", None, "Run dir, checkpoint prefix or .weights.h5 file "
                        "(default: the bundled groovae_4bar).", flag_values=fv)
    flags.DEFINE_string("hparams", None, "Hparams overrides (default: the checkpoint's).",
                        flag_values=fv)
    flags.DEFINE_string("split", "test", "Split to evaluate.", flag_values=fv)
    flags.DEFINE_string("dataset_dir", None, "NoteSequence shards <dir>/<split>-*.tfrecord.",
                        flag_values=fv)
    flags.DEFINE_string("examples_path", None, "Prepared tf.train.Example shards (dir or glob).",
                        flag_values=fv)
    flags.DEFINE_integer("num_batches", None, "Stop after this many batches (default: all).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_float("sample_temperature", 0.0, "Temperature of the free-running decode "
                       "(0: greedy).", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_boolean("untrained", True, "Also evaluate an untrained model of the same config "
                         "and seed (the floor).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed for model building and posterior noise.", flag_values=fv)
    flags.DEFINE_string("output_json", None, "Where to write the numbers (default: "
                        "./eval_<config>_<split>.json).", flag_values=fv)
    return fv


def numpy_batches(dataset, num_batches: Optional[int], label: str = ""):
    """Batch dicts of numpy arrays, at most `num_batches`; a progress line every 10 on stderr."""
    for i, batch in enumerate(dataset):
        if num_batches and i >= num_batches:
            return
        if i and i % 10 == 0:
            print(f"evaluate {label}: {i} batches", file=sys.stderr, flush=True)
        yield {k: v.numpy() for k, v in batch.items()}


def run(fv) -> dict:
    """Evaluate the flags' checkpoint (and the untrained floor); print the table, write json."""
    import keras

    from musicgen import checkpoints
    from musicgen.datasets.input import make_dataset
    from musicgen.trained_model import DEFAULT_CONFIG, load_model

    checkpoint = fv.checkpoint or checkpoints.pretrained_path(DEFAULT_CONFIG)
    keras.utils.set_random_seed(fv.seed)
    name, config, model = load_model(fv.config, checkpoint, fv.hparams)
    hparams = fv.hparams if fv.hparams is not None else \
        checkpoints.read_metadata(checkpoints.resolve_checkpoint_path(checkpoint)).get("hparams", "")

    def data(label):
        ds = make_dataset(config, fv.split, examples_path=fv.examples_path,
                          dataset_dir=fv.dataset_dir, batch_size=fv.batch_size, is_training=False,
                          repeat=False, cache=False)
        return numpy_batches(ds, fv.num_batches, label)

    results, timings = {}, {}
    t0 = time.perf_counter()
    results["trained"] = evaluate_model(model, data("trained"), fv.sample_temperature,
                                        zero_baseline=True)
    timings["trained_s"] = round(time.perf_counter() - t0, 1)
    zero = results["trained"].pop("zero_baseline")
    results["all-zero output"] = {"teacher_forced": zero, "sampled": zero, "kl_bits": None,
                                  "num_sequences": results["trained"]["num_sequences"]}
    if fv.untrained:
        keras.utils.set_random_seed(fv.seed)
        _, floor = checkpoints.build_model_for(config, "", build=False)
        t0 = time.perf_counter()
        results["untrained"] = evaluate_model(floor, data("untrained"), fv.sample_temperature)
        timings["untrained_s"] = round(time.perf_counter() - t0, 1)

    table = format_table(results)
    print(f"{name} on split {fv.split!r} ({results['trained']['num_sequences']} sequences), "
          f"checkpoint {checkpoint}")
    print(table)
    meta = checkpoints.read_metadata(checkpoints.resolve_checkpoint_path(checkpoint))
    report = {"config": name, "hparams": hparams, "checkpoint": os.fspath(checkpoint),
              "checkpoint_step": meta.get("step"),
              "split": fv.split, "dataset_dir": fv.dataset_dir, "examples_path": fv.examples_path,
              "num_batches": fv.num_batches, "batch_size": fv.batch_size,
              "sample_temperature": fv.sample_temperature, "seed": fv.seed,
              "results": results, "timings": timings, "table": table,
              "date": time.strftime("%Y-%m-%d %H:%M")}
    out = fv.output_json or f"eval_{name}_{fv.split}.json"
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.abspath(out)}")
    return report


def main(argv):
    from absl import flags
    if len(argv) > 1:
        sys.exit(f"musicgen.evaluate: error: unexpected arguments: {' '.join(argv[1:])}")
    try:
        run(flags.FLAGS)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"musicgen.evaluate: error: {err}")


if __name__ == "__main__":
    from absl import app
    define_flags()
    app.run(main)
