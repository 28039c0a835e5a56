"""The MusicVAE family's batch format: dense float windows.

Batch dict: {"inputs": (B, T, input_depth) float32, "outputs": (B, T, output_depth) float32,
"controls": (B, T, control_depth) float32, "lengths": (B,) + length_shape int32}, zero-padded to
the config's `hparams.max_seq_len`. Examples: `musicgen.datasets.examples` (float lists + lengths).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from musicgen.datasets import examples as examples_lib
from musicgen.families.base import BatchFormat

KEYS = ("inputs", "outputs", "controls", "lengths")


def max_seq_len(config) -> int:
    value = getattr(config.hparams, "max_seq_len", None)
    if not value:
        raise ValueError("config.hparams.max_seq_len must be set to build the input pipeline")
    return int(value)


def tensors_to_elements(tensors, converter, max_len: int) -> Iterator[tuple]:
    """(inputs, outputs, controls, lengths) numpy tuples (float32 / int32) of converted windows.

    Raises ValueError when a window is longer than max_len.
    """
    dc, length_shape = converter.control_depth, tuple(converter.length_shape)
    for x, y, c, n in zip(tensors.inputs, tensors.outputs, tensors.controls, tensors.lengths):
        x = np.asarray(x, np.float32)
        if len(x) > max_len:
            raise ValueError(f"converter {type(converter).__name__} produced a window "
                             f"of {len(x)} steps > hparams.max_seq_len={max_len}")
        c = np.asarray(c, np.float32).reshape(len(x), dc)
        yield x, np.asarray(y, np.float32), c, np.asarray(n, np.int32).reshape(length_shape)


def _dense_steps(ragged, max_len: int, depth: int, batch):
    """(B, max_len, depth) float32 from ragged flat rows of (T_i * depth) values, zero-padded.

    When every row is full length (fixed-size windows, the common case) the values are reshaped
    directly: ~5x faster than RaggedTensor.to_tensor, which pads row by row.
    """
    import tensorflow as tf
    width = max_len * depth
    if depth == 0:  # a zero-depth reshape cannot infer the batch size: build it explicitly
        return tf.zeros([batch, max_len, 0], tf.float32)
    full = tf.reduce_all(ragged.row_lengths() == width)
    flat = tf.cond(full, lambda: tf.reshape(ragged.flat_values, [batch, width]),
                   lambda: ragged.to_tensor(shape=[None, width]))
    return tf.reshape(flat, [batch, max_len, depth])


class DenseBatchFormat(BatchFormat):
    """MusicVAE windows: one-hot / multi-hot / groove float steps (see module doc)."""

    keys = KEYS
    cache_training_input = True  # as Magenta: the augmenter runs once per NoteSequence, cached
    name = "dense"

    def __init__(self, config):
        conv = config.data_converter
        self.converter = conv
        self.max_len = max_seq_len(config)
        self.depths = (conv.input_depth, conv.output_depth, conv.control_depth)
        self.length_shape = tuple(conv.length_shape)

    def element_spec(self) -> tuple:
        import tensorflow as tf
        di, do, dc = self.depths
        return (tf.TensorSpec((None, di), tf.float32), tf.TensorSpec((None, do), tf.float32),
                tf.TensorSpec((None, dc), tf.float32), tf.TensorSpec(self.length_shape, tf.int32))

    def elements(self, converter, note_sequence) -> list:
        return list(tensors_to_elements(converter.to_tensors(note_sequence), converter,
                                        self.max_len))

    def padded_shapes(self) -> tuple:
        di, do, dc = self.depths
        t = self.max_len
        return ([t, di], [t, do], [t, dc], list(self.length_shape))

    def to_batch_dict(self, inputs, outputs, controls, lengths) -> dict:
        return {"inputs": inputs, "outputs": outputs, "controls": controls, "lengths": lengths}

    def encode_example(self, element: tuple) -> bytes:
        return examples_lib.encode_example(*element)

    def parse_batch_fn(self):
        import tensorflow as tf
        di, do, dc = self.depths
        max_len = self.max_len
        features = examples_lib._features(self.length_shape)  # noqa: SLF001 — the shared spec

        def parse(serialized):
            f = tf.io.parse_example(serialized, features)
            b = tf.shape(serialized)[0]
            return (_dense_steps(f["inputs"], max_len, di, b),
                    _dense_steps(f["outputs"], max_len, do, b),
                    _dense_steps(f["controls"], max_len, dc, b),
                    tf.minimum(tf.cast(f["lengths"], tf.int32), max_len))
        return parse

    def spec(self) -> dict:
        return dict(examples_lib.converter_spec(self.converter, self.max_len), format=self.name)

    def check_spec(self, spec: dict, where: str) -> None:
        if spec.get("format", self.name) != self.name:
            raise ValueError(f"{where}: shards of format {spec.get('format')!r}, this config "
                             f"reads {self.name!r} (made for another model family)")
        di, do, dc = self.depths
        want = {"input_depth": di, "output_depth": do, "control_depth": dc,
                "length_shape": list(self.length_shape)}
        bad = {k: (spec.get(k), v) for k, v in want.items() if k in spec and spec[k] != v}
        if bad:
            raise ValueError(f"{where} was made for another converter (stored vs config): {bad}")

    def dummy_batch(self, batch_size: int = 1) -> dict:
        di, do, dc = self.depths
        t = self.max_len
        return {"inputs": np.zeros((batch_size, t, di), np.float32),
                "outputs": np.zeros((batch_size, t, do), np.float32),
                "controls": np.zeros((batch_size, t, dc), np.float32),
                "lengths": np.full((batch_size,) + self.length_shape, 1, np.int32)}

    def element_length(self, element: tuple) -> int:
        return len(element[1])
