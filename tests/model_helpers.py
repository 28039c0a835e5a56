"""Shared helpers for the model / config tests: tiny hparams, random batches in the brief's format."""
import dataclasses
import functools

import numpy as np

import configs
from musicgen.models.lstm_decoders import HierarchicalLstmDecoder

TINY = "enc_rnn_size=[8],dec_rnn_size=[8],z_size=4,batch_size=2"


def is_hierarchical(config) -> bool:
    return getattr(config.model.decoder_fn, "func", None) is HierarchicalLstmDecoder


def tiny_config(name: str, extra: str = "", short: bool = True):
    """The named config with tiny layers. With `short` (speed: eager LSTMs step in Python),
    flat configs get max_seq_len=8 and hierarchies over more than 64 steps keep their
    16-step segments but only 2 conductor steps (level_lengths [2, 16], max_seq_len 32)."""
    config = configs.CONFIG_MAP[name]
    overrides = TINY
    if short and not is_hierarchical(config):
        overrides += ",max_seq_len=8"
    elif short and config.hparams.max_seq_len > 64:
        decoder_fn = config.model.decoder_fn
        levels = decoder_fn.keywords["level_lengths"]
        model = dataclasses.replace(config.model, decoder_fn=functools.partial(
            decoder_fn, level_lengths=[2, levels[-1]]))
        config = dataclasses.replace(config, model=model)
        overrides += f",max_seq_len={2 * levels[-1]}"
    return configs.update_config(config, overrides + ("," + extra if extra else ""))


def random_batch(config, batch_size=2, seed=0, lengths=None) -> dict:
    """Random batch dict: one-hot outputs (groove: hits/velocities/offsets), inputs likewise."""
    conv = config.data_converter
    rng = np.random.default_rng(seed)
    t = config.hparams.max_seq_len

    def values(depth):
        if type(conv).__name__ == "GrooveConverter":
            n = depth // 3
            hits = (rng.random((batch_size, t, n)) < 0.3).astype("float32")
            vel = rng.random((batch_size, t, n)).astype("float32") * hits
            off = (rng.random((batch_size, t, n)).astype("float32") - 0.5) * hits
            return np.concatenate([hits, vel, off], axis=-1)
        return np.eye(depth, dtype="float32")[rng.integers(0, depth, (batch_size, t))]

    outputs = values(conv.output_depth)
    inputs = outputs if conv.input_depth == conv.output_depth else values(conv.input_depth)
    if lengths is None:
        lengths = np.full((batch_size,), t, "int32")
    return {"inputs": inputs, "outputs": outputs,
            "controls": np.zeros((batch_size, t, conv.control_depth), "float32"),
            "lengths": np.asarray(lengths, "int32")}
