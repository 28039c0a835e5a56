"""Train or evaluate a config: `python -m musicgen.train --config=groovae_4bar --run_dir=runs/x ...`.

A readable custom loop (nanoGPT style) around the model's own `train_step` / `test_step`:

* input: `musicgen.datasets.input.make_dataset` from --examples_path (prepared Example shards),
  --dataset_dir (NoteSequence shards, converted on the fly and cached) or --tfds_name.
* checkpoints (`musicgen.checkpoints`): every --save_checkpoint_steps and on exit (end, SIGTERM,
  Ctrl-C), keeping --checkpoints_to_keep. Starting again with the same --run_dir resumes weights,
  optimizer state and step; a different config / hparams in the same run_dir is refused.
* a non-finite loss stops training at once with a clear message; nothing is saved after it, so the
  last good checkpoint stays the latest.
* TensorBoard scalars under <run_dir>/train (loss, reconstruction, kl_bits, beta, learning_rate,
  accuracy, ...), a log line every --log_every steps, a tqdm progress bar; at the end (also after
  SIGTERM / Ctrl-C) their curves as <run_dir>/curves.png (`musicgen.curves`).
* --mode=eval: THE evaluator (`musicgen.evaluation`, as `python -m musicgen.evaluate`) on the
  latest checkpoint and --eval_split, written to <run_dir>/eval (TensorBoard + eval_metrics.json):
  the config family's metrics beside its floors.
* several visible GPUs: MirroredStrategy (global batch = hparams.batch_size); --cpu_replicas=N runs
  the same path on N logical CPU devices. mixed_float16 on GPU (--nomixed_precision: off). Multi-worker:
  TF_CONFIG -> MultiWorkerMirroredStrategy, see README ("Training on several machines").
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from typing import Optional

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Config name in configs.CONFIG_MAP.")
flags.DEFINE_string("run_dir", None, "Directory for checkpoints, TensorBoard logs and metrics.")
flags.DEFINE_string("examples_path", None, "Prepared tf.train.Example shards: a directory "
                    "(<dir>/<split>-*) or a file pattern.")
flags.DEFINE_string("dataset_dir", None, "NoteSequence shards <dir>/<split>-NNNNN-of-MMMMM.tfrecord, "
                    "converted with the config's converter while training.")
flags.DEFINE_string("tfds_name", None, "TFDS dataset with a `midi` feature, e.g. groove/4bar-midionly.")
flags.DEFINE_string("tfds_data_dir", None, "Local TFDS data dir holding the prepared --tfds_name.")
flags.DEFINE_string("init_checkpoint", None, "Warm start: when --run_dir holds no checkpoint yet, "
                    "start from the weights of this checkpoint / run dir / exported .weights.h5 "
                    "(e.g. musicgen/pretrained/groovae_4bar.weights.h5) and continue its step; "
                    "the optimizer's moments start fresh. Ignored once --run_dir has a checkpoint.")
flags.DEFINE_integer("num_steps", 200000, "Train until this global step.")
flags.DEFINE_enum("mode", "train", ["train", "eval", "export"],
                  "train; eval: evaluate the latest checkpoint; export: write its weights (float16) "
                  "to --export_path for inference / bundling.")
flags.DEFINE_string("export_path", None, "--mode=export: output prefix (<path>.weights.h5 + "
                    "<path>.json); default musicgen/pretrained/<config>.")
flags.DEFINE_string("export_dtype", "float16", "--mode=export: dtype of the exported weights.")
flags.DEFINE_string("hparams", "", "Comma-separated hparam overrides, e.g. 'batch_size=64,z_size=128'.")
flags.DEFINE_string("train_split", "train", "Split trained on.")
flags.DEFINE_string("eval_split", "validation", "Split evaluated in --mode=eval.")
flags.DEFINE_integer("eval_num_batches", 0, "Batches evaluated (0: the whole split once).")
flags.DEFINE_integer("eval_batch_size", 0, "Batch size in --mode=eval (0: hparams.batch_size).")
flags.DEFINE_float("eval_temperature", 0.0, "VAE: decoder temperature of the sampled "
                   "reconstructions (0: greedy), as musicgen.evaluate --sample_temperature.")
flags.DEFINE_integer("checkpoints_to_keep", 5, "Newest checkpoints kept in run_dir.")
flags.DEFINE_integer("save_checkpoint_steps", 1000, "Save a checkpoint every N steps.")
flags.DEFINE_integer("log_every", 100, "Log line and TensorBoard scalars every N steps.")
flags.DEFINE_integer("transpose_range", 0, "On-the-fly transposition (+-semitones) for melody configs.")
flags.DEFINE_string("cache", "memory", "Converted-tensor cache for --dataset_dir/--tfds_name: "
                    "'memory', 'none', or a file path prefix.")
flags.DEFINE_integer("seed", None, "Random seed (Python, NumPy, TF).")
flags.DEFINE_bool("mixed_precision", True, "Use mixed_float16 when a GPU is visible (LSTMs in "
                  "float16; latent, logits and losses float32; dynamic loss scaling). No effect "
                  "on CPU. --nomixed_precision: float32 everywhere.")
flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into N logical devices and train with "
                     "MirroredStrategy over them (exercises the multi-replica path without GPUs).")
flags.DEFINE_bool("progress", True, "Show a tqdm progress bar.")


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or Inf."""


