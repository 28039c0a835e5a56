r"""Run a config's data converter over NoteSequence shards -> tf.train.Example shards + spec.json.

Usage:
  python -m pipelines.make_examples --config=groovae_2bar_humanize \
      --input='/tmp/groove_ns/*.tfrecord' --output_dir=/tmp/groove_examples
  python -m pipelines.make_examples --config=... --input=... --output_dir=... --runner=beam \
      --pipeline_options="--runner=FlinkRunner --flink_master=localhost:8081"
  python -m pipelines.make_examples --config=... --input=... --output_dir=... --runner=dask \
      --scheduler=tcp://HOST:8786

Input shards named ``<split>-NNNNN-of-MMMMM.tfrecord`` (convert_midi's output) keep their split; any
other file name counts as split "all". Each split gets as many output shards as it had input shards
(or --num_shards). Output: Example shards (see musicgen/datasets/examples.py for the features),
``spec.json`` (config, converter, depths, dtypes, max length, counts) and ``manifest.json`` (same
format as convert_midi's; NoteSequences that give no tensors or fail are listed as skipped).

The converter runs in 'eval' mode by default (deterministic windows; --mode=train applies the
config's note-sequence augmenter and the converter's train mode — the same `Conversion` as live
training input — seeded per NoteSequence from --seed and its id, so re-runs are identical).
Token-LM configs write int64 token windows and the vocabulary into spec.json.
"""
from __future__ import annotations

import os
import shlex
import zlib
from typing import Iterator, Optional

from absl import app, flags

from musicgen.datasets import examples as examples_lib
from musicgen.datasets import tfrecord
from pipelines import runner as runner_lib


def split_of(path: str) -> str:
    """Split named by a shard file (train-00000-of-00004.tfrecord -> train), else "all"."""
    match = tfrecord.SHARD_RE.match(os.path.basename(path))
    return match.group("split") if match else "all"


def note_sequence_items(files: list) -> Iterator[tuple]:
    """(split, label, serialized NoteSequence) for every record of ``files``, streaming."""
    for path in files:
        for index, data in enumerate(tfrecord.read_records(path)):
            yield split_of(path), f"{path}#{index}", data


class NoteSequenceProcessor:
    """The per-item function of both runners: NoteSequence bytes -> serialized Examples, or a skip.

    Conversion goes through `musicgen.datasets.convert.Conversion` (the same augmentation and
    converter path as live training input); in train mode it is reseeded per NoteSequence from
    `seed` and the sequence's id, so re-runs (any runner, any worker count) are identical.
    """

    def __init__(self, config, mode: str, seed: int):
        self.config, self.mode, self.seed = config, mode, seed
        self._conversion = None

    def __call__(self, item: tuple) -> runner_lib.Result:
        from note_seq.protobuf import music_pb2

        from musicgen.datasets.convert import Conversion
        split, label, data = item
        try:
            if self._conversion is None:  # per worker process, after unpickling
                self._conversion = Conversion(self.config, self.mode)
            conversion = self._conversion
            ns = music_pb2.NoteSequence.FromString(data)
            label = ns.filename or ns.id or label
            if self.mode == "train":
                conversion.reseed((self.seed * 1_000_003 + zlib.crc32((ns.id or label).encode()))
                                  % 2**32)
            elements = conversion(ns)
            records = [conversion.format.encode_example(el) for el in elements]
        except Exception as e:  # noqa: BLE001 — one bad sequence never stops the job
            return runner_lib.Result(split, skip=(label, f"{type(e).__name__}: {e}"))
        if not records:
            return runner_lib.Result(split, skip=(label, "converter produced no tensors"),
                                     stats={"sequences_without_tensors": 1})
        lengths = [conversion.format.element_length(el) for el in elements]
        return runner_lib.Result(split, records=records,
                                 stats={"max_length": max(lengths), "steps": sum(lengths)})

    def __getstate__(self):  # Beam pickles the function: never ship a live conversion
        return {"config": self.config, "mode": self.mode, "seed": self.seed, "_conversion": None}


