"""tf.data input for training and evaluation: a config + split -> batches in the shared batch format.

Batches are dicts {"inputs": (B, T, input_depth) float32, "outputs": (B, T, output_depth) float32,
"controls": (B, T, control_depth) float32, "lengths": (B,) + length_shape int32}, zero-padded to the
config's `hparams.max_seq_len`. Three sources, one function (`make_dataset`):

* prepared tf.train.Example shards (`examples_path`): the tensors of a config written by
  `pipelines.make_examples` (or `write_examples` here). Records are shuffled as serialized strings,
  batched, then parsed with one vectorised `tf.io.parse_example` per batch: the fast path.
* NoteSequence shards (`dataset_dir`, `<dir>/<split>-NNNNN-of-MMMMM.tfrecord`): every NoteSequence
  goes through the config's converter (train mode for the train split, after the config's
  `note_sequence_augmenter` when training), and the converted windows are cached (in memory, or in a
  file when `cache` is a path) so every epoch after the first skips conversion. As Magenta, the
  augmenter therefore runs once per NoteSequence when caching.
* TFDS (`tfds_name`, `tfds_data_dir`): a locally prepared TFDS dataset with a `midi` feature (e.g.
  `groove/4bar-midionly`); MIDI bytes -> NoteSequence -> converter, then as the NoteSequence path.

`transpose_range` > 0 transposes one-hot melody tensors on the fly (a random shift per example within
[-r, r], limited so every pitch stays in range), after the cache, so each epoch sees new keys.
"""
from __future__ import annotations

import glob
import os
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import tensorflow as tf

from musicgen.converters.base import ConverterTensors
from musicgen.datasets import examples as examples_lib

AUTOTUNE = tf.data.AUTOTUNE
KEYS = ("inputs", "outputs", "controls", "lengths")
# One-hot melody layout (Magenta OneHotMelodyConverter): index 0 NO_EVENT, 1 NOTE_OFF, then pitches.
MELODY_NUM_SPECIAL_EVENTS = 2


# ---- shapes of a config ----------------------------------------------------------------------
def _max_seq_len(config) -> int:
    value = getattr(config.hparams, "max_seq_len", None)
    if not value:
        raise ValueError("config.hparams.max_seq_len must be set to build the input pipeline")
    return int(value)


def _depths(config):
    conv = config.data_converter
    return conv.input_depth, conv.output_depth, conv.control_depth, tuple(conv.length_shape)


def element_spec(config) -> tuple:
    """TensorSpecs of one unbatched element (inputs, outputs, controls, lengths)."""
    di, do, dc, ls = _depths(config)
    return (tf.TensorSpec((None, di), tf.float32), tf.TensorSpec((None, do), tf.float32),
            tf.TensorSpec((None, dc), tf.float32), tf.TensorSpec(ls, tf.int32))


def _to_batch_dict(inputs, outputs, controls, lengths) -> dict:
    return {"inputs": inputs, "outputs": outputs, "controls": controls, "lengths": lengths}


# ---- converter -> element tuples ---------------------------------------------------------------
def tensors_to_elements(tensors: ConverterTensors, config) -> Iterator[tuple]:
    """(inputs, outputs, controls, lengths) numpy tuples (float32 / int32) of converted windows.

    Raises ValueError when a window is longer than the config's max_seq_len.
    """
    max_len = _max_seq_len(config)
    _, _, dc, length_shape = _depths(config)
    for x, y, c, n in zip(tensors.inputs, tensors.outputs, tensors.controls, tensors.lengths):
        x = np.asarray(x, np.float32)
        if len(x) > max_len:
            raise ValueError(f"converter {type(config.data_converter).__name__} produced a window "
                             f"of {len(x)} steps > hparams.max_seq_len={max_len}")
        c = np.asarray(c, np.float32).reshape(len(x), dc)
        yield x, np.asarray(y, np.float32), c, np.asarray(n, np.int32).reshape(length_shape)


