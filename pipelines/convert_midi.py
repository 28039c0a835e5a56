r"""Convert MIDI datasets into NoteSequence TFRecord shards (+ manifest.json).

Usage:
  python -m pipelines.convert_midi --dataset=groove --input_dir=/data/groove --output_dir=/tmp/groove_ns
  python -m pipelines.convert_midi --dataset=maestro --input_dir=/data/maestro-v3.0.0 \
      --output_dir=/tmp/maestro_ns --composer=chopin --split=train --max_duration=600
  python -m pipelines.convert_midi --dataset=dir --input_dir=/data/nottingham/MIDI/melody \
      --output_dir=/tmp/nott
  # several inputs, one dataset: --input=[NAME=]DATASET:PATH, repeated or comma-separated
  python -m pipelines.convert_midi --output_dir=/tmp/mel_mix \
      --input=maestro:/data/maestro-v2.0.0,dir:/data/nottingham/MIDI/melody
  python -m pipelines.convert_midi --output_dir=/tmp/mix --input=groove:/data/groove \
      --input=jazz=dir:/data/my_midi/jazz --input=rock=dir:/data/other/jazz --drummer=drummer1
  python -m pipelines.convert_midi --dataset=groove --runner=beam --input_dir=... --output_dir=... \
      --pipeline_options="--runner=DirectRunner --direct_num_workers=2"
  python -m pipelines.convert_midi --dataset=groove --runner=dask --scheduler=tcp://HOST:8786 \
      --input_dir=/shared/groove --output_dir=/shared/groove_ns
  python -m pipelines.convert_midi --tfds_name=groove/full-midionly --tfds_data_dir=~/tensorflow_datasets \
      --output_dir=/tmp/groove_tfds

Splits: MAESTRO and Groove keep their official split. A plain folder (``dir``) is split by
``--split_by`` (see :mod:`musicgen.datasets.readers`): ``auto`` (default) uses top-level ``train/``,
``validation/`` (``valid/``, ``val/``, ``dev/``) and ``test/`` folders when there are any — MIDI files
outside them are skipped with a reason — else ``hash``: a stable hash of each file's relative path
with ``--validation_fraction`` (0.1) and ``--test_fraction`` (0.1), train the rest; adding or removing
files never moves another file. ``--split_by=none`` gives the old single split ``all``;
``--validation_fraction=0 --test_fraction=0`` puts every file in train.

Inputs: ``--dataset`` + ``--input_dir`` for one input, or ``--input=[NAME=]DATASET:PATH`` (repeat the
flag or separate with commas) for one or several. ``NAME`` (default: maestro, groove, or the folder's
name for dir) is the ``collection_name`` of that input's NoteSequences and part of their ids; names
must differ. Filters apply to the inputs whose dataset has them (``--composer`` to MAESTRO inputs,
``--drummer`` to Groove inputs, ``--split`` to all) and leave the others whole; a filter that no input's
dataset has is an error. Several inputs are interleaved evenly in the output (each one's files keep
their order), so a split read front to back is a mix from the start.

Output: ``<output_dir>/<split>-NNNNN-of-MMMMM.tfrecord`` (train/validation/test; ``all`` with
--split_by=none) of serialized ``NoteSequence`` protos carrying the dataset metadata (id, filename,
collection_name, title, artist, composers, genre), and ``manifest.json``: counts per split, per input
(``inputs``: dataset, folder, how it was split, filters applied, files selected / converted per split,
skipped), every skipped file with its reason and input, every converted file from which the reader
dropped or repeated notes or events as note_seq does (``altered``: counts by reason, e.g. notes
never closed), arguments, library versions, timing. Files
that cannot be converted are skipped and recorded, never fatal; the exit code is non-zero only when
nothing was converted. Re-runs give byte-identical shards.
"""
from __future__ import annotations

import dataclasses
import fractions
import math
import os
import re
import shlex
from typing import Iterable, Optional, Sequence, Union

from absl import app, flags

from musicgen import midi_io
from musicgen.datasets import readers
from pipelines import runner as runner_lib

MAESTRO_FILTERS = ("composer", "year", "split", "min_duration", "max_duration")
GROOVE_FILTERS = ("drummer", "style", "min_bpm", "max_bpm", "beat_type", "time_signature", "split",
                  "min_duration", "max_duration")
