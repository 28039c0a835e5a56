"""PNG pictures of NoteSequences: a drum grid for drums, a piano roll for pitched notes.

    python -m musicgen.plot FILE.mid [FILE2.mid ...] [--output_dir=DIR] [--start=S] [--end=S]

* drums (every note `is_drum`): one row per drum class in the order of
  `musicgen.converters.drums.REDUCED_DRUM_PITCH_CLASSES` (kick at the bottom ... ride at the top;
  pitches in no class go to an "other" row), each hit a short vertical mark at its exact start
  time in seconds -- never snapped, so micro-timing against the faint 16th-note lines shows --
  coloured by velocity (colour bar 1-127).
* pitched notes: a piano roll, a rectangle per note from start to end at its pitch, coloured by
  velocity, note names at the C's.
* both: two panels sharing the time axis, piano roll above, drum grid below.
* no notes: a PNG that says "no notes".

Grid lines (16ths faint, beats stronger, bars strongest, bar numbers on top) come from the
sequence's first tempo (default 120 qpm) and first time signature (default 4/4), counted from 0 s;
later tempo / time-signature changes are not followed.

`plot_data` computes everything that is drawn (marks, rectangles, line times) so it can be
checked without looking at pixels; `make_figure` draws it; `plot_note_sequence` writes the PNG.
matplotlib is imported only inside the functions (Agg canvas, pyplot never touched).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from typing import List, Optional, Sequence, Tuple

DRUM_CLASS_NAMES = ["kick", "snare", "closed hi-hat", "open hi-hat", "low tom", "mid tom",
                    "high tom", "crash", "ride"]
OTHER_ROW_NAME = "other"
DEFAULT_QPM = 120.0
FIGSIZE = (10.0, 4.0)
FIGSIZE_TWO_PANELS = (10.0, 5.5)
DPI = 100
CMAP = "viridis"  # cut before its pale yellow end, which is hard to see on white
CMAP_TOP = 0.86
# Above these counts a line kind is left out (closer than ~5 px it is a grey wash at 10 inches).
MAX_SIXTEENTH_LINES = 160
MAX_BEAT_LINES = 320
X_PAD = 0.008  # of the window each side, so hits at the very start / end are not half hidden
NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


@dataclasses.dataclass
class Grid:
    """Grid-line times (s) within the plotted window; each kind excludes the stronger ones."""
    qpm: float
    numerator: int
    denominator: int
    bar_seconds: float
    bars: List[float]
    beats: List[float]
    sixteenths: List[float]


@dataclasses.dataclass
class PlotData:
    """What `make_figure` draws.

    panels: "piano" and / or "drums" (top to bottom); empty for a sequence without notes.
    drum_rows: row names, row 0 drawn at the bottom; drum_marks: (row, start_s, velocity).
    notes: pitched (start_s, end_s, pitch, velocity).
    """
    panels: List[str]
    start: float
    end: float
    grid: Grid
    drum_rows: List[str]
    drum_marks: List[Tuple[int, float, int]]
    notes: List[Tuple[float, float, int, int]]


def drum_pitch_classes() -> List[List[int]]:
    from musicgen.converters.drums import REDUCED_DRUM_PITCH_CLASSES
    return [list(c) for c in REDUCED_DRUM_PITCH_CLASSES]


def drum_row(pitch: int, classes: Optional[Sequence[Sequence[int]]] = None) -> Optional[int]:
    """Row (class index) of a drum pitch; None when no class holds it (the "other" row)."""
    for i, pitches in enumerate(classes if classes is not None else drum_pitch_classes()):
        if pitch in pitches:
            return i
    return None


def note_name(pitch: int) -> str:
    """MIDI pitch -> name, 60 -> C4."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _first_tempo_and_meter(ns) -> Tuple[float, int, int]:
    tempos = sorted(ns.tempos, key=lambda t: t.time)
    qpm = tempos[0].qpm if tempos and tempos[0].qpm > 0 else DEFAULT_QPM
    sigs = sorted(ns.time_signatures, key=lambda t: t.time)
    num, den = ((sigs[0].numerator, sigs[0].denominator)
                if sigs and sigs[0].numerator > 0 and sigs[0].denominator > 0 else (4, 4))
    return float(qpm), int(num), int(den)


