"""MusicVAE / GrooVAE evaluation metrics (the VAE family's evaluator; numpy accumulation).

For the trained model, an untrained model of the same config and seed (the floor) and an all-zero
output:

* teacher-forced reconstruction accuracy (decoder fed the true previous step, z from the
  posterior). Categorical outputs: argmax == target. Groove: all drum hits of the step right (hit
  prob > 0.5), the same question as the 512-class one-hot drum models;
* sampled accuracy: the decoder running free from z = mu (its own previous outputs), as the
  "sampling" column of the MusicVAE paper;
* Groove only, for both decodings: hit precision / recall / F1 over (step, drum) cells, velocity MAE
  (MIDI units 0-127) and timing-offset MAE (ms at 120 bpm; 1.0 offset unit = half a 16th = 62.5 ms)
  on true-positive hits;
* KL(q(z|x) || N(0, I)) per sequence, in bits.
"""
from __future__ import annotations

import dataclasses
import math
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
