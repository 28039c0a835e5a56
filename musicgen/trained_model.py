"""TrainedModel: sample, encode, decode, interpolate and reconstruct with a MusicVAE.

The counterpart of Magenta's `music_vae/trained_model.py` on Keras 3: the model is rebuilt from its
config by `musicgen.checkpoints` (the one place that builds models and reads checkpoints), the
config's converter turns NoteSequences into encoder windows and decoder samples back into
NoteSequences.

Example:

>>> from musicgen.trained_model import TrainedModel          # doctest: +SKIP
>>> tm = TrainedModel.default()                               # bundled groovae_4bar, no network
>>> grooves = tm.sample(n=4, temperature=0.5)                 # list of 4 NoteSequences
>>> z, mu, sigma = tm.encode(grooves[:2])
>>> steps = tm.interpolate(grooves[0], grooves[1], num_steps=5)
>>> again = tm.reconstruct(grooves[0])

Differences from Magenta (deliberate):

* `length` defaults to the config's `max_seq_len` (Magenta requires it when there is no end token).
* `encode(..., first_window=True)` encodes the first converter window of a longer sequence
  instead of raising `MultipleExtractedExamplesError` (the default raises, as Magenta).
* `reconstruct` (not in Magenta's class) decodes the posterior mean `mu` of each input.
* Inputs may be MIDI file paths as well as NoteSequences; errors name the file.
* Drum models read only an input's drum notes (MIDI channel 10): an input with none is refused,
  pitched notes beside drums are ignored with a logged warning (Magenta maps every pitch).
* Randomness comes from the instance's own numpy Generator (`seed=`) for z, and from Keras' global
  seed for the decoder's sampling (set with `keras.utils.set_random_seed` when `seed` is given).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from musicgen import checkpoints

DEFAULT_CONFIG = "groovae_4bar"


class NoExtractedExamplesError(ValueError):
    """The converter extracted no window from an input NoteSequence."""


class MultipleExtractedExamplesError(ValueError):
    """The converter extracted more than one window from an input NoteSequence."""


def slerp(p0: np.ndarray, p1: np.ndarray, t: float) -> np.ndarray:
    """Spherical linear interpolation from p0 (t=0) to p1 (t=1); linear when they are parallel."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    n0, n1 = np.linalg.norm(p0), np.linalg.norm(p1)
    if n0 == 0 or n1 == 0:
        return (1.0 - t) * p0 + t * p1
    omega = np.arccos(np.clip(np.dot(p0 / n0, p1 / n1), -1.0, 1.0))
    so = np.sin(omega)
    if so < 1e-6:
        return (1.0 - t) * p0 + t * p1
    return np.sin((1.0 - t) * omega) / so * p0 + np.sin(t * omega) / so * p1


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    import keras
    return np.asarray(keras.ops.convert_to_numpy(x))


def describe_sequence(ns) -> str:
    """A short summary of a NoteSequence for error messages."""
    drums = sum(1 for n in ns.notes if n.is_drum)
    sigs = sorted({f"{t.numerator}/{t.denominator}" for t in ns.time_signatures})
    qpms = sorted({round(t.qpm, 2) for t in ns.tempos})
    return (f"{len(ns.notes)} notes ({drums} drum), {ns.total_time:.2f} s, "
            f"time signatures {sigs or ['none (4/4 assumed)']}, tempos {qpms or ['none']}")


def load_model(config, checkpoint_path, hparams: Optional[str] = None):
    """(config name, config, model) of a checkpoint: `checkpoints.load_model` (the one loader)."""
    return checkpoints.load_model(checkpoint_path, config, hparams)


