r"""Convert a MIDI dataset into NoteSequence TFRecord shards (+ manifest.json).

Usage:
  python -m pipelines.convert_midi --dataset=groove --input_dir=/data/groove --output_dir=/tmp/groove_ns
  python -m pipelines.convert_midi --dataset=maestro --input_dir=/data/maestro-v3.0.0 \
      --output_dir=/tmp/maestro_ns --composer=chopin --split=train --max_duration=600
  python -m pipelines.convert_midi --dataset=dir --input_dir=/data/nottingham/MIDI --output_dir=/tmp/nott
  python -m pipelines.convert_midi --dataset=groove --runner=beam --input_dir=... --output_dir=... \
      --pipeline_options="--runner=DirectRunner --direct_num_workers=2"
  python -m pipelines.convert_midi --tfds_name=groove/full-midionly --tfds_data_dir=~/tensorflow_datasets \
      --output_dir=/tmp/groove_tfds

Output: ``<output_dir>/<split>-NNNNN-of-MMMMM.tfrecord`` (train/validation/test, or ``all`` for
--dataset=dir) of serialized ``NoteSequence`` protos carrying the dataset metadata (id, filename,
collection_name, title, artist, composers, genre), and ``manifest.json`` (counts per split, every
skipped file with its reason, arguments, library versions, timing). Files that cannot be converted
are skipped and recorded, never fatal; the exit code is non-zero only when nothing was converted.
"""
from __future__ import annotations

import math
import os
import shlex
from typing import Iterable, Optional

from absl import app, flags

from musicgen import midi_io
from musicgen.datasets import readers
from pipelines import runner as runner_lib

MAESTRO_FILTERS = ("composer", "year", "split", "min_duration", "max_duration")
GROOVE_FILTERS = ("drummer", "style", "min_bpm", "max_bpm", "beat_type", "time_signature", "split",
                  "min_duration", "max_duration")
DATASET_FILTERS = {"maestro": MAESTRO_FILTERS, "groove": GROOVE_FILTERS, "dir": ()}
ALL_FILTERS = sorted(set(MAESTRO_FILTERS) | set(GROOVE_FILTERS))
FILES_PER_SHARD = 256
NO_NOTES = ("no notes after parsing (no note events, or note-offs that never follow their note-ons "
            "so no note has end >= start)")


def _read_midi(source: readers.MidiSource):
    """NoteSequence of a source: bytes already in memory, a local file, or a Beam filesystem URL."""
    if source.data is not None:
        return midi_io.midi_bytes_to_note_sequence(source.data, filename=source.path)
    if "://" in source.path:
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.open(source.path) as f:
            return midi_io.midi_bytes_to_note_sequence(f.read(), filename=source.path)
    return midi_io.midi_file_to_note_sequence(source.path)


def convert_source(source: readers.MidiSource) -> runner_lib.Result:
    """The per-file function of both runners: MIDI -> NoteSequence + metadata -> bytes, or a skip."""
    try:
        ns = _read_midi(source)
        readers.apply_metadata(ns, source.metadata)
        data = ns.SerializeToString()
    except Exception as e:  # noqa: BLE001 — every failure of one file is a recorded skip
        reason = str(e) if isinstance(e, (ValueError, OSError)) else f"{type(e).__name__}: {e}"
        return runner_lib.Result(source.split, skip=(source.path, reason or type(e).__name__))
    if not ns.notes:
        return runner_lib.Result(source.split, skip=(source.path, NO_NOTES))
    stats = {"notes": len(ns.notes), "seconds": ns.total_time}
    return runner_lib.Result(source.split, records=[data], stats=stats)


JOB = runner_lib.Job(name="convert_midi", process=convert_source,
                     item_split=lambda s: s.split, item_name=lambda s: s.path)


def auto_num_shards(counts: dict, num_shards: int = 0) -> dict:
    """Shards per split: ``num_shards`` for each split, or one per FILES_PER_SHARD files (auto)."""
    return {split: num_shards or max(1, math.ceil(n / FILES_PER_SHARD))
            for split, n in counts.items() if n}


def list_sources(dataset: str, input_dir: str, filters: dict):
    """(sources, skipped) of a dataset folder; filters that the dataset lacks raise ValueError."""
    if dataset not in readers.READERS:
        raise ValueError(f"--dataset must be one of {', '.join(readers.READERS)}, got {dataset!r}")
    unknown = sorted(k for k, v in filters.items() if v not in (None, "", [])
                     and k not in DATASET_FILTERS[dataset])
    if unknown:
        raise ValueError(f"--dataset={dataset} has no filter(s) {', '.join('--' + k for k in unknown)}"
                         f"; valid: {', '.join('--' + k for k in DATASET_FILTERS[dataset]) or 'none'}")
    used = {k: v for k, v in filters.items() if k in DATASET_FILTERS[dataset]}
    return readers.READERS[dataset](input_dir, **used)


