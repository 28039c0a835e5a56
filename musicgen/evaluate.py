r"""Evaluate a checkpoint on a split: `python -m musicgen.evaluate` (any model family).

    python -m musicgen.evaluate --config=groovae_4bar --checkpoint=runs/groove \
        --dataset_dir=/tmp/groove_ns --split=test --num_batches=20
    python -m musicgen.evaluate --config=performance_rnn_small --checkpoint=runs/prnn \
        --dataset_dir=out/maestro_ns --split=test

What is measured is the config family's (`musicgen.evaluation`, the one evaluator, also behind
`train --mode=eval`):

* MusicVAE / GrooVAE (`musicgen.families.vae_eval`): teacher-forced and sampled reconstruction
  accuracy, groove hit F1 / velocity / offset errors, KL bits; beside an untrained model of the
  same config and seed (`--nountrained` skips it) and an all-zero output.
* Token LMs (`musicgen.families.token_lm`): NLL per predicted token (nats), perplexity and
  next-token accuracy; beside the uniform floor (ln V) and the train split's unigram distribution
  (`--nounigram` skips it), computed in the same run.

Prints a table and writes all numbers to `--output_json`. With no --checkpoint: the bundled model of
--config (default groovae_4bar). A --checkpoint in a train --run_dir with TensorBoard logs also gets
its curves beside the json (`musicgen.curves`; --noplot_curves: not).
"""
from __future__ import annotations

import json
import os
import sys

# Metric helpers of the VAE family, re-exported for callers of the earlier module.
from musicgen.families.vae_eval import (ReconstructionCounts, evaluate_model,  # noqa: F401
                                        format_table, kl_bits, step_mask)

DEFAULT_CONFIG = "groovae_4bar"


def define_flags(fv=None):
    """The CLI's flags on `fv` (default absl's FLAGS); defined only by main."""
    from absl import flags
    fv = fv if fv is not None else flags.FLAGS
    flags.DEFINE_string("config", None, "Config name (default: the checkpoint's).", flag_values=fv)
    flags.DEFINE_string("checkpoint", None, "Run dir, checkpoint prefix or .weights.h5 file "
                        "(default: the bundled model of --config, or groovae_4bar).",
                        flag_values=fv)
    flags.DEFINE_string("hparams", None, "Hparams overrides (default: the checkpoint's).",
                        flag_values=fv)
    flags.DEFINE_string("split", "test", "Split to evaluate.", flag_values=fv)
    flags.DEFINE_string("dataset_dir", None, "NoteSequence shards <dir>/<split>-*.tfrecord.",
                        flag_values=fv)
    flags.DEFINE_string("examples_path", None, "Prepared tf.train.Example shards (dir or glob).",
                        flag_values=fv)
    flags.DEFINE_string("tfds_name", None, "A locally prepared TFDS dataset with a `midi` feature.",
                        flag_values=fv)
    flags.DEFINE_string("tfds_data_dir", None, "Its TFDS data dir.", flag_values=fv)
    flags.DEFINE_integer("num_batches", None, "Stop after this many batches (default: all).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_float("sample_temperature", 0.0, "VAE: temperature of the free-running decode "
                       "(0: greedy).", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_boolean("untrained", True, "VAE: also evaluate an untrained model of the same "
                         "config and seed (the floor).", flag_values=fv)
    flags.DEFINE_boolean("unigram", True, "Token LMs: also compute the train split's unigram "
                         "floor (one pass over the train split).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed for model building and posterior noise.", flag_values=fv)
    flags.DEFINE_string("output_json", None, "Where to write the numbers (default: "
                        "./eval_<config>_<split>.json).", flag_values=fv)
    flags.DEFINE_boolean("plot_curves", True, "When --checkpoint is (in) a train --run_dir with "
                         "TensorBoard logs: also write its loss / metric curves as "
                         "<output_json stem>_curves.png.", flag_values=fv)
    return fv


def family_options(fv) -> dict:
    return {"seed": fv.seed, "sample_temperature": fv.sample_temperature,
            "untrained": fv.untrained, "unigram": fv.unigram}


def run(fv) -> dict:
    """Evaluate the flags' checkpoint beside its family's floors; print the table, write json."""
    from musicgen import checkpoints
    from musicgen.evaluation import evaluate_checkpoint

    checkpoint = fv.checkpoint or checkpoints.pretrained_path(fv.config or DEFAULT_CONFIG)
    report = evaluate_checkpoint(
        checkpoint, fv.split, config_name=fv.config, hparams=fv.hparams,
        input_kwargs={"examples_path": fv.examples_path, "dataset_dir": fv.dataset_dir,
                      "tfds_name": fv.tfds_name, "tfds_data_dir": fv.tfds_data_dir},
        batch_size=fv.batch_size, num_batches=fv.num_batches, options=family_options(fv))
    report.update(dataset_dir=fv.dataset_dir, examples_path=fv.examples_path)
    first = next(iter(report["results"].values()))
    count = first.get("num_sequences", first.get("windows"))
    print(f"{report['config']} on split {fv.split!r} ({count} sequences), checkpoint {checkpoint}")
    print(report["table"])
    out = fv.output_json or f"eval_{report['config']}_{fv.split}.json"
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.abspath(out)}")
    if fv.plot_curves:
        from musicgen import curves
        run_dir = curves.run_dir_of(fv.checkpoint)
        png = run_dir and curves.try_plot_run_curves(
            run_dir, os.path.splitext(out)[0] + "_curves.png", who="musicgen.evaluate")
        if png:
            print(f"wrote {os.path.abspath(png)}")
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
