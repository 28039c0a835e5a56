"""Round trip, speed and window counts of PerformanceConverter and RemiConverter on MAESTRO.

For every file x (a deterministic, evenly spaced subset of maestro-v2.0.0.csv; --limit 0 =
all 270), in eval mode:

* Performance (88-key Music Transformer variant, 308 classes): from_tensors(to_tensors(x))
  is compared, as a multiset of (pitch, velocity, start step, end step), with x's quantized
  form (sustain applied, quantize_note_sequence_absolute at 100 steps/s, velocity binned to
  32). Mismatches could only come from note_seq's decoding rule (a NOTE_OFF closes the
  EARLIEST open note of that pitch) on overlapping notes of one pitch; they are counted.
* REMI (16 positions per bar, 64 duration steps): same comparison against x quantized at 4
  steps per quarter (durations clipped to 64), in grid steps; the seconds error of the
  decoded onsets (integer tempo token) is reported too.
* Speed, medians over files (each time the median of --repeats runs after gc.collect(),
  since protobuf garbage makes single runs vary 5x on a shared machine): examples/s and
  events/s of `to_tensors` with max length 512 / 2048, against a baseline in the same process: note_seq alone
  (quantize_note_sequence_absolute + Performance + PerformanceOneHotEncoding.encode_event
  on the prepared sequence) -> ratio converter time / baseline time.
* Window counts: performance max_events 512 / 2048, REMI max_tokens 512 / 2048.

Usage: .venv/bin/python bench/roundtrip_performance_remi.py [--maestro_dir DIR] [--limit N]
Writes bench/results/roundtrip_performance_remi.json and .md.
"""
import argparse
import collections
import csv
import gc
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import musicgen  # noqa: E402,F401  (first: silences note_seq's import warnings)
from note_seq import performance_lib, sequences_lib  # noqa: E402
from musicgen.converters.performance import (PIANO_MAX_PITCH,  # noqa: E402
                                             PIANO_MIN_PITCH, PerformanceConverter)
from musicgen.converters.remi import RemiConverter  # noqa: E402

try:
    from musicgen.midi_io import midi_file_to_note_sequence
    READER = "musicgen.midi_io"
except ImportError:
    from note_seq.midi_io import midi_file_to_note_sequence
    READER = "note_seq.midi_io"

PIANO = dict(min_pitch=PIANO_MIN_PITCH, max_pitch=PIANO_MAX_PITCH)
MAX_LENGTHS = (512, 2048)


REPEATS = [3]


