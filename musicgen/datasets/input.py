"""tf.data input for training and evaluation: a config + split -> batches of its family's format.

The batch format (element spec, Example parsing, padding, batch dict) belongs to the config's
family (`musicgen.families`): VAE dicts {"inputs", "outputs", "controls", "lengths"} of float
windows, token-LM dicts {"tokens", "lengths", "mask"} of int ids, padded to `hparams.max_seq_len`.
Three sources, one function (`make_dataset`):

* prepared tf.train.Example shards (`examples_path`): the tensors of a config written by
  `pipelines.make_examples` (or `write_examples` here). Records are shuffled as serialized strings,
  batched, then parsed with one vectorised `tf.io.parse_example` per batch: the fast path.
* NoteSequence shards (`dataset_dir`, `<dir>/<split>-NNNNN-of-MMMMM.tfrecord`): every NoteSequence
  goes through `musicgen.datasets.convert.Conversion` (the one augmentation place: the config's
  `note_sequence_augmenter` and a private train-mode converter copy when training), and the
  converted windows are cached (in memory, or in a file when `cache` is a path) so every epoch
  after the first skips conversion. As Magenta, the augmenter therefore runs once per NoteSequence
  when caching. Formats whose converter augments every pass (token LMs) are not cached in training.
* TFDS (`tfds_name`, `tfds_data_dir`): a locally prepared TFDS dataset with a `midi` feature (e.g.
  `groove/4bar-midionly`); MIDI bytes -> NoteSequence -> converter, then as the NoteSequence path.

`transpose_range` > 0 transposes one-hot melody tensors on the fly (a random shift per example within
[-r, r], limited so every pitch stays in range), after the cache, so each epoch sees new keys.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import tensorflow as tf

from musicgen.datasets import examples as examples_lib
from musicgen.paths import split_files, split_pattern
from musicgen.datasets.convert import Conversion
from musicgen.families import vae_format

AUTOTUNE = tf.data.AUTOTUNE
KEYS = vae_format.KEYS  # the VAE family's batch keys (token LMs: token_format.KEYS)
# One-hot melody layout (Magenta OneHotMelodyConverter): index 0 NO_EVENT, 1 NOTE_OFF, then pitches.
MELODY_NUM_SPECIAL_EVENTS = 2


def batch_format(config):
    """The config family's batch format (element spec, parsing, padding, batch dict)."""
    return config.family.batch_format(config)


def element_spec(config) -> tuple:
    """TensorSpecs of one unbatched element of the config's batch format."""
    return batch_format(config).element_spec()


# ---- NoteSequences -> element tuples (musicgen.datasets.convert: the one augmentation place) ----
def convert_note_sequences(note_sequences: Iterable, config, is_training: bool,
                           seed: Optional[int] = None) -> Iterator[tuple]:
    """Augment (training) and convert NoteSequences with a private converter copy."""
    conversion = Conversion(config, "train" if is_training else "eval", seed)
    yield from conversion.over(note_sequences)


def _elements_dataset(make_note_sequences: Callable[[], Iterable], config, is_training: bool,
                      seed: Optional[int] = None):
    epoch = [0]

    def generate():  # each pass: a fresh converter copy, seeded per epoch when a seed is given
        epoch_seed = None if seed is None else seed + epoch[0]
        epoch[0] += 1
        return convert_note_sequences(make_note_sequences(), config, is_training, epoch_seed)
    return tf.data.Dataset.from_generator(generate, output_signature=element_spec(config))


# ---- tf.train.Example shards ----------------------------------------------------------------------
def write_examples(path: str, elements: Iterable[tuple], config=None) -> int:
    """Write element tuples as serialized tf.train.Examples to one TFRecord file; returns the count.

    `config`: whose batch format encodes them (default: the VAE family's dense windows). A helper
    for tests and benchmarks; `pipelines.make_examples` is the batch job.
    """
    from musicgen.datasets.tfrecord import write_records
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    encode = (batch_format(config).encode_example if config is not None
              else lambda el: examples_lib.encode_example(*el))
    return write_records(path, (encode(el) for el in elements))


def check_examples_spec(examples_path: str, config) -> None:
    """Compare spec.json of a prepared examples directory (if any) with the config's format."""
    spec_path = os.path.join(examples_path, examples_lib.SPEC_FILENAME)
    if not os.path.isdir(examples_path) or not os.path.exists(spec_path):
        return
    batch_format(config).check_spec(examples_lib.load_spec(spec_path),
                                    f"--examples_path={examples_path}: {spec_path}")


def parse_examples_fn(config) -> Callable:
    """A function parsing a (B,) batch of serialized Examples into padded element tuples."""
    return batch_format(config).parse_batch_fn()


# ---- file patterns ---------------------------------------------------------------------------
# ---- the pipeline ----------------------------------------------------------------------------
def _pad_and_batch(ds, config, batch_size: int, drop_remainder: bool):
    return ds.padded_batch(batch_size, padded_shapes=batch_format(config).padded_shapes(),
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
        files = split_files(split_pattern(examples_path, split), "--examples_path")
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
            split_files(pattern, "--dataset_dir")  # fail now, naming the flag, if nothing matches
            make_ns = lambda: iterate_note_sequences(pattern)  # noqa: E731
        else:
            builder = tfds_builder(tfds_name, tfds_data_dir)
            make_ns = lambda: tfds_note_sequences(builder, split)  # noqa: E731
        if limit_records:
            import itertools
            source = make_ns
            make_ns = lambda: itertools.islice(source(), limit_records)  # noqa: E731
        ds = _elements_dataset(make_ns, config, is_training, seed)
        if cache and is_training and not batch_format(config).cache_training_input:
            cache = False  # the converter augments anew every pass: a cache would freeze it
        if cache:
            ds = ds.cache("" if cache is True else os.fspath(cache))
        if is_training:
            ds = ds.shuffle(shuffle_buffer, seed=seed)
        if repeat:
            ds = ds.repeat()
        ds = _pad_and_batch(ds, config, batch_size, drop_remainder)
    if transpose_range:
        ds = ds.map(transpose_fn(config, transpose_range, seed), num_parallel_calls=AUTOTUNE)
    return ds.map(batch_format(config).to_batch_dict, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


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
