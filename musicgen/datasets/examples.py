"""tf.train.Example encoding of converter tensors, and the tf parse side used by the input pipeline.

One Example per converter window, features:

* ``inputs``, ``outputs``, ``controls``: float32 lists, the (T, depth) array flattened row-major;
* ``lengths``: int64 (one value, or ``length_shape`` values for hierarchical converters);
* ``inputs_shape``, ``outputs_shape``, ``controls_shape`` (int64 [T, depth]) and ``lengths_shape``:
  written for tools (:func:`decode_example`), not needed by the tf parsers, which take the depths
  from spec.json (written by ``pipelines.make_examples``).

The parse side returns the batch-format dict of the brief: ``inputs`` (T, in_depth), ``outputs``
(T, out_depth), ``controls`` (T, control_depth) float32 — zero-padded (or cut) to ``max_seq_len``
when given — and ``lengths`` int32 (scalar or ``length_shape``). :func:`parse_example` parses one
record (map before ``batch``), :func:`parse_batch` a batch at once (map after ``batch``; faster).

Example:

>>> parse = make_parse_fn(load_spec("/tmp/examples"), batched=True)        # doctest: +SKIP
>>> ds = tf.data.TFRecordDataset(files).batch(64).map(parse)               # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np
import tensorflow as tf

TENSOR_KEYS = ("inputs", "outputs", "controls")
SPEC_FILENAME = "spec.json"


def _float_feature(array: np.ndarray) -> tf.train.Feature:
    feature = tf.train.Feature()
    feature.float_list.value.extend(np.asarray(array, dtype=np.float32).ravel().tolist())
    return feature


def _int_feature(values) -> tf.train.Feature:
    feature = tf.train.Feature()
    feature.int64_list.value.extend(int(v) for v in np.asarray(values).ravel())
    return feature


def encode_example(inputs, outputs, controls, length) -> bytes:
    """Serialize one window (arrays of shape (T, depth), any dtype) as a tf.train.Example."""
    example = tf.train.Example()
    feature = example.features.feature
    for key, array in zip(TENSOR_KEYS, (inputs, outputs, controls)):
        array = np.asarray(array)
        if array.ndim != 2:
            raise ValueError(f"{key} must have shape (T, depth), got {array.shape}")
        feature[key].CopyFrom(_float_feature(array))
        feature[f"{key}_shape"].CopyFrom(_int_feature(array.shape))
    length = np.asarray(length)
    feature["lengths"].CopyFrom(_int_feature(length))
    feature["lengths_shape"].CopyFrom(_int_feature(length.shape))
    return example.SerializeToString(deterministic=True)  # map order: byte-identical across processes


def tensors_to_examples(tensors) -> list:
    """Serialized Examples of every window of a ConverterTensors."""
    return [encode_example(*window) for window in zip(tensors.inputs, tensors.outputs,
                                                      tensors.controls, tensors.lengths)]


def decode_example(serialized: bytes) -> dict:
    """numpy view of one Example (for tests and tools): arrays with their stored shapes."""
    feature = tf.train.Example.FromString(serialized).features.feature
    out = {}
    for key in TENSOR_KEYS:
        shape = tuple(feature[f"{key}_shape"].int64_list.value)
        out[key] = np.array(feature[key].float_list.value, dtype=np.float32).reshape(shape)
    shape = tuple(feature["lengths_shape"].int64_list.value)
    out["lengths"] = np.array(feature["lengths"].int64_list.value, dtype=np.int32).reshape(shape)
    return out


# ---- spec -----------------------------------------------------------------------------------------

def converter_spec(converter, max_seq_len: Optional[int] = None) -> dict:
    """Depths, dtypes and length shape of a converter's tensors (the static part of spec.json)."""
    def dtype_name(dtype):
        return np.dtype(dtype).name

    return {"converter": type(converter).__name__,
            "input_depth": int(converter.input_depth), "output_depth": int(converter.output_depth),
            "control_depth": int(converter.control_depth),
            "input_dtype": dtype_name(converter.input_dtype),
            "output_dtype": dtype_name(converter.output_dtype),
            "control_dtype": dtype_name(converter.control_dtype),
            "stored_dtype": "float32", "length_shape": list(converter.length_shape),
            "end_token": converter.end_token, "max_seq_len": max_seq_len}