def timed(fn, *args, repeats=None):
    """(result, median seconds over `repeats` runs, each after a gc.collect())."""
    times = []
    for _ in range(repeats or REPEATS[0]):
        gc.collect()
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def binned(velocity, bins=32):
    size = -(-127 // bins)
    return 1 + (velocity - 1) // size * size


def multiset_match(expected, got):
    """(matched, expected count, decoded count) of two lists of tuples."""
    matched = sum((collections.Counter(expected) & collections.Counter(got)).values())
    return matched, len(expected), len(got)


def performance_round_trip(conv, ns):
    prepared = conv.prepare(ns)
    quantized = sequences_lib.quantize_note_sequence_absolute(prepared, conv.steps_per_second)
    expected = [(n.pitch, binned(n.velocity), n.quantized_start_step, n.quantized_end_step)
                for n in quantized.notes]
    (decoded,) = conv.from_tensors(conv.to_tensors(ns).outputs)
    sps = conv.steps_per_second
    got = [(n.pitch, n.velocity, round(n.start_time * sps), round(n.end_time * sps))
           for n in decoded.notes]
    onset_err = max((abs(n.quantized_start_step / sps - n.start_time) for n in quantized.notes),
                    default=0.0)
    return multiset_match(expected, got), onset_err


def remi_round_trip(conv, ns):
    prepared = conv.prepare(ns)
    pieces = sequences_lib.split_note_sequence_on_time_changes(prepared)
    decoded = conv.from_tensors(conv.to_tensors(ns).outputs)
    expected, got, clipped, sec_err = [], [], 0, 0.0
    for piece, dec in zip(pieces, decoded):
        q = sequences_lib.quantize_note_sequence(piece, conv.steps_per_quarter)
        if not q.notes:
            continue
        qpm = q.tempos[0].qpm if q.tempos else 120.0
        for n in q.notes:
            dur = n.quantized_end_step - n.quantized_start_step
            clipped += dur > 64
            expected.append((n.pitch, binned(n.velocity), n.quantized_start_step,
                             n.quantized_start_step + min(max(dur, 1), 64)))
        dq = dec.tempos[0].qpm
        steps = dq * conv.steps_per_quarter / 60.0
        got += [(n.pitch, n.velocity, round(n.start_time * steps), round(n.end_time * steps))
                for n in dec.notes]
        ref = sorted(n.quantized_start_step * 60.0 / (qpm * conv.steps_per_quarter) for n in q.notes)
        sec_err = max([sec_err] + [abs(a - b) for a, b in
                                   zip(ref, sorted(n.start_time for n in dec.notes))])
    return multiset_match(expected, got), clipped, sec_err


def baseline_events(conv, ns):
    """note_seq alone, as score2perf's datagen: sustain, quantize, Performance, encode_event
    (no range filter, one-hot or windows)."""
    sustained = sequences_lib.apply_sustain_control_changes(ns)
    del sustained.control_changes[:]
    quantized = sequences_lib.quantize_note_sequence_absolute(sustained, conv.steps_per_second)
    perf = performance_lib.Performance(quantized, num_velocity_bins=32)
    return [conv.encoding.encode_event(e) for e in perf]


def bench_file(path):
    ns, t_parse = timed(midi_file_to_note_sequence, path, repeats=1)
    row = dict(file=os.path.basename(path), notes=len(ns.notes), seconds=round(ns.total_time, 1),
               parse_s=t_parse)
    perf = PerformanceConverter(**PIANO)
    match, onset_err = performance_round_trip(perf, ns)
    row.update(perf_match=match, perf_quantize_max_onset_err_ms=onset_err * 1000)
    events, t_base = timed(baseline_events, perf, ns)
    row.update(perf_events=len(events), perf_baseline_s=t_base)
    for n in MAX_LENGTHS:
        t, dt = timed(PerformanceConverter(max_events=n, **PIANO).to_tensors, ns)
        row[f"perf_windows_{n}"], row[f"perf_to_tensors_{n}_s"] = len(t), dt
    remi = RemiConverter(**PIANO)
    rmatch, clipped, sec_err = remi_round_trip(remi, ns)
    row.update(remi_match=rmatch, remi_clipped_durations=clipped,
               remi_max_onset_err_s=sec_err)
    row["remi_tokens"] = int(sum(remi.to_tensors(ns).lengths))
    for n in MAX_LENGTHS:
        t, dt = timed(RemiConverter(max_tokens=n, **PIANO).to_tensors, ns)
        row[f"remi_windows_{n}"], row[f"remi_to_tensors_{n}_s"] = len(t), dt
    return row


def select_files(maestro_dir, limit):
    with open(os.path.join(maestro_dir, "maestro-v2.0.0.csv")) as f:
        names = sorted(r["midi_filename"] for r in csv.DictReader(f))
    if limit and limit < len(names):
        names = [names[round(i * (len(names) - 1) / (limit - 1))] for i in range(limit)] \
            if limit > 1 else names[:1]
    return [os.path.join(maestro_dir, n) for n in names]


def summarize(rows):
    def med(key):
        return statistics.median(r[key] for r in rows)

    def rate(key):
        m = sum(r[key][0] for r in rows)
        e = sum(r[key][1] for r in rows)
        return dict(matched=m, expected=e, decoded=sum(r[key][2] for r in rows),
                    exact_rate=m / e if e else 1.0)

    out = dict(files=len(rows), notes=sum(r["notes"] for r in rows),
               hours=round(sum(r["seconds"] for r in rows) / 3600, 2),
               performance_round_trip=rate("perf_match"),
               performance_quantize_max_onset_err_ms=max(
                   r["perf_quantize_max_onset_err_ms"] for r in rows),
               remi_round_trip=rate("remi_match"),
               remi_clipped_durations=sum(r["remi_clipped_durations"] for r in rows),
               remi_max_onset_err_s=max(r["remi_max_onset_err_s"] for r in rows),
               perf_events_total=sum(r["perf_events"] for r in rows),
               remi_tokens_total=sum(r["remi_tokens"] for r in rows),
               median_parse_s=med("parse_s"), median_baseline_s=med("perf_baseline_s"))
    for kind, unit in (("perf", "events"), ("remi", "tokens")):
        for n in MAX_LENGTHS:
            windows = sum(r[f"{kind}_windows_{n}"] for r in rows)
            secs = sum(r[f"{kind}_to_tensors_{n}_s"] for r in rows)
            out[f"{kind}_{n}"] = dict(
                windows=windows, examples_per_s=windows / secs,
                median_windows_per_file=med(f"{kind}_windows_{n}"),
                median_to_tensors_s=med(f"{kind}_to_tensors_{n}_s"),
                median_ratio_vs_note_seq_baseline=statistics.median(
                    r[f"{kind}_to_tensors_{n}_s"] / r["perf_baseline_s"] for r in rows))
    out["median_baseline_events_per_s"] = statistics.median(
        r["perf_events"] / r["perf_baseline_s"] for r in rows)
    return out


def markdown(summary, command):
    s = summary
    pr, rr = s["performance_round_trip"], s["remi_round_trip"]
    lines = [
        "# Performance / REMI converters on MAESTRO v2.0.0",
        "",
        f"Command: `{command}` (reader: {READER}). {s['files']} files, {s['notes']} notes, "
        f"{s['hours']} h of piano. 88-key ranges (performance 308 classes, REMI 325 tokens).",
        "",
        "## Round trip, eval mode (decode(encode(x)) vs x quantized)",
        "",
        "| converter | grid | expected notes | decoded | exactly equal | rate |",
        "|---|---|---|---|---|---|",
        f"| performance | 10 ms, 32 velocity bins | {pr['expected']} | {pr['decoded']} | "
        f"{pr['matched']} | {pr['exact_rate']:.5f} |",
        f"| REMI | 1/16 note, 32 velocity bins, durations <= 64 | {rr['expected']} | "
        f"{rr['decoded']} | {rr['matched']} | {rr['exact_rate']:.5f} |",
        "",
        f"Performance quantization itself moves onsets by at most "
        f"{s['performance_quantize_max_onset_err_ms']:.2f} ms. REMI durations clipped at 64 "
        f"sixteenths: {s['remi_clipped_durations']}; max onset error of REMI decoding vs the grid "
        f"in seconds (integer tempo token): {s['remi_max_onset_err_s'] * 1000:.3f} ms.",
        "",
        "## Windows and speed (to_tensors, eval mode; medians per file)",
        "",
        f"Baseline in the same process: note_seq alone (sustain + quantize + Performance + "
        f"encode_event, as score2perf's datagen) "
        f"takes a median {s['median_baseline_s']:.3f} s per file "
        f"({s['median_baseline_events_per_s']:.0f} events/s). Totals: "
        f"{s['perf_events_total']} performance events, {s['remi_tokens_total']} REMI tokens "
        f"({s['remi_tokens_total'] / s['perf_events_total']:.2f} tokens per event).",
        "",
        "| converter | max length | windows | median windows/file | examples/s | "
        "median s/file | median ratio vs note_seq baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, name in (("perf", "performance"), ("remi", "REMI")):
        for n in MAX_LENGTHS:
            r = s[f"{kind}_{n}"]
            lines.append(f"| {name} | {n} | {r['windows']} | {r['median_windows_per_file']} | "
                         f"{r['examples_per_s']:.1f} | {r['median_to_tensors_s']:.3f} | "
                         f"{r['median_ratio_vs_note_seq_baseline']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--maestro_dir", default=os.path.join(ROOT, "..", "shared", "data",
                                                              "maestro-v2.0.0"))
    parser.add_argument("--limit", type=int, default=24, help="files (evenly spaced); 0 = all")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                      "roundtrip_performance_remi"))
    args = parser.parse_args()
    REPEATS[0] = max(1, args.repeats)
    if not os.path.isfile(os.path.join(args.maestro_dir, "maestro-v2.0.0.csv")):
        sys.exit(f"--maestro_dir {args.maestro_dir}: no maestro-v2.0.0.csv there")
    rows, skipped = [], []
    for path in select_files(args.maestro_dir, args.limit):
        try:
            rows.append(bench_file(path))
        except Exception as e:  # keep going, record every skip
            skipped.append((path, f"{type(e).__name__}: {e}"))
        print(f"{len(rows) + len(skipped)} files", end="\r", file=sys.stderr)
    if not rows:
        sys.exit(f"no file could be benchmarked: {skipped[:3]}")
    summary = summarize(rows)
    command = "python bench/roundtrip_performance_remi.py " + " ".join(sys.argv[1:])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(dict(command=command.strip(), reader=READER, summary=summary, skipped=skipped,
                       files=rows), f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(summary, command.strip()))
    print(markdown(summary, command.strip()))
    if skipped:
        print(f"skipped {len(skipped)}: {skipped}", file=sys.stderr)


if __name__ == "__main__":
    main()