# ---- setup -----------------------------------------------------------------------------------
def get_strategy(cpu_replicas: int = 0):
    """MirroredStrategy over all visible GPUs when there are several, else the default strategy.

    Under TF_CONFIG (multi-worker), MultiWorkerMirroredStrategy. cpu_replicas > 1: MirroredStrategy
    over that many logical CPU devices (must run before TensorFlow initialises its devices).
    """
    import tensorflow as tf
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def setup_precision(enable: bool) -> str:
    """mixed_float16 on GPU (when enabled), float32 otherwise; returns the policy name."""
    import keras
    import tensorflow as tf
    policy = "mixed_float16" if enable and tf.config.list_physical_devices("GPU") else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def set_seed(seed: Optional[int]) -> None:
    if seed is not None:
        import keras
        keras.utils.set_random_seed(seed)


def input_kwargs_from_flags() -> dict:
    cache = {"memory": True, "none": False}.get(FLAGS.cache, FLAGS.cache)
    return dict(examples_path=FLAGS.examples_path, dataset_dir=FLAGS.dataset_dir,
                tfds_name=FLAGS.tfds_name, tfds_data_dir=FLAGS.tfds_data_dir, cache=cache,
                seed=FLAGS.seed)


def build_training_state(config_name: str, hparams_str: str, strategy):
    """(config, model, optimizer) created under the strategy scope: the config family builds the
    model and its optimizer (built, so a checkpoint's optimizer state can be restored)."""
    from musicgen import config as config_lib
    with strategy.scope():
        _, config = config_lib.get_config(config_name, hparams_str)
        model = config_lib.build_model(config, compile=True)
        model.optimizer.build(model.trainable_variables)
    return config, model, model.optimizer


def check_run_dir(run_dir: str, config_name: str, hparams_str: str) -> None:
    """Refuse to resume a run_dir trained with another config or hparams."""
    from musicgen import checkpoints
    prefix = checkpoints.latest_checkpoint(run_dir)
    if prefix is None:
        return
    meta = checkpoints.read_metadata(prefix)
    if (meta.get("config"), meta.get("hparams", "")) != (config_name, hparams_str or ""):
        raise ValueError(f"--run_dir={run_dir} holds a checkpoint of --config={meta.get('config')} "
                         f"--hparams={meta.get('hparams', '')!r}, not --config={config_name} "
                         f"--hparams={hparams_str!r}; use a new --run_dir")


