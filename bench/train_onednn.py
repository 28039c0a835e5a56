"""Does TF_ENABLE_ONEDNN_OPTS=1 or a larger batch train groovae_4bar faster on this CPU?

TF reads TF_ENABLE_ONEDNN_OPTS once, at import, so the two settings cannot share one process. This
script alternates child processes of `bench/train_speed.py` (each: its matmul baseline, then the
configs' compiled train steps on a synthetic batch) with the setting off and on, --rounds times, in
one run, and reports per setting and batch size the median of the children's median step times,
examples/s, and the on/off ratio of examples/s within each round (the machine is shared: ratios and
medians, not single timings).

    .venv/bin/python bench/train_onednn.py                      # batches 64, 128, 256; 3 rounds
    .venv/bin/python bench/train_onednn.py --batches=64,512 --rounds=2 --steps=4

Writes bench/results/train_onednn.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


def child(onednn: str, batches, steps, warmup, out_dir):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="2")
    cfgs = ",".join(f"groovae_4bar:{b}" for b in batches)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "train_speed.py"), f"--configs={cfgs}",
                    f"--steps={steps}", f"--warmup={warmup}", f"--out_dir={out_dir}"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out_dir, "train_speed.json")) as f:
        return json.load(f)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="64,128,256")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out_dir", default=RESULTS)
    a = p.parse_args(argv)
    batches = [int(b) for b in a.batches.split(",")]
    runs = []
    for r in range(a.rounds):
        for setting in (("0", "1") if r % 2 == 0 else ("1", "0")):
            with tempfile.TemporaryDirectory() as tmp:
                res = child(setting, batches, a.steps, a.warmup, tmp)
            runs.append({"round": r, "onednn": setting, "matmul_gflops": res["matmul_baseline"]["gflops_per_s"],
                         "configs": [{"batch": c["batch_size"], "median_step_s": c["median_step_s"],
                                      "examples_per_s": c["examples_per_s"]} for c in res["configs"]]})
            print(f"round {r} onednn={setting}: " + ", ".join(
                f"b{c['batch']} {c['examples_per_s']:.1f} ex/s" for c in runs[-1]["configs"]), flush=True)
    summary = []
    for b in batches:
        row = {"batch": b}
        for s in ("0", "1"):
            eps = [c["examples_per_s"] for run in runs if run["onednn"] == s for c in run["configs"] if c["batch"] == b]
            st = [c["median_step_s"] for run in runs if run["onednn"] == s for c in run["configs"] if c["batch"] == b]
            row[f"examples_per_s_{s}"] = statistics.median(eps)
            row[f"step_s_{s}"] = statistics.median(st)
        ratios = []
        for r in range(a.rounds):
            e = {run["onednn"]: c["examples_per_s"] for run in runs if run["round"] == r
                 for c in run["configs"] if c["batch"] == b}
            ratios.append(e["1"] / e["0"])
        row["onednn_ratio_per_round"] = ratios
        row["onednn_ratio_median"] = statistics.median(ratios)
        summary.append(row)
    result = {"command": "python bench/train_onednn.py " + " ".join(argv or sys.argv[1:]),
              "niceness": os.nice(0), "runs": runs, "summary": summary}
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "train_onednn.json"), "w") as f:
        json.dump(result, f, indent=2)
    base = summary[0]["examples_per_s_0"]
    lines = ["# groovae_4bar training speed: TF_ENABLE_ONEDNN_OPTS and batch size", "",
             f"Command: `{result['command']}` ({a.rounds} rounds, settings alternated, one child process "
             "per setting and round; compiled train step on a synthetic batch, median step of each child)", "",
             "| batch | examples/s oneDNN off | examples/s oneDNN on | on/off ratio (median of rounds) "
             "| step s off | step s on | examples/s vs batch 64 off |",
             "|---|---|---|---|---|---|---|"]
    for row in summary:
        lines.append(f"| {row['batch']} | {row['examples_per_s_0']:.1f} | {row['examples_per_s_1']:.1f} | "
                     f"{row['onednn_ratio_median']:.2f} ({', '.join(f'{x:.2f}' for x in row['onednn_ratio_per_round'])}) | "
                     f"{row['step_s_0']:.2f} | {row['step_s_1']:.2f} | "
                     f"{row['examples_per_s_0'] / base:.2f} |")
    with open(os.path.join(a.out_dir, "train_onednn.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