def _beam_input(files_by_split: dict):
    """make_input for the Beam runner: ReadAllFromTFRecord over each split's files."""
    import apache_beam as beam

    def make(pipeline):
        pcolls = []
        for split, files in sorted(files_by_split.items()):
            pcolls.append(pipeline
                          | f"Files[{split}]" >> beam.Create(files)
                          | f"Read[{split}]" >> beam.io.ReadAllFromTFRecord(with_filename=True)
                          | f"Item[{split}]" >> beam.Map(lambda fr, s=split: (s, fr[0], fr[1])))
        return pcolls | "Flatten" >> beam.Flatten()

    return make


def make_examples(config, input_pattern, output_dir: str, config_name: str = "",
                  runner: str = "local", num_workers: Optional[int] = None, num_shards: int = 0,
                  mode: str = "eval", seed: int = 0, pipeline_args: Optional[list] = None,
                  scheduler: Optional[str] = None) -> dict:
    """Convert NoteSequence shards for ``config`` (a `musicgen.config.Config`: its augmenter,
    converter and family batch format); writes shards, spec.json, manifest.json."""
    files = tfrecord.expand_pattern(input_pattern)
    files_by_split = {}
    for path in files:
        files_by_split.setdefault(split_of(path), []).append(path)
    shards = {s: num_shards or len(fs) for s, fs in files_by_split.items()}
    total = sum(tfrecord.count_records(p) for p in files)
    os.makedirs(output_dir, exist_ok=True)
    job = runner_lib.Job(name="make_examples",
                         process=NoteSequenceProcessor(config, mode, seed),
                         item_split=lambda item: item[0], item_name=lambda item: item[1],
                         unit="sequence")
    summary, seconds = runner_lib.run(
        job, note_sequence_items(files), output_dir, shards, runner=runner, num_workers=num_workers,
        total=total, make_beam_input=_beam_input(files_by_split) if runner == "beam" else None,
        pipeline_args=pipeline_args, scheduler=scheduler)
    spec = config.family.batch_format(config).spec()
    spec.update({"config": config_name, "mode": mode, "counts": dict(sorted(summary.counts.items())),
                 "observed_max_length": summary.stats.get("max_length")})
    runner_lib.write_json(os.path.join(output_dir, examples_lib.SPEC_FILENAME), spec)
    arguments = {"config": config_name, "input": input_pattern, "output_dir": output_dir,
                 "runner": runner, "num_workers": num_workers or os.cpu_count(), "num_shards": shards,
                 "mode": mode, "seed": seed, "pipeline_args": pipeline_args or []}
    if runner == "dask":
        arguments["scheduler"] = scheduler or None
    return runner_lib.write_manifest(output_dir, "make_examples", summary, arguments, runner, seconds,
                                     extra={"note_sequences": total})


def load_config(name: str):
    """The config named by --config (`musicgen.config.get_config`, the one lookup)."""
    from musicgen import config as config_lib
    try:
        return config_lib.get_config(name)[1]
    except ValueError as e:
        raise ValueError(f"--config: {e}") from e


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program, so both job modules import together)."""
    runner_lib.define_job_flags("Where Example shards, spec.json and manifest.json go.")
    flags.DEFINE_string("config", None, "Name in configs.CONFIG_MAP whose data_converter is used.")
    flags.DEFINE_string("input", None, "NoteSequence TFRecord glob(s), comma-separated.")
    flags.DEFINE_enum("mode", "eval", ["eval", "train"], "Converter mode (train: sampled + augmented).")
    flags.DEFINE_integer("seed", 0, "Seed of train-mode sampling (per NoteSequence, with its id).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for name in ("config", "input", "output_dir"):
        if not FLAGS[name].value:
            raise app.UsageError(f"--{name} is required")

    def run_job():
        config = load_config(FLAGS.config)
        return make_examples(
            config, FLAGS.input, FLAGS.output_dir, config_name=FLAGS.config, runner=FLAGS.runner,
            num_workers=FLAGS.num_workers, num_shards=FLAGS.num_shards, mode=FLAGS.mode,
            seed=FLAGS.seed, pipeline_args=shlex.split(FLAGS.pipeline_options),
            scheduler=FLAGS.scheduler)

    return runner_lib.cli_exit_code(run_job)


if __name__ == "__main__":
    define_flags()
    app.run(main)