class TrainedModel:
    """A MusicVAE rebuilt from its config with trained (or given) weights.

    Args:
      config: a config name from configs.CONFIG_MAP or a Config; optional with `checkpoint_path`
        when the checkpoint's json names its config.
      checkpoint_path: run dir, checkpoint prefix or `.weights.h5` file (see musicgen.checkpoints).
      model: an already built model to wrap instead of loading a checkpoint (needs `config`;
        the model's own `hparams` replace the config's).
      batch_size: the most sequences sent through the model at once.
      hparams: "a=1,b=2" overrides (default: those stored beside the checkpoint).
      seed: seeds z sampling and Keras' decoder sampling; None draws fresh randomness.
    """

    def __init__(self, config=None, checkpoint_path=None, *, model=None, batch_size: int = 8,
                 hparams: Optional[str] = None, seed: Optional[int] = None,
                 config_name: Optional[str] = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed is not None:
            import keras
            keras.utils.set_random_seed(seed)
        if model is not None:
            if config is None:
                raise ValueError("TrainedModel(model=...) needs the model's config")
            name, config = checkpoints.get_config(config, hparams or "")
            name = config_name or name
            if getattr(model, "hparams", None) is not None:  # the model's own (e.g. tiny) hparams
                config = dataclasses.replace(config, hparams=model.hparams)
        elif checkpoint_path is not None:
            name, config, model = load_model(config, checkpoint_path, hparams)
        else:
            raise ValueError("TrainedModel needs checkpoint_path or model "
                             "(TrainedModel.default() loads the bundled model)")
        # A private infer-mode converter: the shared CONFIG_MAP entry is never switched.
        from musicgen import config as config_lib
        self._config = dataclasses.replace(config,
                                           data_converter=config_lib.converter_for(config, "infer"))
        self._model = model
        self._config_name = name
        self._batch_size = batch_size
        self._rng = np.random.default_rng(seed)

    @classmethod
    def default(cls, batch_size: int = 8, seed: Optional[int] = None) -> "TrainedModel":
        """The bundled model (musicgen/pretrained/groovae_4bar.weights.h5 + .json); no network."""
        prefix = checkpoints.pretrained_path(DEFAULT_CONFIG)
        weights = prefix + checkpoints.WEIGHTS_SUFFIX
        if not os.path.exists(weights):
            raise FileNotFoundError(
                f"bundled model {weights} is missing: reinstall musicgen, or pass a checkpoint "
                "(python -m musicgen.generate --checkpoint_file=...)")
        return cls(None, weights, batch_size=batch_size, seed=seed)

    # ---- properties ------------------------------------------------------------------------
    config = property(lambda self: self._config)
    config_name = property(lambda self: self._config_name)
    model = property(lambda self: self._model)
    converter = property(lambda self: self._config.data_converter)
    batch_size = property(lambda self: self._batch_size)

    @property
    def z_size(self) -> int:
        return int(self._config.hparams.z_size)

    @property
    def max_seq_len(self) -> int:
        return int(self._config.hparams.max_seq_len)

    # ---- sampling / decoding -----------------------------------------------------------------
    def sample(self, n: Optional[int] = None, *, length: Optional[int] = None,
               temperature: float = 0.5, same_z: bool = False) -> list:
        """`n` (default: batch_size) NoteSequences decoded from z ~ N(0, I).

        length / temperature / same_z are keyword-only: Magenta's positional `sample(4, 1.0)`
        meant length 1 (one step), which is never what a caller wants."""
        n = self._batch_size if n is None else n
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"sample: n must be a whole number >= 1, got {n!r}")
        check_temperature(temperature)
        if same_z:
            z = np.tile(self._rng.standard_normal((1, self.z_size)), (n, 1))
        else:
            z = self._rng.standard_normal((n, self.z_size))
        return self.decode(z.astype(np.float32), length=length, temperature=temperature)

    def decode_to_tensors(self, z, length: Optional[int] = None,
                          temperature: float = 0.5) -> np.ndarray:
        """Decoder samples (n, length, output_depth) for latent vectors z (n, z_size)."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_size:
            raise ValueError(f"z must have shape (n, {self.z_size}), got {z.shape}")
        if length is not None and (isinstance(length, bool) or not isinstance(
                length, (int, np.integer)) or length < 1):
            raise ValueError(f"length must be a whole number of steps >= 1, got {length!r}")
        check_temperature(temperature)
        length = int(length or self.max_seq_len)
        outputs = []
        for start in range(0, len(z), self._batch_size):
            zb = z[start:start + self._batch_size]
            outputs.append(_to_numpy(self._model.decode(zb, length, temperature=temperature)))
        return np.concatenate(outputs, axis=0)[:len(z)]

    def decode(self, z, length: Optional[int] = None, temperature: float = 0.5) -> list:
        """NoteSequences decoded from latent vectors z (n, z_size)."""
        return self.converter.from_tensors(list(self.decode_to_tensors(z, length, temperature)))

    # ---- encoding ----------------------------------------------------------------------------
    def count_windows(self, ns, index: int = 0) -> int:
        """How many converter windows `ns` gives (NoExtractedExamplesError when none)."""
        return len(self._windows(ns, index))

    def _windows(self, ns, index: int):
        """The converter's windows of `ns` (ConverterTensors); NoExtractedExamplesError when none."""
        conv = self.converter
        ns = self._drum_notes(as_note_sequence(ns, index), index)
        try:
            tensors = conv.to_tensors(ns)
        except ValueError as err:
            raise NoExtractedExamplesError(f"input {_input_name(ns, index)!r}: {err}") from err
        if not len(tensors):
            raise NoExtractedExamplesError(
                f"input {_input_name(ns, index)!r}: {type(conv).__name__} extracted no window of "
                f"{self.max_seq_len} steps ({describe_sequence(ns)}); the config needs at least "
                f"one full window of notes it can quantize (for drum configs: drum notes in 4/4 "
                f"with one tempo)")
        return tensors

    def _drum_notes(self, ns, index: int):
        """For a drum model (converter.drum_notes_only): `ns` with only its drum notes; an input
        with none is NoExtractedExamplesError, and dropped pitched notes are logged."""
        if not getattr(self.converter, "drum_notes_only", False):
            return ns
        pitched = sum(1 for n in ns.notes if not n.is_drum)
        if not pitched:
            return ns
        name = _input_name(ns, index)
        if pitched == len(ns.notes):
            raise NoExtractedExamplesError(
                f"input {name!r}: no drum notes (MIDI channel 10) for this drum model; its "
                f"{pitched} notes are pitched (programs "
                f"{', '.join(str(p) for p in sorted({n.program for n in ns.notes}))}). If they are "
                f"drums recorded on another channel, move them to channel 10")
        from absl import logging
        logging.warning("input %r: using its %d drum notes, ignoring %d pitched notes", name,
                        len(ns.notes) - pitched, pitched)
        out = type(ns)()
        out.CopyFrom(ns)
        del out.notes[:]
        out.notes.extend(n for n in ns.notes if n.is_drum)
        return out

    def extract_window(self, ns, first_window: bool = False, index: int = 0,
                       window: Optional[int] = None):
        """(inputs, length, controls) of the converter window of `ns` that `encode` would use:
        window number `window` when given, else the only one (or the first with first_window).

        Raises NoExtractedExamplesError (no window, a note the converter rejects, or no window
        number `window`) and MultipleExtractedExamplesError (several windows, no `window` and not
        first_window), naming the input.
        """
        ns = as_note_sequence(ns, index)
        tensors = self._windows(ns, index)
        if window is not None and not 0 <= window < len(tensors):
            raise NoExtractedExamplesError(f"input {_input_name(ns, index)!r}: no window {window}; "
                                           f"it has {len(tensors)} (0..{len(tensors) - 1})")
        if window is None and len(tensors) > 1 and not first_window:
            raise MultipleExtractedExamplesError(
                f"input {_input_name(ns, index)!r}: {len(tensors)} windows extracted; pass one "
                f"window (or first_window=True to encode the first)")
        k = window or 0
        return tensors.inputs[k], tensors.lengths[k], tensors.controls[k]

    def reconstruct_windows(self, ns, windows: Optional[Sequence[int]] = None,
                            length: Optional[int] = None, temperature: float = 0.5) -> list:
        """Reconstructions of windows `windows` (default: every window) of one NoteSequence:
        converted once, encoded and decoded as one batch."""
        ns = as_note_sequence(ns)
        tensors = self._windows(ns, 0)
        windows = range(len(tensors)) if windows is None else list(windows)
        for w in windows:
            if not 0 <= w < len(tensors):
                raise NoExtractedExamplesError(f"input {_input_name(ns, 0)!r}: no window {w}; it "
                                               f"has {len(tensors)} (0..{len(tensors) - 1})")
        _, mu, _ = self.encode_tensors([tensors.inputs[w] for w in windows],
                                       [tensors.lengths[w] for w in windows],
                                       [tensors.controls[w] for w in windows])
        return self.decode(mu, length=length, temperature=temperature)

    def encode(self, note_sequences: Sequence, assert_same_length: bool = False,
               first_window: bool = False, window: Optional[int] = None):
        """Encode NoteSequences (one converter window each: number `window` when given) ->
        (z, mu, sigma), each (n, z_size)."""
        if isinstance(note_sequences, (str, os.PathLike)) or hasattr(note_sequences, "notes"):
            raise TypeError("encode takes a list of NoteSequences or MIDI paths, got one; pass "
                            "[x]")
        inputs, lengths, controls = [], [], []
        for i, ns in enumerate(note_sequences):
            x, length, c = self.extract_window(ns, first_window, i, window)
            if assert_same_length and inputs and len(x) != len(inputs[0]):
                raise AssertionError(f"sequences 0 and {i} have different lengths: "
                                     f"{len(inputs[0])} vs {len(x)}")
            inputs.append(x)
            lengths.append(length)
            controls.append(c)
        if not inputs:
            raise ValueError("encode needs at least one NoteSequence")
        return self.encode_tensors(inputs, lengths, controls)

    def encode_tensors(self, inputs: Sequence, lengths: Sequence, controls=None):
        """Encode converter windows (padded to max_seq_len) -> (z, mu, sigma) numpy arrays."""
        conv = self.converter
        n = len(inputs)
        t = max([self.max_seq_len] + [len(x) for x in inputs])
        x_arr = np.zeros((n, t, conv.input_depth), np.float32)
        c_arr = np.zeros((n, t, conv.control_depth), np.float32)
        for i, x in enumerate(inputs):
            x_arr[i, :len(x)] = x
            if controls is not None and conv.control_depth:
                c_arr[i, :len(controls[i])] = controls[i]
        len_arr = np.asarray(lengths, np.int32)
        results = []
        for s in range(0, n, self._batch_size):
            sl = slice(s, s + self._batch_size)
            out = self._model.encode(x_arr[sl], len_arr[sl],
                                     c_arr[sl] if conv.control_depth else None)
            results.append([_to_numpy(v) for v in out])
        return tuple(np.concatenate(parts, axis=0) for parts in zip(*results))

    # ---- interpolate / reconstruct -------------------------------------------------------------
    def interpolate(self, start_sequence, end_sequence, num_steps: int,
                    length: Optional[int] = None, temperature: float = 0.5,
                    assert_same_length: bool = True, first_window: bool = False,
                    window: Optional[int] = None) -> list:
        """`num_steps` NoteSequences decoded along the slerp between the two inputs' mu."""
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        _, mu, _ = self.encode([start_sequence, end_sequence], assert_same_length, first_window,
                               window)
        z = np.array([slerp(mu[0], mu[1], t) for t in np.linspace(0.0, 1.0, num_steps)])
        return self.decode(z, length=length, temperature=temperature)

    def reconstruct(self, note_sequences, length: Optional[int] = None, temperature: float = 0.5,
                    first_window: bool = False, window: Optional[int] = None):
        """Encode and decode (from mu). One NoteSequence in -> one out; a list -> a list."""
        single = not isinstance(note_sequences, (list, tuple))
        seqs = [note_sequences] if single else list(note_sequences)
        _, mu, _ = self.encode(seqs, first_window=first_window, window=window)
        out = self.decode(mu, length=length, temperature=temperature)
        return out[0] if single else out


def check_temperature(temperature) -> None:
    """ValueError for a temperature no sampler can use (negative, NaN, inf or not a number)."""
    import math
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")


def _input_name(ns, index: int) -> str:
    """How errors name an input: its file name, else its id, else its position."""
    return ns.filename or ns.id or (f"note_sequences[{index}] (no filename or id: pass the MIDI "
                                    f"file's path instead, or set .filename)")


def as_note_sequence(x, index: int = 0):
    """A NoteSequence as given, or the MIDI file at path `x` read with its path as filename (so
    errors name the file). MidiConversionError (a ValueError) names a file that cannot be read."""
    if isinstance(x, (str, os.PathLike)):
        from musicgen import midi_io
        path = os.fspath(x)
        if not os.path.isfile(path):
            raise NoExtractedExamplesError(f"input {path!r} (note_sequences[{index}]): file not found")
        ns = midi_io.midi_file_to_note_sequence(path)
        ns.filename = path
        return ns
    return x