def _counts_by_split(sources: Iterable[readers.MidiSource]) -> dict:
    counts = {}
    for s in sources:
        counts[s.split] = counts.get(s.split, 0) + 1
    return counts


def convert(output_dir: str, dataset: str = "dir", input_dir: Optional[str] = None,
            filters: Optional[dict] = None, runner: str = "local", num_workers: Optional[int] = None,
            num_shards: int = 0, pipeline_args: Optional[list] = None, tfds_name: Optional[str] = None,
            tfds_data_dir: Optional[str] = None) -> dict:
    """Run the conversion; returns the manifest dict (also written to ``output_dir/manifest.json``)."""
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
    if tfds_name:
        from musicgen.datasets import sources as tfds_sources
        unknown = sorted(set(filters) - set(GROOVE_FILTERS))
        if unknown:
            raise ValueError(f"--tfds_name has no filter(s) {', '.join('--' + k for k in unknown)}")
        items = tfds_sources.read_tfds_groove(tfds_name, tfds_data_dir, **filters)
        counts, skipped = tfds_sources.count_tfds_groove(tfds_name, tfds_data_dir), []
        total = None if filters else sum(counts.values())
    else:
        if not input_dir:
            raise ValueError("--input_dir is required (or --tfds_name with --tfds_data_dir)")
        items, skipped = list_sources(dataset, input_dir, filters)
        counts, total = _counts_by_split(items), len(items)
    os.makedirs(output_dir, exist_ok=True)
    shards = auto_num_shards(counts, num_shards)
    summary, seconds = runner_lib.run(JOB, items, output_dir, shards, runner=runner,
                                      num_workers=num_workers, total=total,
                                      pipeline_args=pipeline_args)
    for path, reason in skipped:  # reader-level skips (missing files, files not in the metadata)
        summary.add_skip(path, reason)
    arguments = {"dataset": None if tfds_name else dataset, "input_dir": input_dir,
                 "output_dir": output_dir, "filters": filters, "runner": runner,
                 "num_workers": num_workers or os.cpu_count(), "num_shards": shards,
                 "pipeline_args": pipeline_args or [], "tfds_name": tfds_name,
                 "tfds_data_dir": tfds_data_dir}
    return runner_lib.write_manifest(output_dir, "convert_midi", summary, arguments, runner, seconds)


# ---- CLI ----------------------------------------------------------------------------------------

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program, so both job modules import together)."""
    runner_lib.define_job_flags("Where shards and manifest.json go.")
    flags.DEFINE_enum("dataset", "dir", list(readers.READERS), "Layout of --input_dir.")
    flags.DEFINE_string("input_dir", None, "Dataset folder (MAESTRO: with maestro-v*.csv|json; Groove: "
                        "with info.csv; dir: any folder of .mid/.midi, recursive).")
    flags.DEFINE_list("composer", None, "MAESTRO: case-insensitive composer substring(s).")
    flags.DEFINE_list("year", None, "MAESTRO: year(s).")
    flags.DEFINE_list("split", None, "MAESTRO/Groove: split(s) to keep (train, validation, test).")
    flags.DEFINE_float("min_duration", None, "MAESTRO/Groove: minimum duration in seconds.")
    flags.DEFINE_float("max_duration", None, "MAESTRO/Groove: maximum duration in seconds.")
    flags.DEFINE_list("drummer", None, "Groove: drummer(s), e.g. drummer1.")
    flags.DEFINE_list("style", None, "Groove: primary style (funk) or full style (funk/groove1).")
    flags.DEFINE_float("min_bpm", None, "Groove: minimum tempo.")
    flags.DEFINE_float("max_bpm", None, "Groove: maximum tempo.")
    flags.DEFINE_list("beat_type", None, "Groove: beat and/or fill.")
    flags.DEFINE_list("time_signature", None, "Groove: e.g. 4-4.")
    flags.DEFINE_string("tfds_name", None, "Read TFDS's groove builder instead (e.g. groove/full-midionly).")
    flags.DEFINE_string("tfds_data_dir", None, "Local TFDS data dir (prepared data or downloads/manual zip).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    filters = {name: FLAGS[name].value for name in ALL_FILTERS}
    return runner_lib.cli_exit_code(lambda: convert(
        FLAGS.output_dir, FLAGS.dataset, FLAGS.input_dir, filters, FLAGS.runner, FLAGS.num_workers,
        FLAGS.num_shards, shlex.split(FLAGS.pipeline_options), FLAGS.tfds_name, FLAGS.tfds_data_dir))


if __name__ == "__main__":
    define_flags()
    app.run(main)
