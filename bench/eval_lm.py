"""Validation and test NLL of a token LM beside its floors: `python -m musicgen.evaluate` per split.

    .venv/bin/python bench/eval_lm.py                                  # bundled performance_rnn_small
    .venv/bin/python bench/eval_lm.py --checkpoint=runs/performance_rnn_small --splits=test

Runs the project's evaluator (NLL per predicted token in nats, perplexity, next-token accuracy, the
uniform ln V and train-unigram floors computed in the same run) on every eval-mode window of each
split of the MAESTRO subset, and writes bench/results/eval_<config>_<split>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
MAESTRO = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "maestro-v2.0.0"))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="performance_rnn_small")
    ap.add_argument("--checkpoint", default=None, help="default: the bundled model")
    ap.add_argument("--ns_dir", default=os.path.join(ROOT, "out", "maestro_ns"))
    ap.add_argument("--splits", default="validation,test")
    ap.add_argument("--render_only", action="store_true", help="rewrite the .md from the .json")
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.ns_dir, "manifest.json")):
        subprocess.run([sys.executable, "-m", "pipelines.convert_midi", "--dataset=maestro",
                        f"--input_dir={MAESTRO}", f"--output_dir={args.ns_dir}"], check=True,
                       cwd=ROOT, env=ENV)
    reports = []
    for split in args.splits.split(","):
        out = os.path.join(RESULTS, f"eval_{args.config}_{split}")
        cmd = [sys.executable, "-m", "musicgen.evaluate", f"--config={args.config}",
               f"--dataset_dir={args.ns_dir}", f"--split={split}", f"--output_json={out}.json"]
        if args.checkpoint:
            cmd.append(f"--checkpoint={args.checkpoint}")
        if not args.render_only:
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, cwd=ROOT, env=ENV, check=True)
        report = json.load(open(out + ".json", encoding="utf-8"))
        render(report, split, out)
        reports.append(report)
    return reports


def render(report, split, out):
    """bench/results/eval_<config>_<split>.md from the evaluator's report."""
    import math
    vocab = round(math.exp(report["results"]["uniform"]["nll"]))
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(f"# {report['config']} on the MAESTRO subset's `{split}` split "
                f"({report['results']['trained']['windows']} eval windows)\n\n"
                f"Checkpoint `{os.path.relpath(report['checkpoint'], ROOT)}` (step "
                f"{report['checkpoint_step']}). NLL in nats per predicted token (every token after "
                f"BOS, EOS included); floors computed in the same run: uniform = ln {vocab}, train "
                f"unigram = add-one smoothed train-split token counts. `bench/eval_lm.py`, "
                f"{report['date']}.\n\n{report['table']}\n")


if __name__ == "__main__":
    main()
