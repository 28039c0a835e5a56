"""The interface a model family implements, so train / generate / evaluate / make_examples need no
family-specific code.

A family (`Family`) owns five things:

1. **building**: `build_model(config, seed)` -> a Keras model with every variable created, and
   `make_optimizer(model, config)`;
2. **its batch format** (`batch_format(config)` -> `BatchFormat`): the tf.data element spec of one
   example, how a NoteSequence becomes examples (through a per-mode converter copy), tf.train.Example
   encoding and vectorised parsing, padding, the batch dict the model takes, the static part of
   spec.json and its check, and a dummy batch;
3. **evaluation** (`evaluate(model, config, batches, options)`): the one evaluator, used by
   `python -m musicgen.evaluate` and `python -m musicgen.train --mode=eval`; `floors(...)` adds
   what the numbers are compared against, `format_table(results)` prints them;
4. **its inference wrapper** (`inference(config_name, config, model, seed, batch_size)`);
5. **its generate modes** (`modes`: name -> `GenerateMode`), and any extra generate flags
   (`define_generate_flags`).

A config names its family (`Config.family`), so adding a family is a module implementing this
interface plus CONFIG_MAP lines.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Callable, Iterable, Optional, Sequence


class BatchFormat(abc.ABC):
    """How a family's examples look from the converter to the model (one config's shapes)."""

    #: keys of the batch dict given to the model
    keys: Sequence[str] = ()
    #: converted training input may be cached between epochs (False when the converter draws new
    #: windows / augmentations every pass)
    cache_training_input: bool = True
    #: name written into spec.json ("format") and checked when shards are read
    name: str = ""

    @abc.abstractmethod
    def element_spec(self) -> tuple:
        """tf.TensorSpecs of one unbatched element tuple."""

    @abc.abstractmethod
    def elements(self, converter, note_sequence) -> list:
        """Element tuples (numpy) of one NoteSequence, from a converter copy in the wanted mode."""

    @abc.abstractmethod
    def padded_shapes(self) -> tuple:
        """padded_batch shapes of an element tuple (the time axis padded to max_seq_len)."""

    @abc.abstractmethod
    def to_batch_dict(self, *batched_elements) -> dict:
        """The model's batch dict from a batched element tuple (tf)."""

    @abc.abstractmethod
    def encode_example(self, element: tuple) -> bytes:
        """One element as a serialized tf.train.Example."""

    @abc.abstractmethod
    def parse_batch_fn(self) -> Callable:
        """tf: a (B,) batch of serialized Examples -> a padded batched element tuple."""

    @abc.abstractmethod
    def spec(self) -> dict:
        """The static part of spec.json (format, converter, shapes / vocabulary, max length)."""

    @abc.abstractmethod
    def check_spec(self, spec: dict, where: str) -> None:
        """ValueError naming `where` when stored shards were made for another format / converter."""

    @abc.abstractmethod
    def dummy_batch(self, batch_size: int = 1) -> dict:
        """A numpy batch dict of zeros (creates variables, trains a smoke step)."""

    @abc.abstractmethod
    def element_length(self, element: tuple) -> int:
        """Steps / tokens of one element (for make_examples' statistics)."""


@dataclasses.dataclass(frozen=True)
class GenerateMode:
    """One `python -m musicgen.generate --mode=<name>`.

    inputs: the MIDI flags this mode reads (parsed and checked by generate before the model loads);
    run(wrapper, flags, inputs) -> list of NoteSequences;
    num_outputs(flags) -> how many files it will write (for the output names);
    check(wrapper, flags, inputs): optional, raises ValueError naming the flag of a bad input.
    """

    name: str
    inputs: Sequence[str]
    run: Callable
    num_outputs: Callable = lambda fv: fv.num_outputs
    help: str = ""
    #: check(wrapper, flags, inputs): ValueError naming the flag when an input cannot be used
    check: Optional[Callable] = None


class Family(abc.ABC):
    """A model family: see the module doc."""

    name: str = ""
    #: name -> GenerateMode
    modes: dict = {}

    @abc.abstractmethod
    def batch_format(self, config) -> BatchFormat:
        ...

    @abc.abstractmethod
    def build_model(self, config, seed=None):
        """The model of `config` with every variable created (not compiled)."""

    @abc.abstractmethod
    def make_optimizer(self, model, config):
        ...

    @abc.abstractmethod
    def evaluate(self, model, config, batches: Iterable[dict], options: dict) -> dict:
        """Metrics of `model` over numpy batch dicts (the one evaluator)."""

    def floors(self, config, make_batches: Callable, options: dict, context: dict) -> dict:
        """Reference rows evaluated in the same run (name -> metrics); default none."""
        return {}

    @abc.abstractmethod
    def format_table(self, results: dict) -> str:
        """Markdown table of name -> metrics."""

    def scalar_metrics(self, results: dict) -> dict:
        """Flat name -> float of the trained model's metrics (TensorBoard of train --mode=eval)."""
        out = {}

        def walk(prefix, value):
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}{k}/", v)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[prefix[:-1]] = float(value)
        walk("", results.get("trained", {}))
        return out

    @abc.abstractmethod
    def inference(self, config_name: str, config, model, seed: Optional[int] = None,
                  batch_size: int = 8):
        """The family's inference wrapper around a loaded model."""

    def export_metadata(self, config) -> dict:
        """Extra json written beside exported / checkpointed weights (e.g. a vocabulary)."""
        return {}

    def check_export_metadata(self, config, meta: dict, where: str) -> None:
        """ValueError naming `where` when stored metadata does not fit the config."""

    def define_generate_flags(self, fv) -> None:
        """Extra `musicgen.generate` flags of this family (each defined once across families)."""

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"
