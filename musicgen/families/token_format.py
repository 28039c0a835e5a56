"""The token-LM family's batch format: integer id windows with reserved PAD / EOS / BOS.

Element: (tokens (T,) int32 [BOS, e_1+3, ..., e_n+3 (, EOS)], length () int32), from the converter's
`lm_windows` (musicgen/converters/token_utils.py: PAD 0, EOS 1, BOS 2, event e -> e + 3).
Batch dict: {"tokens": (B, T) int32 padded with PAD, "lengths": (B,) int32, "mask": (B, T) bool
(position < length)}. Example: {"tokens": int64 list, "length": int64}. spec.json carries the
vocabulary (`lm_vocabulary`), checked against the config's converter when shards are read.
"""
from __future__ import annotations

import numpy as np

from musicgen.families.base import BatchFormat

KEYS = ("tokens", "lengths", "mask")


class TokenBatchFormat(BatchFormat):
    """Token windows of a TokenLMConverter (see module doc)."""

    keys = KEYS
    # The converter draws a new time stretch / transposition / window choice per pass in train
    # mode: caching would freeze one augmentation for the whole run.
    cache_training_input = False
    name = "tokens"

    def __init__(self, config):
        self.converter = config.data_converter
        self.max_len = int(config.hparams.max_seq_len)

    def element_spec(self) -> tuple:
        import tensorflow as tf
        return (tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32))

    def elements(self, converter, note_sequence) -> list:
        out = []
        for tokens in converter.lm_windows(note_sequence):
            if len(tokens) > self.max_len:
                raise ValueError(f"converter {type(converter).__name__} produced a window of "
                                 f"{len(tokens)} tokens > hparams.max_seq_len={self.max_len}")
            out.append((np.asarray(tokens, np.int32), np.int32(len(tokens))))
        return out

    def padded_shapes(self) -> tuple:
        return ([self.max_len], [])

    def to_batch_dict(self, tokens, lengths) -> dict:
        import tensorflow as tf
        mask = tf.range(tf.shape(tokens)[1])[None, :] < lengths[:, None]
        return {"tokens": tokens, "lengths": lengths, "mask": mask}

    def encode_example(self, element: tuple) -> bytes:
        import tensorflow as tf
        tokens, length = element
        example = tf.train.Example()
        feature = example.features.feature
        feature["tokens"].int64_list.value.extend(int(t) for t in np.asarray(tokens).ravel())
        feature["length"].int64_list.value.append(int(length))
        return example.SerializeToString(deterministic=True)  # map order: byte-identical across processes

    def parse_batch_fn(self):
        import tensorflow as tf
        max_len = self.max_len
        features = {"tokens": tf.io.RaggedFeature(tf.int64),
                    "length": tf.io.FixedLenFeature([], tf.int64)}

        def parse(serialized):
            f = tf.io.parse_example(serialized, features)
            tokens = f["tokens"].to_tensor(default_value=0, shape=[None, max_len])
            return (tf.cast(tokens, tf.int32),
                    tf.minimum(tf.cast(f["length"], tf.int32), max_len))
        return parse

    def spec(self) -> dict:
        return {"format": self.name, "converter": type(self.converter).__name__,
                "vocabulary": self.converter.lm_vocabulary(), "max_seq_len": self.max_len,
                "stored_dtype": "int64"}

    def check_spec(self, spec: dict, where: str) -> None:
        if spec.get("format") != self.name:
            raise ValueError(f"{where}: shards of format {spec.get('format', 'dense')!r}, this "
                             f"config reads {self.name!r} token windows (made for another model "
                             f"family; rerun pipelines.make_examples with this --config)")
        self.converter.check_lm_vocabulary(spec.get("vocabulary") or {}, where)

    def dummy_batch(self, batch_size: int = 1) -> dict:
        tokens = np.zeros((batch_size, self.max_len), np.int32)
        tokens[:, 0] = 2
        lengths = np.full((batch_size,), 1, np.int32)
        return {"tokens": tokens, "lengths": lengths,
                "mask": np.arange(self.max_len)[None, :] < lengths[:, None]}

    def element_length(self, element: tuple) -> int:
        return int(element[1])
