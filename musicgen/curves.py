"""Loss / metric curves of a training run as one PNG, from its TensorBoard event files.

    python -m musicgen.curves --run_dir=runs/groove [--output=runs/groove/curves.png]

`musicgen.train` writes scalars (`train.write_scalars`: float tensors with the scalars plugin
metadata) to <run_dir>/train and, in --mode=eval, the evaluated checkpoint's metrics to
<run_dir>/eval. `plot_run_curves` draws a panel per scalar tag of <run_dir>/train (log y for the
learning rate) with the eval points of that tag overlaid: the eval tag itself, and eval tags whose
last part is the tag (e.g. "teacher_forced/accuracy" on "accuracy"). The event files are read with
TensorFlow itself (`tf.compat.v1.train.summary_iterator`; tensorflow-cpu has no `tensorboard`
package). A step written twice (a resumed run re-logging steps after its last checkpoint) keeps the
value written last. train() writes <run_dir>/curves.png at its end, `train --mode=eval`
<run_dir>/eval/curves.png, `python -m musicgen.evaluate --checkpoint=RUN_DIR` one beside its json.
"""
from __future__ import annotations

import glob
import math
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

EVENTS_GLOB = "events.out.tfevents.*"
TAG_ORDER = ["loss", "reconstruction", "recon_loss", "kl_loss", "kl_bits", "beta",
             "learning_rate", "accuracy"]
LAST_TAGS = ["secs_per_step"]
LOG_Y_TAGS = ("learning_rate",)
NCOLS = 3
DPI = 100

Scalars = Dict[str, List[Tuple[int, float]]]


def event_files(log_dir: str) -> List[str]:
    return sorted(glob.glob(os.path.join(log_dir, EVENTS_GLOB)))


def read_scalars(log_dir: str) -> Scalars:
    """{tag: [(step, value), ...]} of the scalar summaries in log_dir's event files, sorted by
    step; a step written more than once keeps the value written last (by event wall time).
    A directory without event files gives {}."""
    import numpy as np
    import tensorflow as tf
    records = []  # (wall_time, order, tag, step, value)
    order = 0
    for path in event_files(log_dir):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = float(value.simple_value)
                elif kind == "tensor":
                    array = tf.make_ndarray(value.tensor)
                    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
                        continue  # not a scalar (text, images, histograms)
                    number = float(array.reshape(()))
                else:
                    continue
                records.append((event.wall_time, order, value.tag, int(event.step), number))
                order += 1
    latest: Dict[str, Dict[int, float]] = {}
    for _, _, tag, step, number in sorted(records):
        latest.setdefault(tag, {})[step] = number
    return {tag: sorted(by_step.items()) for tag, by_step in latest.items()}


def ordered_tags(tags) -> List[str]:
    tags = list(tags)
    first = [t for t in TAG_ORDER if t in tags]
    last = [t for t in LAST_TAGS if t in tags and t not in first]
    rest = sorted(t for t in tags if t not in first and t not in last)
    return first + rest + last


def eval_overlays(tag: str, eval_scalars: Scalars) -> Dict[str, List[Tuple[int, float]]]:
    """The eval series drawn on train tag `tag`: the same tag, or tags ending in "/<tag>"."""
    return {t: v for t, v in sorted(eval_scalars.items())
            if t == tag or t.rsplit("/", 1)[-1] == tag}


def has_event_files(run_dir: str) -> bool:
    return bool(event_files(os.path.join(run_dir, "train")) or
                event_files(os.path.join(run_dir, "eval")))


def run_dir_of(checkpoint: str) -> Optional[str]:
    """The run dir behind a --checkpoint value (a run dir, or a prefix / file in its
    checkpoints/), when it holds TensorBoard logs; else None."""
    if not checkpoint:
        return None
    path = os.path.abspath(checkpoint)
    for candidate in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        if os.path.isdir(candidate) and has_event_files(candidate):
            return candidate
    return None


def plot_run_curves(run_dir: str, path: Optional[str] = None, title: Optional[str] = None) -> str:
    """One PNG (default <run_dir>/curves.png) with a panel per scalar tag of <run_dir>/train and
    the <run_dir>/eval points of the same tag overlaid; returns its path. A run with eval logs only
    gets a panel per eval tag. FileNotFoundError for a missing run dir or one without event files.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    train_dir, eval_dir = os.path.join(run_dir, "train"), os.path.join(run_dir, "eval")
    if not has_event_files(run_dir):
        raise FileNotFoundError(f"{run_dir}: no TensorBoard event files ({EVENTS_GLOB}) under "
                                f"{train_dir} or {eval_dir}")
    train_scalars = read_scalars(train_dir)
    eval_scalars = read_scalars(eval_dir)
    if train_scalars:
        panels = [(tag, train_scalars[tag], eval_overlays(tag, eval_scalars))
                  for tag in ordered_tags(train_scalars)]
    else:
        panels = [(tag, [], {tag: eval_scalars[tag]}) for tag in ordered_tags(eval_scalars)]
    if not panels:
        raise FileNotFoundError(f"{run_dir}: its event files hold no scalar summaries")

    ncols = min(NCOLS if len(panels) <= 9 else NCOLS + 1, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    height = max(2.9, 2.1 * nrows + 0.9)
    fig = Figure(figsize=(10.0, height), dpi=DPI)  # a fixed grid: constrained layout is slow
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.55 / height, top=1 - 0.7 / height,
                        wspace=0.3, hspace=0.55)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (tag, series, overlays) in zip(axes, panels):
        if series:
            steps, values = zip(*series)
            ax.plot(steps, values, color="C0", lw=1.2, marker="." if len(series) < 30 else None,
                    label="train")
        for i, (eval_tag, points) in enumerate(overlays.items()):
            steps, values = zip(*points)
            ax.plot(steps, values, linestyle="--" if len(points) > 1 else "none",
                    marker="os^dv"[i % 5], ms=5, color=f"C{(i + 1) % 10}",
                    label=f"eval {eval_tag}" if eval_tag != tag else "eval")
        values = [v for _, v in series]
        if tag in LOG_Y_TAGS and values and min(values) > 0 and max(values) >= 10 * min(values):
            ax.set_yscale("log")  # a decayed learning rate; a flat one stays linear
        else:
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=True)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.set_title(tag, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.yaxis.get_offset_text().set_fontsize(7)
        ax.grid(True, alpha=0.3)
        if overlays:
            ax.legend(fontsize=6, loc="best")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.supxlabel("step", fontsize=8)
    fig.suptitle(title if title is not None else os.path.basename(os.path.abspath(run_dir)),
                 fontsize=10)
    out = path or os.path.join(run_dir, "curves.png")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, format="png", dpi=DPI)
    return out


def try_plot_run_curves(run_dir: str, path: Optional[str] = None, who: str = "musicgen") -> \
        Optional[str]:
    """plot_run_curves that never raises: returns the PNG's path, or prints one warning line to
    stderr and returns None (training and evaluation must not fail over a picture)."""
    try:
        return plot_run_curves(run_dir, path)
    except Exception as err:  # noqa: BLE001 -- any plotting problem is only a warning
        print(f"{who}: warning: could not write the curves PNG for {run_dir}: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="musicgen.curves",
                                     description="Loss / metric curves of a run as a PNG.")
    parser.add_argument("--run_dir", required=True, help="A musicgen.train --run_dir.")
    parser.add_argument("--output", default=None, help="PNG path (default <run_dir>/curves.png).")
    args = parser.parse_args(argv)
    try:
        out = plot_run_curves(args.run_dir, args.output)
    except (FileNotFoundError, OSError, ValueError) as err:
        print(f"musicgen.curves: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