def convert_note_sequences(note_sequences: Iterable, config, is_training: bool) -> Iterator[tuple]:
    """Run the config's (augmenter and) converter over NoteSequences, yielding element tuples."""
    conv = config.data_converter
    conv.set_mode("train" if is_training else "eval")
    augmenter = getattr(config, "note_sequence_augmenter", None) if is_training else None
    for ns in note_sequences:
        if augmenter is not None:
            ns = augmenter.augment(ns)
        yield from tensors_to_elements(conv.to_tensors(ns), config)


def _elements_dataset(make_note_sequences: Callable[[], Iterable], config, is_training: bool):
    return tf.data.Dataset.from_generator(
        lambda: convert_note_sequences(make_note_sequences(), config, is_training),
        output_signature=element_spec(config))


# ---- tf.train.Example shards (format: musicgen.datasets.examples) ------------------------------
def write_examples(path: str, elements: Iterable[tuple]) -> int:
    """Write element tuples as serialized tf.train.Examples to one TFRecord file; returns the count.

    A helper for tests and benchmarks; `pipelines.make_examples` is the batch job.
    """
    from musicgen.datasets.tfrecord import write_records
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return write_records(path, (examples_lib.encode_example(*el) for el in elements))


def check_examples_spec(examples_path: str, config) -> None:
    """Compare spec.json of a prepared examples directory (if any) with the config's converter."""
    spec_path = os.path.join(examples_path, examples_lib.SPEC_FILENAME)
    if not os.path.isdir(examples_path) or not os.path.exists(spec_path):
        return
    spec = examples_lib.load_spec(spec_path)
    di, do, dc, length_shape = _depths(config)
    want = {"input_depth": di, "output_depth": do, "control_depth": dc,
            "length_shape": list(length_shape)}
    bad = {k: (spec.get(k), v) for k, v in want.items() if k in spec and spec[k] != v}
    if bad:
        raise ValueError(f"--examples_path={examples_path}: {spec_path} was made for another "
                         f"converter (stored vs config): {bad}")


def _dense_steps(ragged, max_len: int, depth: int, batch):
    """(B, max_len, depth) float32 from ragged flat rows of (T_i * depth) values, zero-padded.

    When every row is full length (fixed-size windows, the common case) the values are reshaped
    directly: ~5x faster than RaggedTensor.to_tensor, which pads row by row.
    """
    width = max_len * depth
    if depth == 0:  # a zero-depth reshape cannot infer the batch size: build it explicitly
        return tf.zeros([batch, max_len, 0], tf.float32)
    full = tf.reduce_all(ragged.row_lengths() == width)
    flat = tf.cond(full, lambda: tf.reshape(ragged.flat_values, [batch, width]),
                   lambda: ragged.to_tensor(shape=[None, width]))
    return tf.reshape(flat, [batch, max_len, depth])


def parse_examples_fn(config) -> Callable:
    """A function parsing a (B,) batch of serialized Examples into padded element tuples.

    Features as `musicgen.datasets.examples` (its parse spec); a window longer than max_seq_len is an
    error there and here (tf.reshape fails).
    """
    di, do, dc, length_shape = _depths(config)
    max_len = _max_seq_len(config)
    features = examples_lib._features(length_shape)  # noqa: SLF001 — the one shared parse spec

    def parse(serialized):
        f = tf.io.parse_example(serialized, features)
        b = tf.shape(serialized)[0]
        return (_dense_steps(f["inputs"], max_len, di, b), _dense_steps(f["outputs"], max_len, do, b),
                _dense_steps(f["controls"], max_len, dc, b),
                tf.minimum(tf.cast(f["lengths"], tf.int32), max_len))

    return parse


# ---- file patterns ---------------------------------------------------------------------------
def split_pattern(path: str, split: str) -> str:
    """A directory becomes `<dir>/<split>-*`; a file or glob pattern is used as given."""
    if os.path.isdir(path):
        return os.path.join(path, f"{split}-*")
    return path


