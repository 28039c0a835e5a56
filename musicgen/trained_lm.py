"""TrainedLM: sample and continue performances with a trained token language model.

The token-LM counterpart of `TrainedModel`: the config's converter (a private infer-mode copy)
turns a primer NoteSequence into ids ([BOS] + events) and sampled ids back into NoteSequences;
the one `Sampler` (musicgen/models/lm/sampler.py) decodes with the model's cache.

>>> from musicgen import checkpoints                                        # doctest: +SKIP
>>> name, config, model = checkpoints.load_for_inference("musicgen/pretrained/performance_rnn_small")
>>> lm = TrainedLM(name, config, model, seed=1)
>>> pieces = lm.sample(2, max_events=512)                # two NoteSequences
>>> longer = lm.continue_sequence(pieces[0], 1, max_events=256)
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from musicgen.converters.token_utils import BOS_ID


class TrainedLM:
    """A token LM with its converter and a sampler (see module doc).

    Args:
      config_name / config / model: a loaded model (`checkpoints.load_for_inference`).
      seed: default seed of every call (None: fresh randomness each call).
      batch_size: the most sequences decoded at once.
    """

    def __init__(self, config_name, config, model, seed: Optional[int] = None,
                 batch_size: int = 8):
        from musicgen import config as config_lib
        self.config_name, self.config, self.model = config_name, config, model
        self.converter = config_lib.converter_for(config, "infer")
        self.seed, self.batch_size = seed, max(1, int(batch_size))
        self.decode_reports: list = []

    # ---- ids ----------------------------------------------------------------------------------
    def encode_primer(self, note_sequence, max_events: int = 0) -> np.ndarray:
        """[BOS] + the events of `note_sequence` (sustain applied, never augmented); with
        max_events > 0 only its last max_events events."""
        tokens = self.converter.lm_encode_primer(note_sequence)
        if max_events and len(tokens) - 1 > max_events:
            tokens = np.concatenate([[BOS_ID], tokens[-max_events:]]).astype(np.int32)
        return tokens

    def decode(self, tokens) -> "object":
        """NoteSequence of one id row (stops at EOS). A stream that is not well formed (REMI: a
        Position before any Bar, a Duration with no note ...) decodes leniently; the repairs are
        counted in `self.decode_reports` (one {reason: count} per decoded row) and logged."""
        report = {}
        ns = self.converter.lm_decode(tokens, report)
        self.decode_reports.append(report)
        if report:
            from absl import logging
            logging.warning("%s: output %d decoded leniently: %s", self.config_name,
                            len(self.decode_reports),
                            ", ".join(f"{n} x {reason}" for reason, n in sorted(report.items())))
        return ns

    def events_of(self, tokens) -> list:
        """Event ids of a token row: BOS / PAD dropped, cut at EOS (the converter's lm_events)."""
        return self.converter.lm_events(tokens)

    # ---- decoding -----------------------------------------------------------------------------
    def generate_tokens(self, prompt: np.ndarray, n: int, max_events: int, temperature=None,
                        top_k=None, top_p=1.0, seed: Optional[int] = None) -> list:
        """n token rows continuing `prompt` (1-D ids), each cut after its EOS. temperature /
        top_k None: the config's sampling defaults (hparams sample_temperature / sample_top_k)."""
        from musicgen.models.lm.sampler import Sampler
        hparams = self.config.hparams
        temperature = hparams.sample_temperature if temperature is None else temperature
        top_k = hparams.sample_top_k if top_k is None else top_k
        seed = self.seed if seed is None else seed
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2 ** 31 - 1))
        sampler = Sampler(temperature=temperature, top_k=top_k, top_p=top_p)
        rows = []
        for start in range(0, n, self.batch_size):
            b = min(self.batch_size, n - start)
            out = sampler.generate(self.model, np.tile(prompt[None, :], (b, 1)), max_events,
                                   seed=seed + start)
            rows.extend(row[:length] for row, length in zip(out["tokens"], out["lengths"]))
        return rows

    def sample(self, n: int, max_events: int = 1024, temperature: Optional[float] = None,
               top_k: Optional[int] = None,
               top_p: float = 1.0, seed: Optional[int] = None) -> list:
        """n NoteSequences sampled from BOS, each up to max_events events (or its EOS)."""
        prompt = np.asarray([BOS_ID], np.int32)
        return [self.decode(t) for t in self.generate_tokens(prompt, n, max_events, temperature,
                                                              top_k, top_p, seed)]

    def continue_sequence(self, primer, n: int, max_events: int = 1024,
                          temperature: Optional[float] = None, top_k: Optional[int] = None,
                          top_p: float = 1.0, seed: Optional[int] = None,
                          primer_max_events: int = 0) -> list:
        """n NoteSequences: the primer's events exactly, then up to max_events new ones."""
        prompt = self.encode_primer(primer, primer_max_events)
        return [self.decode(t) for t in self.generate_tokens(prompt, n, max_events, temperature,
                                                              top_k, top_p, seed)]