def grid_lines(qpm: float, numerator: int, denominator: int, start: float, end: float) -> Grid:
    """Bar, beat and 16th-note line times covering [start, end] (whole bars, counted from 0 s)."""
    quarter = 60.0 / qpm
    beat = quarter * 4.0 / denominator
    bar = beat * numerator
    sixteenth = quarter / 4.0
    eps = 1e-6
    first_bar = max(0, math.floor(start / bar + eps))
    last_bar = max(first_bar + 1, math.ceil(end / bar - eps))
    bars = [round(k * bar, 9) for k in range(first_bar, last_bar + 1)]
    beats, sixteenths = [], []
    beats_per_bar = numerator
    if 16 % denominator == 0:  # integer 16ths per beat: index arithmetic, no float drift
        per_beat = 16 // denominator
        for i in range(first_bar * numerator * per_beat, last_bar * numerator * per_beat):
            if i % per_beat:
                sixteenths.append(round(i * sixteenth, 9))
            elif (i // per_beat) % beats_per_bar:
                beats.append(round(i * sixteenth, 9))
    else:
        for k in range(first_bar * numerator, last_bar * numerator):
            if k % numerator:
                beats.append(round(k * beat, 9))
    if len(sixteenths) > MAX_SIXTEENTH_LINES:
        sixteenths = []
    if len(beats) > MAX_BEAT_LINES:
        beats = []
    return Grid(qpm, numerator, denominator, bar, bars, beats, sixteenths)


def _clamp_velocity(v: int) -> int:
    return min(127, max(1, int(v)))


def plot_data(ns, start: Optional[float] = None, end: Optional[float] = None) -> PlotData:
    """Everything drawn for `ns`, optionally cropped to notes overlapping [start, end) seconds."""
    t0 = float(start or 0.0)
    last = max([ns.total_time] + [n.end_time for n in ns.notes])
    t1 = float(end) if end is not None else last
    def shown(n):  # drum hits by their onset; pitched notes when they overlap the window
        if n.start_time > t1 or (end is not None and n.start_time >= t1):
            return False
        return n.start_time >= t0 or (not n.is_drum and n.end_time > t0)
    notes = [n for n in ns.notes if shown(n)]
    qpm, num, den = _first_tempo_and_meter(ns)
    if t1 <= t0:
        t1 = t0 + 60.0 / qpm * 4.0 / den * num  # an empty window: one bar
    grid = grid_lines(qpm, num, den, t0, t1)

    classes = drum_pitch_classes()
    rows = DRUM_CLASS_NAMES[:len(classes)] + [f"class {i}" for i in range(9, len(classes))]
    marks = []
    for n in sorted((n for n in notes if n.is_drum), key=lambda n: (n.start_time, n.pitch)):
        row = drum_row(n.pitch, classes)
        marks.append((len(classes) if row is None else row, float(n.start_time),
                      _clamp_velocity(n.velocity)))
    if any(r == len(classes) for r, _, _ in marks):
        rows.append(OTHER_ROW_NAME)
    pitched = sorted(((float(n.start_time), float(n.end_time), int(n.pitch),
                       _clamp_velocity(n.velocity)) for n in notes if not n.is_drum),
                     key=lambda t: (t[0], t[2]))
    panels = (["piano"] if pitched else []) + (["drums"] if marks else [])
    return PlotData(panels, t0, t1, grid, rows, marks, pitched)


# ---- drawing -----------------------------------------------------------------------------------
def _grid_collections(ax, grid: Grid, y0: float, y1: float, sixteenths: bool = True):
    from matplotlib.collections import LineCollection
    styles = [(grid.sixteenths if sixteenths else [], "#d8d8d8", 0.5),
              (grid.beats, "#a0a0a0", 0.8), (grid.bars, "#303030", 1.3)]
    for times, colour, width in styles:
        if times:
            ax.add_collection(LineCollection([[(t, y0), (t, y1)] for t in times],
                                             colors=colour, linewidths=width, zorder=1))


def _velocity_cmap():
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    return ListedColormap(colormaps[CMAP](np.linspace(0.0, CMAP_TOP, 256)), name="velocity")


def _velocity_norm():
    from matplotlib.colors import Normalize
    return Normalize(vmin=1, vmax=127)


def _draw_drums(fig, ax, data: PlotData):
    from matplotlib.collections import LineCollection
    n_rows = len(data.drum_rows)
    for r in range(n_rows):  # alternate row shading for reading across
        if r % 2:
            ax.axhspan(r - 0.5, r + 0.5, color="#f2f2f2", zorder=0, lw=0)
    _grid_collections(ax, data.grid, -0.5, n_rows - 0.5)
    half = 0.36
    marks = LineCollection([[(t, r - half), (t, r + half)] for r, t, _ in data.drum_marks],
                           cmap=_velocity_cmap(), norm=_velocity_norm(), linewidths=1.6, zorder=3,
                           capstyle="butt")
    marks.set_array([v for _, _, v in data.drum_marks])
    ax.add_collection(marks)
    ax.set_ylim(-0.5, n_rows - 0.5)
    ax.set_yticks(range(n_rows), labels=data.drum_rows)
    ax.tick_params(axis="y", length=0, labelsize=8)
    fig.colorbar(marks, ax=ax, label="velocity", pad=0.01, fraction=0.04)


def _draw_piano(fig, ax, data: PlotData):
    from matplotlib.collections import PolyCollection
    lo = min(p for _, _, p, _ in data.notes)
    hi = max(p for _, _, p, _ in data.notes)
    lo, hi = lo - 2, hi + 2
    for p in range(lo, hi + 1):  # black keys shaded
        if p % 12 in (1, 3, 6, 8, 10):
            ax.axhspan(p - 0.5, p + 0.5, color="#f2f2f2", zorder=0, lw=0)
    _grid_collections(ax, data.grid, lo - 0.5, hi + 0.5, sixteenths=False)
    h = 0.4
    rects = PolyCollection([[(s, p - h), (e, p - h), (e, p + h), (s, p + h)]
                            for s, e, p, _ in data.notes],
                           cmap=_velocity_cmap(), norm=_velocity_norm(), edgecolors="face",
                           linewidths=0.3, zorder=3)
    rects.set_array([v for *_, v in data.notes])
    ax.add_collection(rects)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    cs = [p for p in range(lo, hi + 1) if p % 12 == 0]
    if len(cs) < 2:  # a narrow range: name every pitch drawn
        cs = list(range(lo, hi + 1, max(1, (hi - lo) // 8)))
    ax.set_yticks(cs, labels=[note_name(p) for p in cs])
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylabel("pitch")
    fig.colorbar(rects, ax=ax, label="velocity", pad=0.01, fraction=0.04)


def _bar_numbers(ax, data: PlotData):
    bars = [t for t in data.grid.bars if data.start - 1e-9 <= t < data.end - 1e-9]
    if not bars:
        return
    step = max(1, math.ceil(len(bars) / 32))
    top = ax.secondary_xaxis("top")
    first = round(bars[0] / data.grid.bar_seconds)
    top.set_xticks(bars[::step], labels=[str(first + i + 1) for i in range(0, len(bars), step)])
    top.tick_params(labelsize=7, length=2)
    top.set_xlabel(f"bar ({data.grid.numerator}/{data.grid.denominator}, "
                   f"{data.grid.qpm:.4g} qpm)", fontsize=8)


def make_figure(data: PlotData, title: str = ""):
    """A matplotlib Figure (Agg canvas) drawing `data`: one axes per panel (+ colour bars)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    two = len(data.panels) == 2
    fig = Figure(figsize=FIGSIZE_TWO_PANELS if two else FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    if not data.panels:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no notes", ha="center", va="center", fontsize=16,
                transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)
        return fig
    heights = [3, 2] if two else [1]
    axes = fig.subplots(len(data.panels), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, panel in zip(axes, data.panels):
        (_draw_piano if panel == "piano" else _draw_drums)(fig, ax, data)
        pad = X_PAD * (data.end - data.start)
        ax.set_xlim(data.start - pad, data.end + pad)
    axes[0].set_title(title, fontsize=10)
    _bar_numbers(axes[0], data)
    axes[-1].set_xlabel("time (s)")
    return fig


def plot_note_sequence(ns, path: str, title: Optional[str] = None,
                       start: Optional[float] = None, end: Optional[float] = None) -> str:
    """Write a PNG of NoteSequence `ns` to `path` (drum grid / piano roll / both / "no notes");
    `start` / `end` (seconds) crop it. Returns `path`."""
    data = plot_data(ns, start, end)
    fig = make_figure(data, os.path.basename(path) if title is None else title)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


# ---- CLI ---------------------------------------------------------------------------------------
def output_path(midi_path: str, output_dir: Optional[str] = None) -> str:
    stem = os.path.splitext(os.path.basename(midi_path))[0] + ".png"
    return os.path.join(output_dir, stem) if output_dir else os.path.splitext(midi_path)[0] + ".png"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="musicgen.plot", description="Write a PNG (drum grid / piano roll) per MIDI file.")
    parser.add_argument("files", nargs="+", metavar="FILE.mid")
    parser.add_argument("--output_dir", default=None,
                        help="Write the PNGs here (default: beside each input).")
    parser.add_argument("--start", type=float, default=None, help="Crop: from this time (s).")
    parser.add_argument("--end", type=float, default=None, help="Crop: up to this time (s).")
    args = parser.parse_args(argv)
    from musicgen import midi_io
    failed = 0
    for name in args.files:
        try:
            ns = midi_io.midi_file_to_note_sequence(name)
            out = plot_note_sequence(ns, output_path(name, args.output_dir),
                                     title=os.path.basename(name), start=args.start, end=args.end)
        except (ValueError, OSError) as err:
            msg = str(err)
            if msg.startswith(name + ": "):
                msg = msg[len(name) + 2:]
            print(f"musicgen.plot: error: {name}: {msg}", file=sys.stderr)
            failed += 1
            continue
        print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