def _files(pattern: str, what: str) -> list:
    files = sorted(f for p in pattern.split(",") for f in glob.glob(p.strip()))
    files = [f for f in files if not os.path.basename(f).startswith(".tmp")]
    if not files:
        raise FileNotFoundError(f"{what}: no files match {pattern!r}")
    return files


# ---- the pipeline ----------------------------------------------------------------------------
def _pad_and_batch(ds, config, batch_size: int, drop_remainder: bool):
    di, do, dc, length_shape = _depths(config)
    t = _max_seq_len(config)
    return ds.padded_batch(batch_size, padded_shapes=([t, di], [t, do], [t, dc], list(length_shape)),
                           drop_remainder=drop_remainder)


def make_dataset(config, split: str = "train", *, examples_path: Optional[str] = None,
                 dataset_dir: Optional[str] = None, tfds_name: Optional[str] = None,
                 tfds_data_dir: Optional[str] = None, batch_size: Optional[int] = None,
                 is_training: Optional[bool] = None, repeat: Optional[bool] = None,
                 cache=True, shuffle_buffer: Optional[int] = None, transpose_range: int = 0,
                 seed: Optional[int] = None, drop_remainder: Optional[bool] = None,
                 limit_records: Optional[int] = None) -> tf.data.Dataset:
    """Batches of the shared batch format for `config` on `split`.

    Source precedence: examples_path, dataset_dir, tfds_name, then config.train_examples_path /
    eval_examples_path, then config.tfds_name. `is_training` (default: split == "train") turns on
    shuffling, infinite repeat, converter train mode, the augmenter and drop_remainder.
    `cache`: True (memory), False, or a file path prefix for tf.data's on-disk cache (converted
    NoteSequence / TFDS paths only). `limit_records` takes only the first N source records.
    """
    is_training = split == "train" if is_training is None else is_training
    repeat = is_training if repeat is None else repeat
    drop_remainder = is_training if drop_remainder is None else drop_remainder
    batch_size = int(batch_size or config.hparams.batch_size)
    shuffle_buffer = shuffle_buffer or 10 * batch_size
    if not (examples_path or dataset_dir or tfds_name):
        examples_path = config.train_examples_path if split == "train" else config.eval_examples_path
        tfds_name = None if examples_path else getattr(config, "tfds_name", None)
    if not (examples_path or dataset_dir or tfds_name):
        raise ValueError("no input: pass --examples_path, --dataset_dir or --tfds_name "
                         "(the config names no default examples path or TFDS dataset)")

    if examples_path:
        check_examples_spec(examples_path, config)
        files = _files(split_pattern(examples_path, split), "--examples_path")
        ds = tf.data.Dataset.from_tensor_slices(files)
        if is_training:
            ds = ds.shuffle(len(files), seed=seed)
        ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, buffer_size=8 << 20),
                           cycle_length=min(len(files), 8),
                           num_parallel_calls=AUTOTUNE, deterministic=not is_training)
        if limit_records:
            ds = ds.take(limit_records)
        if is_training:
            ds = ds.shuffle(shuffle_buffer, seed=seed)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
        ds = ds.map(parse_examples_fn(config), num_parallel_calls=AUTOTUNE)
    else:
        if dataset_dir:
            from musicgen.datasets.tfrecord import iterate_note_sequences
            pattern = split_pattern(dataset_dir, split)
            _files(pattern, "--dataset_dir")  # fail now, naming the flag, if nothing matches
            make_ns = lambda: iterate_note_sequences(pattern)  # noqa: E731
        else:
            builder = tfds_builder(tfds_name, tfds_data_dir)
            make_ns = lambda: tfds_note_sequences(builder, split)  # noqa: E731
        if limit_records:
            import itertools
            source = make_ns
            make_ns = lambda: itertools.islice(source(), limit_records)  # noqa: E731
        ds = _elements_dataset(make_ns, config, is_training)
        if cache:
            ds = ds.cache("" if cache is True else os.fspath(cache))
        if is_training:
            ds = ds.shuffle(shuffle_buffer, seed=seed)
        if repeat:
            ds = ds.repeat()
        ds = _pad_and_batch(ds, config, batch_size, drop_remainder)
    if transpose_range:
        ds = ds.map(transpose_fn(config, transpose_range, seed), num_parallel_calls=AUTOTUNE)
    return ds.map(_to_batch_dict, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


# ---- TFDS ------------------------------------------------------------------------------------
def tfds_builder(tfds_name: str, data_dir: Optional[str]):
    """The TFDS builder of a locally prepared dataset; clear errors for unknown / unprepared ones."""
    import tensorflow_datasets as tfds
    try:
        builder = tfds.builder(tfds_name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError and friends
        raise ValueError(f"--tfds_name={tfds_name!r}: {e}") from e
    if not os.path.isdir(builder.data_dir):
        raise FileNotFoundError(f"--tfds_name={tfds_name!r} is not prepared under --tfds_data_dir="
                                f"{data_dir!r} (expected {builder.data_dir})")
    return builder


def tfds_note_sequences(builder, split: str) -> Iterator:
    """NoteSequences of a prepared TFDS dataset with a `midi` bytes feature (e.g. `groove`)."""
    from musicgen import midi_io
    for i, ex in enumerate(builder.as_dataset(split=split).as_numpy_iterator()):
        yield midi_io.midi_bytes_to_note_sequence(ex["midi"],
                                                  filename=f"{builder.name}:{split}:{i}")


# ---- on-the-fly transposition -----------------------------------------------------------------
def transpose_fn(config, transpose_range: int, seed: Optional[int] = None) -> Callable:
    """Random per-example transposition of one-hot melody tensors (batched element tuples).

    Pitch indices (>= MELODY_NUM_SPECIAL_EVENTS) move by the same shift in inputs and outputs; the
    shift is drawn in [-r, r] and clipped so the example's lowest and highest pitch stay in range.
    Only converters with a one-hot melody layout qualify (input_depth == output_depth, no controls).
    """
    conv = config.data_converter
    if conv.input_depth != conv.output_depth or "Melody" not in type(conv).__name__:
        raise ValueError(f"transpose_range needs a one-hot melody converter, got "
                         f"{type(conv).__name__}")
    depth, special = conv.output_depth, MELODY_NUM_SPECIAL_EVENTS
    end = conv.end_token
    top = end if isinstance(end, int) and not isinstance(end, bool) and end >= special else depth
    rng = tf.random.Generator.from_seed(seed) if seed is not None else \
        tf.random.Generator.from_non_deterministic_state()

    def pitch_index(x):
        idx = tf.argmax(x, axis=-1, output_type=tf.int32)                      # (B, T)
        valid = tf.reduce_any(x > 0, axis=-1)                                  # padding: all 0
        return idx, valid, valid & (idx >= special) & (idx < top)

    def shift_onehot(x, shift):
        idx, valid, is_pitch = pitch_index(x)
        new = tf.where(is_pitch, idx + shift[:, None], idx)
        return tf.one_hot(new, depth, dtype=x.dtype) * tf.cast(valid, x.dtype)[..., None]

    def fn(inputs, outputs, controls, lengths):
        idx, _, has = pitch_index(outputs)
        lo = tf.reduce_min(tf.where(has, idx, top), axis=1)                    # lowest pitch index
        hi = tf.reduce_max(tf.where(has, idx, special), axis=1)
        down = tf.minimum(transpose_range, lo - special)
        up = tf.minimum(transpose_range, top - 1 - hi)
        u = rng.uniform(tf.shape(lo), 0.0, 1.0)
        shift = tf.cast(tf.floor(u * tf.cast(down + up + 1, tf.float32)), tf.int32) - down
        shift = tf.where(tf.reduce_any(has, axis=1), tf.minimum(shift, up), 0)
        return shift_onehot(inputs, shift), shift_onehot(outputs, shift), controls, lengths

    return fn
