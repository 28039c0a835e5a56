"""NoteSequence -> a config's examples: THE one place where augmentation and conversion happen.

Live training input (`musicgen.datasets.input`) and the example job (`pipelines.make_examples`)
both go through `Conversion`, so a train-mode example is made the same way in either:

1. train mode only: the config's `note_sequence_augmenter` (e.g. melody transposition);
2. a private converter copy in the mode (`musicgen.config.converter_for`), whose train mode adds the
   converter's own augmentation and window sampling (performance: time stretch 0.95..1.05,
   transposition +-3), seeded by `seed` / `reseed`;
3. the family's batch format turns the converter output into element tuples.

>>> conv = Conversion(config, "train", seed=0)           # doctest: +SKIP
>>> elements = conv(note_sequence)                       # list of element tuples
"""
from __future__ import annotations

import random
from typing import Iterable, Iterator, Optional

from musicgen import config as config_lib


class Conversion:
    """Augment + convert NoteSequences for one config and mode (see module doc)."""

    def __init__(self, config, mode: str, seed: Optional[int] = None):
        self.config, self.mode = config, mode
        self.format = config.family.batch_format(config)
        self.converter = config_lib.converter_for(config, mode, seed)
        self.augmenter = (getattr(config, "note_sequence_augmenter", None)
                          if mode == "train" else None)

    def reseed(self, seed: int) -> None:
        """Seed the converter's generator and Python's `random` (the augmenter's draws)."""
        self.converter.seed(seed)
        if self.augmenter is not None:
            random.seed(seed)

    def __call__(self, note_sequence) -> list:
        if self.augmenter is not None:
            note_sequence = self.augmenter.augment(note_sequence)
        return self.format.elements(self.converter, note_sequence)

    def over(self, note_sequences: Iterable) -> Iterator[tuple]:
        for ns in note_sequences:
            yield from self(ns)