def check_train_inputs(config_name: str, hparams_str: str, run_dir: str, input_kwargs: dict,
                       split: str = "train") -> None:
    """ValueError naming the flag for a data source or run dir training cannot use -- checked
    before TensorFlow or any data loads."""
    from musicgen import config as config_lib
    from musicgen.paths import make_writable_dir, split_files, split_pattern
    _, config = config_lib.get_config(config_name, hparams_str)
    given = [f for f in ("examples_path", "dataset_dir", "tfds_name", "tfds_data_dir")
             if input_kwargs.get(f)]
    if not given and not getattr(config, "train_examples_path", None):
        raise ValueError("no training data given: pass --dataset_dir=DIR (NoteSequence shards of "
                         "pipelines.convert_midi), --examples_path=DIR (pipelines.make_examples) or "
                         "--tfds_name=NAME with --tfds_data_dir=DIR (a locally prepared TFDS dataset)")
    for flag in ("examples_path", "dataset_dir"):
        path = input_kwargs.get(flag)
        if not path or any(c in path for c in "*?[,"):
            continue  # a glob / list of patterns is resolved by the input pipeline
        if not os.path.exists(path):
            raise ValueError(f"--{flag}={path}: no such file or directory")
        pattern = split_pattern(path, split)
        try:
            split_files(pattern, f"--{flag}")
        except FileNotFoundError:
            held = sorted(os.listdir(path))[:6] if os.path.isdir(path) else []
            raise ValueError(f"--{flag}={path}: no {split} shards ({pattern!r} matches nothing; "
                             f"it holds: {', '.join(held) or 'nothing'})") from None
    try:
        make_writable_dir(run_dir)
    except OSError as err:
        raise ValueError(f"--run_dir={run_dir}: cannot write there ({err.strerror or err})") from None
    check_run_dir(run_dir, config_name, hparams_str)


def _scalar_logs(logs: dict) -> dict:
    out = {}
    for k, v in logs.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def is_chief(strategy) -> bool:
    """True except on non-chief workers of a multi-worker cluster (TF_CONFIG)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def write_scalars(writer, step: int, scalars: dict) -> None:
    """TensorBoard scalar summaries without the tensorboard package (tensorflow-cpu lacks it).

    Writes the same records as tf.summary.scalar: a float tensor tagged with the scalars plugin.
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2
    meta = summary_pb2.SummaryMetadata(data_class=summary_pb2.DATA_CLASS_SCALAR)
    meta.plugin_data.plugin_name = "scalars"
    with writer.as_default(step=step):
        for k, v in scalars.items():
            tf.summary.write(k, tf.constant(float(v), tf.float32), metadata=meta)
    writer.flush()


def _distributed_step(strategy, step_fn):
    """tf.function running `step_fn(batch)` on every replica and averaging the returned scalars."""
    import tensorflow as tf

    @tf.function
    def run(batch):
        per_replica = strategy.run(step_fn, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in per_replica.items()}
    return run