DIR_FILTERS = ("split",)
DATASET_FILTERS = {"maestro": MAESTRO_FILTERS, "groove": GROOVE_FILTERS, "dir": DIR_FILTERS}
ALL_FILTERS = sorted(set(MAESTRO_FILTERS) | set(GROOVE_FILTERS))
FILES_PER_SHARD = 256
NO_NOTES = ("no notes after parsing (no note events, or note-offs that never follow their note-ons "
            "so no note has end >= start)")


def _read_midi(source: readers.MidiSource, report: dict):
    """NoteSequence of a source: bytes already in memory, a local file, or a Beam filesystem URL;
    `report` receives what the reader dropped or repeated (as note_seq does), by reason."""
    if source.data is not None:
        return midi_io.midi_bytes_to_note_sequence(source.data, filename=source.path,
                                                   report=report)
    if "://" in source.path:
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.open(source.path) as f:
            return midi_io.midi_bytes_to_note_sequence(f.read(), filename=source.path,
                                                       report=report)
    return midi_io.midi_file_to_note_sequence(source.path, report=report)


def convert_source(source: readers.MidiSource) -> runner_lib.Result:
    """The per-file function of both runners: MIDI -> NoteSequence + metadata -> bytes, or a skip."""
    report = {}
    try:
        ns = _read_midi(source, report)
        readers.apply_metadata(ns, source.metadata)
        data = ns.SerializeToString()
    except Exception as e:  # noqa: BLE001 — every failure of one file is a recorded skip
        reason = str(e) if isinstance(e, (ValueError, OSError)) else f"{type(e).__name__}: {e}"
        return runner_lib.Result(source.split, skip=(source.path, reason or type(e).__name__),
                                 group=_group(source))
    if not ns.notes:
        return runner_lib.Result(source.split, skip=(source.path, NO_NOTES), group=_group(source))
    stats = {"notes": len(ns.notes), "seconds": ns.total_time}
    return runner_lib.Result(source.split, records=[data], stats=stats, group=_group(source),
                             altered=(source.path, report) if report else None)


def _group(source: readers.MidiSource) -> Optional[str]:
    """The input a source belongs to in the manifest: its collection name."""
    return source.metadata.get("collection_name") or None


def _split(source: readers.MidiSource) -> str:
    return source.split


def _path(source: readers.MidiSource) -> str:
    return source.path


JOB = runner_lib.Job(name="convert_midi", process=convert_source, item_split=_split,
                     item_name=_path, item_group=_group)