def load_spec(path: str) -> dict:
    """spec.json from an examples directory (or the file itself)."""
    if os.path.isdir(path):
        path = os.path.join(path, SPEC_FILENAME)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---- tf parse side -------------------------------------------------------------------------------

def _features(length_shape=()) -> dict:
    """Parse spec: only the features every writer sets (the *_shape ones are optional)."""
    spec = {k: tf.io.RaggedFeature(tf.float32) for k in TENSOR_KEYS}
    spec["lengths"] = tf.io.FixedLenFeature(list(length_shape), tf.int64)
    return spec


def parse_example(serialized, input_depth: int, output_depth: int, control_depth: int = 0,
                  max_seq_len: Optional[int] = None, length_shape=()) -> dict:
    """tf: ONE serialized Example -> {"inputs", "outputs", "controls", "lengths"} (see module doc).

    Without ``max_seq_len`` the time axis keeps the stored length T.
    """
    parsed = tf.io.parse_single_example(serialized, _features(length_shape))
    steps = tf.size(parsed["outputs"]) // output_depth
    out = {}
    for key, depth in zip(TENSOR_KEYS, (input_depth, output_depth, control_depth)):
        x = tf.reshape(parsed[key], [steps, depth])
        if max_seq_len:
            x = tf.pad(x[:max_seq_len], [[0, tf.maximum(max_seq_len - steps, 0)], [0, 0]])
            x = tf.ensure_shape(x, [max_seq_len, depth])
        out[key] = x
    lengths = tf.cast(parsed["lengths"], tf.int32)
    out["lengths"] = tf.minimum(lengths, max_seq_len) if max_seq_len else lengths
    return out


def parse_batch(serialized, input_depth: int, output_depth: int, control_depth: int,
                max_seq_len: int, length_shape=()) -> dict:
    """tf: a (B,) batch of serialized Examples -> the padded batch dict (one vectorised parse).

    Flat row-major (T, depth) values are padded to ``max_seq_len * depth``, which pads whole steps.
    """
    parsed = tf.io.parse_example(serialized, _features(length_shape))
    batch = tf.shape(serialized)[0]  # explicit: -1 cannot be inferred when a depth is 0
    out = {}
    for key, depth in zip(TENSOR_KEYS, (input_depth, output_depth, control_depth)):
        flat = parsed[key].to_tensor(shape=[None, max_seq_len * depth])
        out[key] = tf.reshape(flat, [batch, max_seq_len, depth])
    out["lengths"] = tf.minimum(tf.cast(parsed["lengths"], tf.int32), max_seq_len)
    return out


def _spec_args(spec: dict, max_seq_len: Optional[int]):
    return ((spec["input_depth"], spec["output_depth"], spec["control_depth"]),
            max_seq_len or spec.get("max_seq_len"), tuple(spec.get("length_shape", ())))


def make_parse_fn(spec: dict, max_seq_len: Optional[int] = None, batched: bool = False):
    """A ``dataset.map`` function for Examples described by ``spec`` (a spec.json dict).

    ``batched=True``: map it after ``.batch()`` (vectorised :func:`parse_batch`, needs a max length).
    """
    depths, max_len, length_shape = _spec_args(spec, max_seq_len)
    if batched:
        if not max_len:
            raise ValueError("batched parsing needs max_seq_len (in spec.json or as argument)")
        return lambda serialized: parse_batch(serialized, *depths, max_len, length_shape)
    return lambda serialized: parse_example(serialized, *depths, max_seq_len=max_len,
                                            length_shape=length_shape)