class _StopRequest:
    """Turns SIGTERM into a flag checked between steps (Ctrl-C raises KeyboardInterrupt)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        def handler(signum, frame):
            logging.warning("signal %d received: saving a checkpoint and stopping", signum)
            self.requested = True
        try:
            self._old = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not in the main thread
            self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _format_logs(step: int, num_steps: int, logs: dict, secs_per_step: float, batch: int) -> str:
    order = ["loss", "reconstruction", "kl_bits", "beta", "learning_rate", "accuracy"]
    keys = [k for k in order if k in logs] + sorted(k for k in logs if k not in order)
    parts = [f"{k} {logs[k]:.4g}" for k in keys]
    return (f"step {step}/{num_steps} | " + " | ".join(parts) +
            f" | {secs_per_step:.3f} s/step | {batch / max(secs_per_step, 1e-9):.0f} ex/s")


# ---- training --------------------------------------------------------------------------------
def train(config_name: str, run_dir: str, num_steps: int, hparams_str: str = "",
          input_kwargs: Optional[dict] = None, split: str = "train", save_checkpoint_steps: int = 1000,
          checkpoints_to_keep: int = 5, log_every: int = 100, transpose_range: int = 0,
          mixed_precision: bool = False, progress: bool = True, cpu_replicas: int = 0,
          init_checkpoint: Optional[str] = None) -> int:
    """Train `config_name` in `run_dir` until global step `num_steps`; returns the step reached.

    Resumes from the latest checkpoint in run_dir; a run_dir without one starts from
    `init_checkpoint`'s weights and step when given (`checkpoints.warm_start`). Raises
    NonFiniteLossError (after logging the last good checkpoint) when the loss becomes NaN / Inf.
    """
    import tensorflow as tf
    from musicgen import checkpoints
    from musicgen.datasets import input as input_lib

    os.makedirs(run_dir, exist_ok=True)
    check_run_dir(run_dir, config_name, hparams_str)
    strategy = get_strategy(cpu_replicas)
    policy = setup_precision(mixed_precision)
    config, model, optimizer = build_training_state(config_name, hparams_str, strategy)

    step = 0
    last_good = checkpoints.latest_checkpoint(run_dir)
    if last_good:
        step = checkpoints.restore_checkpoint(last_good, model, optimizer)
        logging.info("resumed from %s at step %d", last_good, step)
    elif init_checkpoint:
        step = checkpoints.warm_start(init_checkpoint, model, optimizer)  # optimizer already built
        logging.info("warm start from %s at step %d (fresh optimizer moments)", init_checkpoint, step)
    if step >= num_steps:
        logging.info("run_dir %s is already at step %d >= --num_steps=%d: nothing to do",
                     run_dir, step, num_steps)
        return step
    chief = is_chief(strategy)
    if chief:  # workers of a multi-worker cluster share run_dir: one writer
        checkpoints.write_json_atomic(os.path.join(run_dir, "train_args.json"), {
            "config": config_name, "hparams": hparams_str, "num_steps": num_steps,
            "policy": policy, "replicas": strategy.num_replicas_in_sync, "input": input_kwargs,
            "split": split, "init_checkpoint": init_checkpoint, "argv": sys.argv})

    batch_size = int(config.hparams.batch_size)
    ds = input_lib.make_dataset(config, split, is_training=True, batch_size=batch_size,
                                transpose_range=transpose_range, **(input_kwargs or {}))
    batches = iter(strategy.experimental_distribute_dataset(ds))
    train_step = _distributed_step(strategy, model.train_step)
    # Multi-worker: only the chief writes summaries and checkpoints (the variables are in sync).
    writer = (tf.summary.create_file_writer(os.path.join(run_dir, "train")) if chief
              else tf.summary.create_noop_writer())

    def save(metrics=None):
        nonlocal last_good
        if not chief:
            return
        last_good = checkpoints.save_checkpoint(run_dir, model, optimizer, step, config_name,
                                                hparams_str, keep=checkpoints_to_keep,
                                                metrics=metrics)
        logging.info("saved %s", last_good)

    bar = _progress_bar(progress, step, num_steps)
    logs, t_last, step_last, start_step = {}, time.time(), step, step
    try:
        with _StopRequest() as stop:
            while step < num_steps and not stop.requested:
                logs = _scalar_logs(train_step(next(batches)))
                if not all(math.isfinite(v) for v in logs.values()):
                    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
                    msg = (f"non-finite training values at step {step + 1}: {bad}. Stopped without "
                           f"saving; the last good checkpoint is {last_good or 'none'} "
                           f"(try a lower learning_rate via --hparams)")
                    logging.error(msg)
                    raise NonFiniteLossError(msg)
                step += 1
                if bar is not None:
                    bar.update(1)
                if step % log_every == 0 or step == num_steps:
                    logs["learning_rate"] = float(optimizer.learning_rate)
                    secs = (time.time() - t_last) / max(step - step_last, 1)
                    t_last, step_last = time.time(), step
                    logging.info(_format_logs(step, num_steps, logs, secs, batch_size))
                    write_scalars(writer, step, dict(logs, secs_per_step=secs))
                    model.reset_metrics()  # the next line averages the next window only
                if step % save_checkpoint_steps == 0 and step < num_steps:
                    save(logs)
    except KeyboardInterrupt:
        logging.warning("interrupted at step %d: saving a checkpoint", step)
    finally:
        if bar is not None:
            bar.close()
        writer.close()
    if step > start_step or not last_good:
        save(logs)
    if chief:  # <run_dir>/curves.png; a plotting failure is only a warning
        from musicgen.curves import try_plot_run_curves
        if try_plot_run_curves(run_dir, who="musicgen.train"):
            logging.info("wrote %s", os.path.join(run_dir, "curves.png"))
    return step


def _progress_bar(enabled: bool, step: int, total: int):
    """A tqdm bar on an interactive terminal (log files get the --log_every lines only)."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)


