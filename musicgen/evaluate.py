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


def _ratio(a, b) -> float:
    return float(a) / b if b else float("nan")


def kl_bits(mu, sigma) -> np.ndarray:
    """KL(N(mu, sigma^2) || N(0, I)) per row, in bits."""
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    nats = 0.5 * np.sum(mu ** 2 + sigma ** 2 - 1.0 - 2.0 * np.log(sigma), axis=-1)
    return nats / math.log(2.0)