def auto_num_shards(counts: dict, num_shards: int = 0) -> dict:
    """Shards per split: ``num_shards`` for each split, or one per FILES_PER_SHARD files (auto)."""
    return {split: num_shards or max(1, math.ceil(n / FILES_PER_SHARD))
            for split, n in counts.items() if n}


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of a job: a ``dataset`` layout (maestro, groove, dir) at ``path``; ``name`` is the
    collection_name of its NoteSequences (default: maestro / groove / the folder's name)."""

    dataset: str
    path: str
    name: Optional[str] = None

    @property
    def collection(self) -> str:
        if self.name:
            return self.name
        if self.dataset == "dir":
            return os.path.basename(os.path.normpath(self.path))
        return self.dataset

    def __str__(self) -> str:
        return f"{self.name + '=' if self.name else ''}{self.dataset}:{self.path}"


_INPUT = re.compile(r"(?:(?P<name>[A-Za-z0-9_.-]+)=)?(?P<dataset>[A-Za-z][A-Za-z0-9_]*):(?P<path>.+)")
_NEXT_INPUT = re.compile(r",(?=(?:[A-Za-z0-9_.-]+=)?[A-Za-z][A-Za-z0-9_]*:)")


def parse_inputs(values: Union[str, Sequence[str]]) -> list:
    """``--input`` values -> [Input]: each ``[NAME=]DATASET:PATH``; a value may hold several
    separated by commas (a comma inside a path is kept unless ``[NAME=]DATASET:`` follows it)."""
    values = [values] if isinstance(values, str) else list(values)
    inputs = []
    for value in values:
        for part in _NEXT_INPUT.split(value):
            part = part.strip()
            if not part:
                continue
            match = _INPUT.fullmatch(part)
            if not match:
                raise ValueError(f"--input={part!r}: expected [NAME=]DATASET:PATH with DATASET one of "
                                 f"{', '.join(readers.READERS)}, e.g. maestro:/data/maestro-v2.0.0")
            if match["dataset"] not in readers.READERS:
                raise ValueError(f"--input={part!r}: unknown dataset {match['dataset']!r}; expected "
                                 f"one of {', '.join(readers.READERS)}")
            inputs.append(Input(match["dataset"], os.path.expanduser(match["path"]), match["name"]))
    if not inputs:
        raise ValueError("--input: no input given (expected [NAME=]DATASET:PATH)")
    return inputs


def _check_inputs(inputs: list, filters: dict) -> None:
    """ValueError for colliding collection names and filters that no input can apply."""
    seen = {}
    for i in inputs:
        if i.dataset not in readers.READERS:
            raise ValueError(f"--dataset must be one of {', '.join(readers.READERS)}, got {i.dataset!r}")
        if i.collection in seen:
            raise ValueError(f"--input: {seen[i.collection]} and {i} are both named {i.collection!r} "
                             "(their collection_name and NoteSequence ids would collide); name one: "
                             f"--input=NAME={i.dataset}:{i.path}")
        seen[i.collection] = str(i)
    datasets = sorted({i.dataset for i in inputs}, key=list(readers.READERS).index)
    valid = [f for d in datasets for f in DATASET_FILTERS[d]]
    unknown = sorted(k for k in filters if k not in valid)
    if unknown:
        who = f"--dataset={datasets[0]} has no" if len(inputs) == 1 else \
            f"no input's dataset ({', '.join(datasets)}) has"
        raise ValueError(f"{who} filter(s) {', '.join('--' + k for k in unknown)}"
                         f"; valid: {', '.join('--' + k for k in dict.fromkeys(valid)) or 'none'}")


def _renamed(source: readers.MidiSource, name: str) -> readers.MidiSource:
    """``source`` with collection_name ``name`` (and the id that goes with it)."""
    meta = dict(source.metadata, collection_name=name,
                id=readers.note_sequence_id(source.metadata["filename"], name))
    return dataclasses.replace(source, metadata=meta)


def read_input(item: Input, filters: dict, split_by: str = "auto",
               validation_fraction: float = readers.DEFAULT_VALIDATION_FRACTION,
               test_fraction: float = readers.DEFAULT_TEST_FRACTION) -> tuple:
    """(sources, skipped, info) of one input; ``filters`` of other datasets are left out.

    ``info`` is the input's manifest entry so far (name, dataset, folder, split method, filters).
    """
    used = {k: v for k, v in filters.items() if k in DATASET_FILTERS[item.dataset]}
    info = {"name": item.collection, "dataset": item.dataset, "input_dir": item.path}
    if item.dataset == "dir":
        method = readers.folder_split_method(item.path, split_by) if os.path.isdir(item.path) \
            else split_by
        options = {"collection_name": item.collection, "split_by": split_by,
                   "validation_fraction": validation_fraction, "test_fraction": test_fraction}
        sources, skipped = readers.read_folder(item.path, **options, **used)
        info["split_by"] = method
        if method == "hash":
            info.update(validation_fraction=validation_fraction, test_fraction=test_fraction)
        elif method == "folders":
            info["split_folders"] = readers.split_folders(item.path)
        if used:
            info["filtered_out"] = len(readers.read_folder(item.path, **options)[0]) - len(sources)
    else:
        reader = readers.READERS[item.dataset]
        sources, skipped = reader(item.path, **used)
        info["split_by"] = "official"
        if used:
            info["filtered_out"] = len(reader(item.path)[0]) - len(sources)
        if item.name and item.name != item.dataset:
            sources = [_renamed(s, item.name) for s in sources]
    info["filters"] = used
    return sources, skipped, info


def list_sources(dataset: str, input_dir: str, filters: dict, **dir_options):
    """(sources, skipped) of one dataset folder; filters that the dataset lacks raise ValueError.

    ``dir_options``: split_by, validation_fraction, test_fraction (``dir`` only).
    """
    item = Input(dataset, input_dir)
    filters = {k: v for k, v in filters.items() if v not in (None, "", [])}
    _check_inputs([item], filters)
    sources, skipped, _ = read_input(item, filters, **dir_options)
    return sources, skipped


def interleave(groups: Sequence[Sequence]) -> list:
    """The items of several lists merged evenly: item i of a list of n sits at (i + 1/2) / n of the
    output, ties in list order; each list keeps its own order. Deterministic.

    >>> interleave([["a1", "a2", "a3", "a4"], ["b1", "b2"]])
    ['a1', 'b1', 'a2', 'a3', 'b2', 'a4']
    """
    keyed = [(fractions.Fraction(2 * i + 1, 2 * len(items)), k, i)
             for k, items in enumerate(groups) for i in range(len(items))]
    return [groups[k][i] for _, k, i in sorted(keyed)]


def _counts_by_split(sources: Iterable[readers.MidiSource]) -> dict:
    counts = {}
    for s in sources:
        counts[s.split] = counts.get(s.split, 0) + 1
    return counts


def _ordered(counts) -> dict:
    order = list(readers.SPLITS) + [readers.ALL_SPLIT]
    return {k: counts[k] for k in sorted(counts, key=lambda k: (order.index(k) if k in order
                                                                   else len(order), k))}


def convert(output_dir: str, dataset: str = "dir", input_dir: Optional[str] = None,
            filters: Optional[dict] = None, runner: str = "local", num_workers: Optional[int] = None,
            num_shards: int = 0, pipeline_args: Optional[list] = None, tfds_name: Optional[str] = None,
            tfds_data_dir: Optional[str] = None, inputs: Union[None, str, Sequence] = None,
            split_by: str = "auto", validation_fraction: Optional[float] = None,
            test_fraction: Optional[float] = None, scheduler: Optional[str] = None) -> dict:
    """Run the conversion; returns the manifest dict (also written to ``output_dir/manifest.json``).

    One input: ``dataset`` + ``input_dir``; or ``inputs``: ``Input``s or ``--input`` strings
    (``[NAME=]DATASET:PATH``). ``split_by`` / ``validation_fraction`` / ``test_fraction`` (None: 0.1)
    split the ``dir`` inputs (module doc). ``runner="dask"``: ``scheduler`` is the cluster's address
    (None: a local cluster of ``num_workers`` processes).
    """
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
    explicit = [f for f, v in (("validation_fraction", validation_fraction),
                               ("test_fraction", test_fraction)) if v is not None]
    validation_fraction = readers.DEFAULT_VALIDATION_FRACTION if validation_fraction is None \
        else validation_fraction
    test_fraction = readers.DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    readers.check_fractions(validation_fraction, test_fraction)
    if split_by not in readers.SPLIT_BY:
        raise ValueError(f"--split_by={split_by!r}: expected one of {', '.join(readers.SPLIT_BY)}")
    infos, parsed = [], []
    if tfds_name:
        from musicgen.datasets import sources as tfds_sources
        if inputs or input_dir:
            raise ValueError("--tfds_name reads TFDS instead of --input/--input_dir: pass one of them")
        unknown = sorted(set(filters) - set(GROOVE_FILTERS))
        if unknown:
            raise ValueError(f"--tfds_name has no filter(s) {', '.join('--' + k for k in unknown)}")
        _reject_dir_options([], explicit, split_by)
        items = tfds_sources.read_tfds_groove(tfds_name, tfds_data_dir, **filters)
        counts, skipped = tfds_sources.count_tfds_groove(tfds_name, tfds_data_dir), []
        total = None if filters else sum(counts.values())
        infos.append({"name": "groove", "dataset": "tfds", "tfds_name": tfds_name,
                      "split_by": "official", "filters": filters})
    else:
        if inputs and input_dir:
            raise ValueError("--input and --input_dir: use one (--input=DATASET:PATH takes several)")
        if inputs:
            for given in [inputs] if isinstance(inputs, (str, Input)) else inputs:
                parsed += [given] if isinstance(given, Input) else parse_inputs(given)
        elif input_dir:
            parsed = [Input(dataset, input_dir)]
        else:
            raise ValueError("--input_dir (or --input=DATASET:PATH) is required "
                             "(or --tfds_name with --tfds_data_dir)")
        _check_inputs(parsed, filters)
        per_input, skipped = [], []
        for item in parsed:
            sources, item_skipped, info = read_input(item, filters, split_by, validation_fraction,
                                                     test_fraction)
            info["selected"] = _ordered(_counts_by_split(sources))
            per_input.append(sources)
            skipped += [(path, reason, item.collection) for path, reason in item_skipped]
            infos.append(info)
        _reject_dir_options(infos, explicit, split_by)
        items = per_input[0] if len(per_input) == 1 else interleave(per_input)
        counts, total = _counts_by_split(items), len(items)
    os.makedirs(output_dir, exist_ok=True)
    shards = auto_num_shards(counts, num_shards)
    summary, seconds = runner_lib.run(JOB, items, output_dir, shards, runner=runner,
                                      num_workers=num_workers, total=total,
                                      pipeline_args=pipeline_args, scheduler=scheduler)
    for skip in skipped:  # reader-level skips (missing files, files not in the metadata, ...)
        summary.add_skip(*skip)
    for info in infos:
        group = summary.group(info["name"])
        if "selected" not in info:  # TFDS: known after the run
            info["selected"] = _ordered(group["items"])
        info["counts"] = _ordered({s: group["counts"].get(s, 0) for s in info["selected"]})
        info["num_skipped"] = group["num_skipped"]
    arguments = {"dataset": None if tfds_name or inputs else dataset, "input_dir": input_dir,
                 "inputs": [str(i) for i in parsed] if inputs else None,
                 "output_dir": output_dir, "filters": filters, "split_by": split_by,
                 "validation_fraction": validation_fraction, "test_fraction": test_fraction,
                 "runner": runner, "num_workers": num_workers or os.cpu_count(), "num_shards": shards,
                 "pipeline_args": pipeline_args or [], "tfds_name": tfds_name,
                 "tfds_data_dir": tfds_data_dir}
    if runner == "dask":
        arguments["scheduler"] = scheduler or None
    return runner_lib.write_manifest(output_dir, "convert_midi", summary, arguments, runner, seconds,
                                     extra={"inputs": infos})


def _reject_dir_options(infos: list, explicit: list, split_by: str) -> None:
    """Split flags that no input uses are an error, not silently ignored."""
    dirs = [i for i in infos if i["dataset"] == "dir"]
    if split_by != "auto" and not dirs:
        raise ValueError(f"--split_by={split_by} only applies to --dataset=dir inputs; "
                         "MAESTRO and Groove keep their official split")
    if explicit and not any(i["split_by"] == "hash" for i in dirs):
        how = ", ".join(f"{i['name']}: {i['split_by']}" for i in infos)
        raise ValueError(f"--{explicit[0]} only applies to --dataset=dir inputs split by hash "
                         f"(here {how}); pass --split_by=hash to hash-split a folder with split "
                         "folders")


# ---- CLI ----------------------------------------------------------------------------------------

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program, so both job modules import together)."""
    runner_lib.define_job_flags("Where shards and manifest.json go.")
    flags.DEFINE_enum("dataset", "dir", list(readers.READERS), "Layout of --input_dir.")
    flags.DEFINE_string("input_dir", None, "Dataset folder (MAESTRO: with maestro-v*.csv|json; Groove: "
                        "with info.csv; dir: any folder of .mid/.midi, recursive).")
    flags.DEFINE_multi_string("input", None, "Instead of --dataset/--input_dir, one or several inputs "
                              "[NAME=]DATASET:PATH (repeat, or separate with commas), e.g. "
                              "maestro:/data/maestro-v2.0.0,dir:/data/nottingham/MIDI/melody. NAME: "
                              "collection_name (default maestro / groove / the folder's name).")
    flags.DEFINE_enum("split_by", "auto", list(readers.SPLIT_BY), "dir inputs: auto (split folders "
                      "train/ validation|valid|val|dev/ test/ when present, else hash), hash (of the "
                      "relative path), folders, none (one split 'all').")
    flags.DEFINE_float("validation_fraction", readers.DEFAULT_VALIDATION_FRACTION,
                       "dir inputs split by hash: fraction of files in validation.")
    flags.DEFINE_float("test_fraction", readers.DEFAULT_TEST_FRACTION,
                       "dir inputs split by hash: fraction of files in test (train: the rest).")
    flags.DEFINE_list("composer", None, "MAESTRO: case-insensitive composer substring(s).")
    flags.DEFINE_list("year", None, "MAESTRO: year(s).")
    flags.DEFINE_list("split", None, "Split(s) to keep (train, validation, test), every input.")
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
    fraction = {name: FLAGS[name].value if FLAGS[name].present else None
                for name in ("validation_fraction", "test_fraction")}

    def job():
        if FLAGS.input and FLAGS["dataset"].present:
            raise ValueError("--input=DATASET:PATH names each input's dataset: drop --dataset")
        return convert(FLAGS.output_dir, FLAGS.dataset, FLAGS.input_dir, filters, FLAGS.runner,
                       FLAGS.num_workers, FLAGS.num_shards, shlex.split(FLAGS.pipeline_options),
                       FLAGS.tfds_name, FLAGS.tfds_data_dir, inputs=FLAGS.input,
                       split_by=FLAGS.split_by, scheduler=FLAGS.scheduler, **fraction)

    return runner_lib.cli_exit_code(job)


if __name__ == "__main__":
    define_flags()
    app.run(main)