# ---- evaluation ------------------------------------------------------------------------------
def evaluate(run_dir: str, split: str = "validation", num_batches: int = 0,
             input_kwargs: Optional[dict] = None, temperature: float = 0.0,
             checkpoint: Optional[str] = None, batch_size: Optional[int] = None,
             untrained: bool = True) -> dict:
    """Evaluate the latest (or given) checkpoint of run_dir on `split` with THE evaluator
    (`musicgen.evaluation`, the same as `python -m musicgen.evaluate`); returns the report.

    Written to <run_dir>/eval/eval_metrics.json, and the trained model's scalars as TensorBoard
    summaries under <run_dir>/eval at the checkpoint's step; the run's curves with these eval
    points to <run_dir>/eval/curves.png.
    """
    import tensorflow as tf
    from musicgen import checkpoints
    from musicgen.evaluation import evaluate_checkpoint

    prefix = checkpoints.resolve_checkpoint_path(checkpoint or run_dir)
    source = {k: v for k, v in (input_kwargs or {}).items() if k != "seed"}
    meta = checkpoints.read_metadata(prefix)
    _, config = checkpoints.get_config(meta["config"], meta.get("hparams", ""))
    report = evaluate_checkpoint(prefix, split, input_kwargs=source,
                                 batch_size=batch_size or int(config.hparams.batch_size),
                                 num_batches=num_batches or None,
                                 options={"sample_temperature": temperature,
                                          "untrained": untrained, "seed": 0})
    eval_dir = os.path.join(run_dir, "eval")
    os.makedirs(eval_dir, exist_ok=True)
    writer = tf.summary.create_file_writer(eval_dir)
    write_scalars(writer, int(report.get("checkpoint_step") or 0),
                  config.family.scalar_metrics(report["results"]))
    writer.close()
    checkpoints.write_json_atomic(os.path.join(eval_dir, "eval_metrics.json"), report)
    from musicgen.curves import try_plot_run_curves  # train + these eval points; never fails
    try_plot_run_curves(run_dir, os.path.join(eval_dir, "curves.png"), who="musicgen.train")
    return report


# ---- export ----------------------------------------------------------------------------------
def export(run_dir: str, export_path: Optional[str] = None, dtype: str = "float16") -> str:
    """Export the latest checkpoint of run_dir as <export_path>.weights.h5 + .json; returns the path.

    The json carries the config name, hparams, step and source, so `checkpoints.load_for_inference`
    (and TrainedModel) rebuild the model without flags.
    """
    from musicgen import checkpoints
    prefix = checkpoints.resolve_checkpoint_path(run_dir)
    meta = checkpoints.read_metadata(prefix)
    _, model = checkpoints.load_for_inference(prefix)
    path = export_path or checkpoints.pretrained_path(meta["config"])
    return checkpoints.export_weights(model, path, meta["config"], meta.get("hparams", ""), dtype,
                                      extra={"step": meta.get("step"),
                                             "source_checkpoint": os.path.basename(prefix)})


# ---- CLI -------------------------------------------------------------------------------------
def main(argv):
    del argv
    from musicgen import checkpoints
    if not FLAGS.config and FLAGS.mode == "train":  # eval / export read it from the checkpoint
        raise app.UsageError(f"--config is required; valid configs: {', '.join(checkpoints.config_names())}")
    if not FLAGS.run_dir:
        raise app.UsageError("--run_dir is required")
    try:
        if FLAGS.config:
            checkpoints.get_config(FLAGS.config, FLAGS.hparams)  # unknown name / hparam -> listing
    except ValueError as e:
        raise app.UsageError(str(e))
    set_seed(FLAGS.seed)
    if FLAGS.mode == "export":
        path = export(FLAGS.run_dir, FLAGS.export_path, FLAGS.export_dtype)
        print(f"exported {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
        return 0
    if FLAGS.mode == "eval":
        metrics = evaluate(FLAGS.run_dir, FLAGS.eval_split, FLAGS.eval_num_batches,
                           input_kwargs_from_flags(), FLAGS.eval_temperature,
                           batch_size=FLAGS.eval_batch_size or None)
        print(metrics["table"])
        print(json.dumps(metrics["results"], indent=2, sort_keys=True, default=str))
        return 0
    try:
        check_train_inputs(FLAGS.config, FLAGS.hparams, FLAGS.run_dir, input_kwargs_from_flags(),
                           FLAGS.train_split)
    except ValueError as e:
        raise app.UsageError(str(e))
    try:
        train(FLAGS.config, FLAGS.run_dir, FLAGS.num_steps, FLAGS.hparams, input_kwargs_from_flags(),
              FLAGS.train_split, FLAGS.save_checkpoint_steps, FLAGS.checkpoints_to_keep,
              FLAGS.log_every, FLAGS.transpose_range, FLAGS.mixed_precision, FLAGS.progress,
              FLAGS.cpu_replicas, FLAGS.init_checkpoint)
    except NonFiniteLossError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 3
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
