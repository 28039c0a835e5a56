"""MIDI sources that are not plain folders: TFDS's ``groove`` builder read from a local data dir.

TFDS 4.9.10 has a ``groove`` builder (configs full-midionly, 2bar-midionly, 4bar-midionly, ...) but no
MAESTRO builder. Nothing is downloaded here: ``data_dir`` must hold either

* the prepared dataset (``<data_dir>/groove/<config>/2.0.1/...``, from an earlier
  ``download_and_prepare``), or
* the official zip in the manual folder, ``<data_dir>/downloads/manual/groove-v1.0.0-midionly.zip``
  (TFDS verifies its registered checksum, then prepares the dataset offline).

Otherwise :func:`read_tfds_groove` raises ``FileNotFoundError`` saying which of the two is missing.

Example:

>>> sources = read_tfds_groove("groove/full-midionly", "/data/tfds", split="train")  # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import Iterator, Optional

from musicgen.datasets.readers import MidiSource, groove_filter, groove_metadata

MANUAL_ZIPS = {"16000hz": "groove-v1.0.0.zip", "midionly": "groove-v1.0.0-midionly.zip"}


def tfds_groove_builder(name: str, data_dir: str):
    """The prepared TFDS builder ``name`` in ``data_dir``, preparing it from the manual zip if needed."""
    import tensorflow_datasets as tfds
    if not name.startswith("groove"):
        raise ValueError(f"--tfds_name {name!r}: only TFDS's 'groove' builder holds MIDI "
                         "(e.g. groove/full-midionly); TFDS has no MAESTRO builder")
    if not data_dir or not os.path.isdir(data_dir):
        raise FileNotFoundError(f"--tfds_data_dir {data_dir!r} is not a directory")
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    manual_dir = os.path.join(data_dir, "downloads", "manual")
    config = name.split("/")[-1]
    zip_name = MANUAL_ZIPS["midionly" if config.endswith("midionly") else "16000hz"]
    if not os.path.isfile(os.path.join(manual_dir, zip_name)):
        raise FileNotFoundError(
            f"TFDS dataset {name!r} is not prepared in --tfds_data_dir {data_dir!r} and the manual "
            f"download {os.path.join(manual_dir, zip_name)} is absent; this job never downloads: put "
            f"{zip_name} there (https://storage.googleapis.com/magentadata/datasets/groove/{zip_name})")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def _example_metadata(example: dict, features, split: str) -> dict:
    """info.csv-like row of one TFDS groove example, turned into reader metadata."""
    def label(key, value):
        return features[key].int2str(int(value)) if hasattr(features[key], "int2str") else value

    ex_id = example["id"].decode()
    primary = features["style"]["primary"].int2str(int(example["style"]["primary"]))
    secondary = example["style"]["secondary"].decode()
    row = {"id": ex_id, "drummer": label("drummer", example["drummer"]),
           "session": ex_id.rsplit("/", 1)[0], "style": f"{primary}/{secondary}" if secondary else primary,
           "bpm": int(example["bpm"]), "beat_type": label("type", example["type"]),
           "time_signature": label("time_signature", example["time_signature"]),
           "midi_filename": ex_id, "duration": None, "split": split}
    return groove_metadata(row)


def tfds_split_sizes(builder) -> dict:
    return {name: info.num_examples for name, info in builder.info.splits.items()}


def read_tfds_groove(name: str, data_dir: str, **filters) -> Iterator[MidiSource]:
    """Stream MidiSources (with ``data`` = MIDI bytes) from TFDS's groove builder, filtered."""
    import tensorflow_datasets as tfds
    builder = tfds_groove_builder(name, data_dir)
    keep = groove_filter(**filters)
    features = builder.info.features
    for split in sorted(tfds_split_sizes(builder)):
        for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            meta = _example_metadata(example, features, split)
            if keep(meta):
                yield MidiSource(path=f"tfds:{name}/{split}/{meta['title']}", split=split,
                                 metadata=meta, data=bytes(example["midi"]))


def count_tfds_groove(name: str, data_dir: str, split: Optional[str] = None) -> dict:
    """Examples per split of the prepared builder (before filters)."""
    return tfds_split_sizes(tfds_groove_builder(name, data_dir))
