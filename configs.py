"""MusicVAE / GrooVAE configurations: CONFIG_MAP name -> Config (Magenta's music_vae/configs.py).

Hyperparameters are Magenta's (lstm_models.get_default_hparams merged with each config's own).
`hierdec-mel_4bar` and `musicvae_4bar_drums` are not in Magenta's configs.py: they are 4-bar
variants of hierdec-mel_16bar and cat-drums_2bar_small (documented at their definitions).

    >>> import configs
    >>> cfg = configs.update_config(configs.CONFIG_MAP["groovae_4bar"], "batch_size=64,z_size=32")
    >>> model = configs.build_model(cfg)          # doctest: +SKIP

Only the CLIs (train / generate / evaluate, pipelines) read CONFIG_MAP; musicgen/ never imports
this module. Converter modules are imported when this module loads; one that cannot be imported
yields a `MissingConverter` placeholder that names the module and the error on first use.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
from typing import Any, Callable, List, Optional

from musicgen.models.lstm_decoders import (CategoricalLstmDecoder, GrooveLstmDecoder,
                                           HierarchicalLstmDecoder, MultiOutCategoricalLstmDecoder,
                                           SplitMultiOutLstmDecoder)
from musicgen.models.lstm_encoders import BidirectionalLstmEncoder
from musicgen.models.music_vae import MusicVAE, MusicVAEBuilder


@dataclasses.dataclass(frozen=True)
class HParams:
    """Magenta's MusicVAE hyperparameters (base_model + lstm_models defaults)."""

    max_seq_len: int = 32              # longer sequences are truncated
    z_size: int = 32                   # latent size
    free_bits: float = 0.0             # KL bits not penalised
    max_beta: float = 1.0              # maximum KL weight
    beta_rate: float = 0.0             # beta = (1 - beta_rate**step) * max_beta
    batch_size: int = 512
    grad_clip: float = 1.0
    clip_mode: str = "global_norm"     # or "value"
    grad_norm_clip_to_zero: float = 10000.0  # global norm above this: the step is skipped
    learning_rate: float = 0.001
    decay_rate: float = 0.9999         # lr = (lr0 - min_lr) * decay_rate**step + min_lr
    min_learning_rate: float = 0.00001
    conditional: bool = True
    dec_rnn_size: List[int] = dataclasses.field(default_factory=lambda: [512])
    enc_rnn_size: List[int] = dataclasses.field(default_factory=lambda: [256])
    dropout_keep_prob: float = 1.0
    sampling_schedule: str = "constant"  # constant, exponential, inverse_sigmoid
    sampling_rate: float = 0.0
    use_cudnn: bool = False            # deprecated in Magenta, ignored
    residual_encoder: bool = False     # not supported (no config uses it)
    residual_decoder: bool = False
    control_preprocessing_rnn_size: List[int] = dataclasses.field(default_factory=lambda: [256])

    def values(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Config:
    """One trainable configuration: model builder, converter, hyperparameters, default data."""

    model: Callable[..., MusicVAE]
    data_converter: Any
    hparams: HParams
    note_sequence_augmenter: Any = None
    train_examples_path: Optional[str] = None
    eval_examples_path: Optional[str] = None
    tfds_name: Optional[str] = None
    default_dataset: Optional[str] = None

    def values(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


class MissingConverter:
    """Stands in for a converter whose module could not be imported; fails on first use."""

    def __init__(self, module: str, cls: str, error: Exception):
        self._what = f"{module}.{cls}"
        self._error = error

    def __getattr__(self, name):
        raise RuntimeError(f"converter {self._what} is unavailable: {self._error!r}")

    def __repr__(self):
        return f"MissingConverter({self._what})"


def _converter(module: str, cls: str, **kwargs):
    """Instantiate musicgen.converters.<module>.<cls>(**kwargs), or a MissingConverter."""
    try:
        mod = importlib.import_module(f"musicgen.converters.{module}")
    except ImportError as e:
        return MissingConverter(module, cls, e)
    return getattr(mod, cls)(**kwargs)


def _constant(module: str, name: str, default=None):
    try:
        return getattr(importlib.import_module(f"musicgen.converters.{module}"), name)
    except (ImportError, AttributeError):
        return default


def _augmenter(transpose_range):
    """A NoteSequenceAugmenter if the melody converter module provides one (else None)."""
    cls = _constant("melody", "NoteSequenceAugmenter")
    return cls(transpose_range=transpose_range) if cls else None


# ---- hparams parsing --------------------------------------------------------------------------
def _split_assignments(text: str) -> list:
    """'a=1,b=[1,2],c=x' -> ['a=1', 'b=[1,2]', 'c=x'] (commas inside brackets kept)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _coerce(name: str, raw: str, default):
    """Parse `raw` to the type of the field's default value."""
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(default, list):
            value = ast.literal_eval(raw if raw.startswith("[") else f"[{raw}]")
            return [int(v) for v in value]
        if isinstance(default, (int, float)):
            value = float(raw)
            return int(value) if isinstance(default, int) and value.is_integer() else value
        return raw
    except (ValueError, SyntaxError) as e:
        raise ValueError(f"hparam {name}: cannot parse {raw!r} as {type(default).__name__}") from e


def parse_hparams(hparams: HParams, overrides) -> HParams:
    """Copy of `hparams` with overrides ("a=1,b=[1,2]" or a dict) applied.

    Raises ValueError naming the valid hparams for an unknown name, and for a malformed value.
    """
    valid = {f.name for f in dataclasses.fields(hparams)}
    if isinstance(overrides, str):
        items = {}
        for part in _split_assignments(overrides):
            if "=" not in part:
                raise ValueError(f"hparams: expected name=value, got {part!r}")
            name, raw = (s.strip() for s in part.split("=", 1))
            items[name] = raw
    else:
        items = dict(overrides or {})
    unknown = sorted(set(items) - valid)
    if unknown:
        raise ValueError(f"unknown hparam(s) {', '.join(unknown)}; valid hparams: "
                         f"{', '.join(sorted(valid))}")
    values = {}
    for name, raw in items.items():
        default = getattr(hparams, name)
        values[name] = _coerce(name, raw, default) if isinstance(raw, str) else raw
    return dataclasses.replace(hparams, **values)


def update_config(config: Config, overrides) -> Config:
    """Copy of `config` with hparams overridden ("a=1,b=2" or a dict)."""
    return dataclasses.replace(config, hparams=parse_hparams(config.hparams, overrides))


def get_config(name: str) -> Config:
    """CONFIG_MAP[name]; ValueError listing the valid names for an unknown one."""
    if name not in CONFIG_MAP:
        raise ValueError(f"unknown config {name!r}; valid configs: {', '.join(sorted(CONFIG_MAP))}")
    return CONFIG_MAP[name]


def build_model(config: Config, compile: bool = True, seed=None) -> MusicVAE:
    """The config's MusicVAE with all variables created, compiled with Magenta's optimizer."""
    conv = config.data_converter
    model = config.model(config.hparams, conv.output_depth, input_depth=conv.input_depth,
                         control_depth=conv.control_depth, seed=seed)
    if compile:
        model.compile(optimizer=model.make_optimizer())
    return model


# ---- model builders ---------------------------------------------------------------------------
def _flat(decoder_fn) -> MusicVAEBuilder:
    return MusicVAEBuilder(BidirectionalLstmEncoder, decoder_fn)


def _hierdec(core_fn, level_lengths) -> MusicVAEBuilder:
    return _flat(functools.partial(HierarchicalLstmDecoder, core_decoder=core_fn,
                                   level_lengths=level_lengths, disable_autoregression=True))


TRIO_OUTPUT_DEPTHS = [90, 90, 512]  # melody, bass, drums
_split_trio = functools.partial(SplitMultiOutLstmDecoder,
                                core_decoders=[CategoricalLstmDecoder] * 3,
                                output_depths=TRIO_OUTPUT_DEPTHS)

MELODY_DATASET = "maestro+nottingham"  # melodies: Nottingham tunes + MAESTRO top lines
DRUMS_DATASET = "groove"              # the only drum data we ship
TRIO_DATASET = None                   # no shared dataset has melody + bass + drums tracks

CONFIG_MAP: dict = {}

# ---- melody ----------------------------------------------------------------------------------
_mel_2bar_converter = _converter("melody", "OneHotMelodyConverter",
                                 valid_programs=_constant("melody", "MEL_PROGRAMS"),
                                 skip_polyphony=False, max_bars=100, slice_bars=2,
                                 steps_per_quarter=4)
for _name, _z, _enc, _dec, _beta in (("cat-mel_2bar_small", 256, [512], [256, 256], 0.2),
                                     ("cat-mel_2bar_big", 512, [2048], [2048] * 3, 0.5)):
    CONFIG_MAP[_name] = Config(
        model=_flat(CategoricalLstmDecoder),
        data_converter=_mel_2bar_converter,
        hparams=HParams(batch_size=512, max_seq_len=32, z_size=_z, enc_rnn_size=_enc,
                         dec_rnn_size=_dec, free_bits=0, max_beta=_beta, beta_rate=0.99999,
                         sampling_schedule="inverse_sigmoid", sampling_rate=1000),
        note_sequence_augmenter=_augmenter((-5, 5)),
        default_dataset=MELODY_DATASET)


def _mel_converter(slice_bars: int):
    return _converter("melody", "OneHotMelodyConverter", skip_polyphony=False, max_bars=100,
                      slice_bars=slice_bars, steps_per_quarter=4)


_mel_16bar_converter = _mel_converter(16)
_mel_16bar_hparams = dict(batch_size=512, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                          free_bits=256, max_beta=0.2)
CONFIG_MAP["flat-mel_16bar"] = Config(
    model=_flat(CategoricalLstmDecoder), data_converter=_mel_16bar_converter,
    hparams=HParams(dec_rnn_size=[2048] * 3, **_mel_16bar_hparams),
    default_dataset=MELODY_DATASET)
CONFIG_MAP["hierdec-mel_16bar"] = Config(
    model=_hierdec(CategoricalLstmDecoder, [16, 16]), data_converter=_mel_16bar_converter,
    hparams=HParams(dec_rnn_size=[1024, 1024], **_mel_16bar_hparams),
    default_dataset=MELODY_DATASET)
# Not in Magenta: hierdec-mel_16bar cut to 4 bars (4 conductor steps of one 16-step bar each).
CONFIG_MAP["hierdec-mel_4bar"] = Config(
    model=_hierdec(CategoricalLstmDecoder, [4, 16]), data_converter=_mel_converter(4),
    hparams=HParams(dec_rnn_size=[1024, 1024], **dict(_mel_16bar_hparams, max_seq_len=64)),
    default_dataset=MELODY_DATASET)

# ---- drums -----------------------------------------------------------------------------------
_drums_hparams = dict(batch_size=512, max_seq_len=32, free_bits=48, max_beta=0.2,
                      sampling_schedule="inverse_sigmoid", sampling_rate=1000)


def _drums_converter(bars: int):
    return _converter("drums", "DrumsConverter", max_bars=100, slice_bars=bars,
                      steps_per_quarter=4, roll_input=True)


for _name, _z, _enc, _dec in (("cat-drums_2bar_small", 256, [512], [256, 256]),
                              ("cat-drums_2bar_big", 512, [2048], [2048] * 3)):
    CONFIG_MAP[_name] = Config(
        model=_flat(CategoricalLstmDecoder), data_converter=_drums_converter(2),
        hparams=HParams(z_size=_z, enc_rnn_size=_enc, dec_rnn_size=_dec, **_drums_hparams),
        default_dataset=DRUMS_DATASET)
# Not in Magenta's configs.py: cat-drums_2bar_small on 4-bar windows (64 steps).
CONFIG_MAP["musicvae_4bar_drums"] = Config(
    model=_flat(CategoricalLstmDecoder), data_converter=_drums_converter(4),
    hparams=HParams(z_size=256, enc_rnn_size=[512], dec_rnn_size=[256, 256],
                     **dict(_drums_hparams, max_seq_len=64)),
    default_dataset=DRUMS_DATASET)

# ---- trio ------------------------------------------------------------------------------------
_trio_converter = _converter("trio", "TrioConverter", steps_per_quarter=4, slice_bars=16,
                             gap_bars=2)
CONFIG_MAP["flat-trio_16bar"] = Config(
    model=_flat(functools.partial(MultiOutCategoricalLstmDecoder,
                                  output_depths=TRIO_OUTPUT_DEPTHS)),
    data_converter=_trio_converter,
    hparams=HParams(batch_size=256, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                     dec_rnn_size=[2048] * 3),
    default_dataset=TRIO_DATASET)
CONFIG_MAP["hierdec-trio_16bar"] = Config(
    model=_hierdec(_split_trio, [16, 16]), data_converter=_trio_converter,
    hparams=HParams(batch_size=256, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                     dec_rnn_size=[1024, 1024], free_bits=256, max_beta=0.2),
    default_dataset=TRIO_DATASET)

# ---- GrooVAE ---------------------------------------------------------------------------------
_ROLAND = _constant("groove", "ROLAND_DRUM_PITCH_CLASSES")
_REDUCED = _constant("groove", "REDUCED_DRUM_PITCH_CLASSES")


def _groove(bars: int, tfds_name: str, **converter_kwargs) -> Config:
    return Config(
        model=_flat(GrooveLstmDecoder),
        data_converter=_converter("groove", "GrooveConverter", split_bars=bars,
                                  steps_per_quarter=4, quarters_per_bar=4,
                                  max_tensors_per_notesequence=20, pitch_classes=_ROLAND,
                                  inference_pitch_classes=_REDUCED,
                                  # Magenta trained on TFDS groove/<N>bar-midionly: N-bar windows
                                  # sliding by one bar. From full-file shards, hop_size=16 steps
                                  # (one 4/4 bar) gives the same windows (19,552 for 4 bars).
                                  hop_size=16, **converter_kwargs),
        hparams=HParams(batch_size=512, max_seq_len=16 * bars, z_size=256, enc_rnn_size=[512],
                         dec_rnn_size=[256, 256], max_beta=0.2, free_bits=48,
                         dropout_keep_prob=0.3),
        tfds_name=tfds_name, default_dataset=DRUMS_DATASET)


CONFIG_MAP["groovae_4bar"] = _groove(4, "groove/4bar-midionly")
CONFIG_MAP["groovae_2bar_humanize"] = _groove(2, "groove/2bar-midionly", humanize=True)
CONFIG_MAP["groovae_2bar_tap_fixed_velocity"] = _groove(2, "groove/2bar-midionly", tapify=True,
                                                        fixed_velocities=True)
CONFIG_MAP["groovae_2bar_add_closed_hh"] = _groove(2, "groove/2bar-midionly",
                                                   add_instruments=[2])
