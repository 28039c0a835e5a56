"""The config schema and the one config lookup: what a CONFIG_MAP entry is, and how it is found.

`configs.py` at the top level is the user's map (one short entry per config); everything that gives
those entries meaning lives here:

* `Config`: family (the model family's interface object, `musicgen.families`), model builder,
  data converter, hyperparameters, note-sequence augmenter, default data;
* `parse_hparams` / `update_config`: "a=1,b=[1,2]" overrides with type checks and clear errors;
* `get_config(name, hparams)`: THE lookup of a config name (CLIs, checkpoints, pipelines all call it);
* `converter_for(config, mode)`: a private copy of the config's converter in train / eval / infer
  mode (the CONFIG_MAP converter itself is never switched, so a train and an eval dataset in one
  process cannot race on it);
* `build_model(config)`: the family builds the model (and compiles it with its optimizer).

    >>> from musicgen import config as config_lib
    >>> name, cfg = config_lib.get_config("groovae_4bar", "batch_size=64")
    >>> cfg.hparams.batch_size, cfg.family.name
    (64, 'vae')
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
from typing import Any, Callable, Optional

CONVERTER_MODES = ("train", "eval", "infer")


@dataclasses.dataclass(frozen=True)
class Config:
    """One trainable configuration (a CONFIG_MAP value).

    family: a `musicgen.families.Family` (builds the model, owns the batch format, evaluator,
      inference wrapper and generate modes);
    model: the family's model builder (VAE: a MusicVAEBuilder; token LM: None, the family builds
      a TokenLM from the hparams);
    data_converter: the converter (never mutated: see `converter_for`);
    hparams: the family's hyperparameter dataclass;
    note_sequence_augmenter: applied to training NoteSequences before the converter (live input and
      make_examples --mode=train alike, `musicgen.datasets.convert`).
    """

    family: Any
    model: Optional[Callable[..., Any]]
    data_converter: Any
    hparams: Any
    note_sequence_augmenter: Any = None
    train_examples_path: Optional[str] = None
    eval_examples_path: Optional[str] = None
    tfds_name: Optional[str] = None
    default_dataset: Optional[str] = None

    def values(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# ---- converters ---------------------------------------------------------------------------------
class MissingConverter:
    """Stands in for a converter whose module could not be imported; fails on first use."""

    def __init__(self, module: str, cls: str, error: Exception):
        self._what = f"{module}.{cls}"
        self._error = error

    def __getattr__(self, name):
        raise RuntimeError(f"converter {self._what} is unavailable: {self._error!r}")

    def __repr__(self):
        return f"MissingConverter({self._what})"


def converter(module: str, cls: str, **kwargs):
    """Instantiate musicgen.converters.<module>.<cls>(**kwargs), or a MissingConverter."""
    try:
        mod = importlib.import_module(f"musicgen.converters.{module}")
    except ImportError as e:
        return MissingConverter(module, cls, e)
    return getattr(mod, cls)(**kwargs)


def converter_constant(module: str, name: str, default=None):
    """musicgen.converters.<module>.<name>, or `default` when it cannot be imported."""
    try:
        return getattr(importlib.import_module(f"musicgen.converters.{module}"), name)
    except (ImportError, AttributeError):
        return default


def converter_for(config: Config, mode: str, seed: Optional[int] = None):
    """A private copy of the config's converter in `mode` (train / eval / infer), optionally
    seeded; the CONFIG_MAP converter is left as it is."""
    if mode not in CONVERTER_MODES:
        raise ValueError(f"converter mode must be one of {CONVERTER_MODES}, got {mode!r}")
    conv = copy.deepcopy(config.data_converter)
    conv.set_mode(mode)
    if seed is not None or mode == "train":
        conv.seed(seed)  # train mode, no seed: fresh entropy (copies never share a stream)
    return conv


# ---- hparams parsing ----------------------------------------------------------------------------
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


def parse_hparams(hparams, overrides):
    """Copy of the hparams dataclass with overrides ("a=1,b=[1,2]" or a dict) applied.

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
        check_hparam_range(name, values[name])
    return dataclasses.replace(hparams, **values)


def check_hparam_range(name: str, value) -> None:
    """ValueError naming the hparam for a value no training could use: NaN / inf anywhere, a
    learning rate outside (0, 1], a negative minimum learning rate, a batch size or layer size
    below 1, a dropout rate outside [0, 1), a sampling sd outside [0, 1]."""
    import math
    if isinstance(value, (list, tuple)):
        for v in value:
            check_hparam_range(name, v)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    problem = None
    if not math.isfinite(value):
        problem = "is not a finite number"
    elif name == "learning_rate" and not 0.0 < value <= 1.0:
        problem = "must be in (0, 1]"
    elif name == "min_learning_rate" and not 0.0 <= value <= 1.0:
        problem = "must be in [0, 1]"
    elif (name in ("num_layers", "num_heads") or name.endswith("_size")) and value < 1:
        problem = "must be >= 1"
    elif name.endswith("dropout") and not 0.0 <= value < 1.0:
        problem = "must be in [0, 1)"
    elif name.endswith("_sample_sd") and not 0.0 <= value <= 1.0:
        problem = "must be in [0, 1]"
    if problem:
        raise ValueError(f"hparam {name}={value} {problem}")


def update_config(config: Config, overrides) -> Config:
    """Copy of `config` with hparams overridden ("a=1,b=2" or a dict)."""
    return dataclasses.replace(config, hparams=parse_hparams(config.hparams, overrides))


# ---- the one lookup -----------------------------------------------------------------------------
def config_map() -> dict:
    """configs.CONFIG_MAP (the top-level user module, imported on first use)."""
    import configs
    return configs.CONFIG_MAP


def config_names() -> list:
    return sorted(config_map())


def get_config(name_or_config, hparams_str: str = ""):
    """Resolve a config name (or a Config) and apply `hparams_str`. Returns (name, config).

    Raises ValueError listing the valid config names for an unknown name, and the valid hparams for
    an unknown hparam.
    """
    cmap = config_map()
    if isinstance(name_or_config, str):
        if name_or_config not in cmap:
            raise ValueError(f"unknown config {name_or_config!r}; valid configs: "
                             f"{', '.join(sorted(cmap))}")
        name, config = name_or_config, cmap[name_or_config]
    else:
        config = name_or_config
        name = next((k for k, v in cmap.items() if v is config), None)
    if hparams_str:
        config = update_config(config, hparams_str)
    return name, config


def build_model(config: Config, compile: bool = True, seed=None):
    """The config's model (variables created), compiled with the family's optimizer if asked."""
    model = config.family.build_model(config, seed=seed)
    if compile:
        model.compile(optimizer=config.family.make_optimizer(model, config))
    return model
