"""Shared model building and checkpoint I/O for train, evaluate and generate.

One place turns a config name (+ hparams overrides) into a built Keras model, and one place reads and
writes checkpoints, so `python -m musicgen.train`, `musicgen.evaluate`, `musicgen.generate` and
`TrainedModel` all agree on the format.

Checkpoint layout of a run directory (written by `save_checkpoint`)::

    <run_dir>/checkpoint.json                 pointer: {"latest": "ckpt-00001000", "all": [...], ...}
    <run_dir>/checkpoints/ckpt-00001000.weights.h5     keras save_weights of the compiled model:
                                                       weights + optimizer variables (Adam moments,
                                                       iteration count)
    <run_dir>/checkpoints/ckpt-00001000.json           {"step", "config", "hparams", "metrics", ...}

Every file is written to a temporary name and renamed, and the pointer is updated last, so a run killed
while saving still resumes from the previous complete checkpoint.

Exported / bundled weights (`export_weights`) are one `<name>.weights.h5` (float16 by default; Keras
casts back to the model's float32 variables on load) plus `<name>.json` with the config name and
hparams string, so `load_for_inference(path)` rebuilds the model without any flag.

API (all paths may be str or os.PathLike):

    get_config(name_or_config, hparams_str="") -> (config_name, config)   # musicgen.config's
    build_model_for(name_or_config, hparams_str="", compile=False) -> (config, model)  # variables made
    dummy_batch(config, batch_size=1) -> batch dict of zeros (the family's batch format)
    save_checkpoint(run_dir, model, optimizer, step, config_name, hparams_str="", keep=5, metrics=None)
    latest_checkpoint(run_dir) -> checkpoint prefix path or None
    read_metadata(checkpoint_path) -> dict
    restore_checkpoint(checkpoint_path, model, optimizer=None) -> step
    warm_start(path, model, optimizer=None) -> step   # weights only, from a checkpoint or export
    load_model(path, config_name=None, hparams_str=None) -> (name, config, model)   # THE loader
    load_for_inference(path, config_name=None, hparams_str=None) -> (config, model)
    export_weights(model, path, config_name, hparams_str="", dtype="float16", extra=None) -> path
"""
from __future__ import annotations

import json
import os
import time
from typing import Optional

import numpy as np

from musicgen import config as config_lib

CHECKPOINT_SUBDIR = "checkpoints"
POINTER_FILE = "checkpoint.json"
WEIGHTS_SUFFIX = ".weights.h5"
OPTIMIZER_SUFFIX = ".optimizer.npz"  # written by early versions; ignored now
META_SUFFIX = ".json"
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")


# ---- configs and models ----------------------------------------------------------------------
def config_names() -> list:
    """Sorted names of all configs in configs.CONFIG_MAP."""
    return config_lib.config_names()


def get_config(name_or_config, hparams_str: str = ""):
    """(config_name, config): `musicgen.config.get_config`, the one config lookup."""
    return config_lib.get_config(name_or_config, hparams_str)


def dummy_batch(config, batch_size: int = 1) -> dict:
    """A batch dict of zeros in the config family's batch format."""
    return config.family.batch_format(config).dummy_batch(batch_size)


def build_variables(model, config) -> None:
    """One inference forward pass on a dummy batch (checks shapes; the families' models create
    their variables in __init__ already)."""
    model(dummy_batch(config), training=False)


def build_model_for(name_or_config, hparams_str: str = "", build: bool = True,
                    compile: bool = False):
    """Build the Keras model of a config (with hparams overrides). Returns (config, model).

    build=True also runs a dummy forward pass (shape check). compile=True attaches the family's
    optimizer (training); inference leaves it out, so loading a training checkpoint skips its
    optimizer variables silently.
    """
    _, config = get_config(name_or_config, hparams_str)
    model = config_lib.build_model(config, compile=compile)
    if build:
        build_variables(model, config)
    return config, model


# ---- small file helpers ----------------------------------------------------------------------
def write_json_atomic(path: str, obj) -> None:
    """Write json to a temporary file and rename it into place."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)


def _strip_suffix(path: str) -> str:
    for suffix in (WEIGHTS_SUFFIX, OPTIMIZER_SUFFIX, META_SUFFIX):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


# ---- training checkpoints --------------------------------------------------------------------
def save_checkpoint(run_dir, model, optimizer, step: int, config_name: str, hparams_str: str = "",
                    keep: int = 5, metrics: Optional[dict] = None) -> str:
    """Save model weights, optimizer state and step under run_dir; keep the newest `keep`.

    Returns the checkpoint prefix (".../checkpoints/ckpt-00001000").
    """
    run_dir = os.fspath(run_dir)
    ckpt_dir = os.path.join(run_dir, CHECKPOINT_SUBDIR)
    os.makedirs(ckpt_dir, exist_ok=True)
    name = f"ckpt-{int(step):08d}"
    prefix = os.path.join(ckpt_dir, name)

    if optimizer is not None and getattr(model, "optimizer", None) is not optimizer:
        raise ValueError("save_checkpoint: the optimizer must be the model's compiled optimizer "
                         "(its variables are saved with the weights)")
    tmp_weights = prefix + "-tmp" + WEIGHTS_SUFFIX
    model.save_weights(tmp_weights)
    os.replace(tmp_weights, prefix + WEIGHTS_SUFFIX)
    meta = {"step": int(step), "config": config_name, "hparams": hparams_str or "",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "metrics": metrics or {}}
    meta.update(_family_metadata(config_name, hparams_str))
    write_json_atomic(prefix + META_SUFFIX, meta)

    pointer_path = os.path.join(run_dir, POINTER_FILE)
    pointer = _read_pointer(run_dir) or {}
    names = [n for n in pointer.get("all", []) if n != name] + [name]
    stale = names[:-keep] if keep and keep > 0 else []  # keep <= 0: keep every checkpoint
    names = names[len(stale):]
    write_json_atomic(pointer_path, {"latest": name, "all": names, "step": int(step),
                                      "config": config_name, "hparams": hparams_str or ""})
    for old in stale:
        for suffix in (WEIGHTS_SUFFIX, OPTIMIZER_SUFFIX, META_SUFFIX):
            try:
                os.remove(os.path.join(ckpt_dir, old + suffix))
            except FileNotFoundError:
                pass
    return prefix


def _read_pointer(run_dir) -> Optional[dict]:
    path = os.path.join(os.fspath(run_dir), POINTER_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def latest_checkpoint(run_dir) -> Optional[str]:
    """Prefix of the newest complete checkpoint in run_dir (or its checkpoints/ dir), else None."""
    run_dir = os.fspath(run_dir)
    if os.path.basename(os.path.normpath(run_dir)) == CHECKPOINT_SUBDIR and \
            not os.path.exists(os.path.join(run_dir, POINTER_FILE)):
        run_dir = os.path.dirname(os.path.normpath(run_dir))
    pointer = _read_pointer(run_dir)
    if not pointer:
        return None
    prefix = os.path.join(run_dir, CHECKPOINT_SUBDIR, pointer["latest"])
    return prefix if os.path.exists(prefix + WEIGHTS_SUFFIX) else None


def read_metadata(path) -> dict:
    """The json stored beside a checkpoint prefix / weights file ({} when there is none)."""
    meta_path = _strip_suffix(os.fspath(path)) + META_SUFFIX
    if not os.path.exists(meta_path):
        return {}
    with open(meta_path, encoding="utf-8") as f:
        return json.load(f)


def restore_checkpoint(path, model, optimizer=None) -> int:
    """Load weights (and the optimizer state, when the model is compiled) from a checkpoint.

    `optimizer`: the model's compiled optimizer; it is built first so its variables (iteration
    count, Adam moments) exist to receive the saved values. Returns the checkpoint's step.
    """
    prefix = _strip_suffix(os.fspath(path))
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    model.load_weights(prefix + WEIGHTS_SUFFIX)
    return int(read_metadata(prefix).get("step", 0))


def warm_start(path, model, optimizer=None) -> int:
    """Initialise a fresh training model from the weights of another checkpoint or an export.

    `path`: run dir, checkpoint prefix or `.weights.h5` (e.g. the bundled float16 export). Only the
    model's variables are copied; the optimizer starts fresh (exports carry no Adam moments), but its
    iteration count and the model's `global_step` continue at the source's step, so the learning
    rate, beta and scheduled-sampling schedules go on where the source stopped. Raises ValueError
    naming the first variable whose shape differs. Returns that step.
    """
    prefix = resolve_checkpoint_path(path)
    meta = read_metadata(prefix)
    _, source = load_for_inference(prefix)
    src, dst = source.weights, model.weights
    if len(src) != len(dst):
        raise ValueError(f"--init_checkpoint={path}: {len(src)} variables, the model being trained "
                         f"has {len(dst)} (another config?)")
    for s, d in zip(src, dst):
        if tuple(s.shape) != tuple(d.shape):
            raise ValueError(f"--init_checkpoint={path}: variable {s.path} has shape "
                             f"{tuple(s.shape)}, the model being trained has {tuple(d.shape)} "
                             f"for {d.path} (other hparams?)")
        d.assign(s.numpy())
    step = int(meta.get("step", 0))
    model.global_step.assign(step)  # one source (the json) for both schedules' step
    if optimizer is not None:
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        optimizer.iterations.assign(step)
    return step


def resolve_checkpoint_path(path) -> str:
    """Turn a run dir, checkpoints dir, checkpoint prefix or .weights.h5 file into a prefix."""
    path = os.fspath(path)
    if os.path.isdir(path):
        prefix = latest_checkpoint(path)
        if prefix is None:
            raise FileNotFoundError(f"no checkpoint found in {path!r} (expected {POINTER_FILE})")
        return prefix
    prefix = _strip_suffix(path)
    if not os.path.exists(prefix + WEIGHTS_SUFFIX):
        raise FileNotFoundError(f"no checkpoint at {path!r}: not a run directory, checkpoint prefix "
                                f"or {WEIGHTS_SUFFIX} file")
    return prefix


def load_model(path, config_name=None, hparams_str: Optional[str] = None):
    """THE model loader: rebuild the model of a checkpoint / export and load its weights.

    `path`: run dir, checkpoint prefix or `.weights.h5` file. `config_name`: a name or Config
    (default: the one stored beside the weights); `hparams_str`: None takes the stored ones. The
    family's stored metadata (a token vocabulary) is checked against the config before the weights
    are read. Returns (config_name, config, model), the model uncompiled.
    """
    prefix = resolve_checkpoint_path(path)
    meta = read_metadata(prefix)
    config_name = config_name or meta.get("config")
    if not config_name:
        raise ValueError(f"{prefix}: no config name stored beside the weights; pass config_name")
    if hparams_str is None:
        hparams_str = meta.get("hparams", "")
    name, config = get_config(config_name, hparams_str)
    config.family.check_export_metadata(config, meta, prefix + META_SUFFIX)
    model = config_lib.build_model(config, compile=False)
    model.load_weights(prefix + WEIGHTS_SUFFIX)
    return name or meta.get("config"), config, model


def load_for_inference(path, config_name: Optional[str] = None, hparams_str: Optional[str] = None):
    """`load_model` without the name: (config, model)."""
    _, config, model = load_model(path, config_name, hparams_str)
    return config, model


def export_weights(model, path, config_name: str, hparams_str: str = "", dtype: str = "float16",
                   extra: Optional[dict] = None) -> str:
    """Write model weights as `<path>.weights.h5` cast to `dtype`, plus `<path>.json` metadata.

    Returns the weights path. Loading casts back to the model's variable dtype (float32).
    """
    import h5py

    prefix = _strip_suffix(os.fspath(path))
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    tmp = prefix + "-tmp" + WEIGHTS_SUFFIX
    model.save_weights(tmp)
    target = np.dtype(dtype)
    with h5py.File(tmp, "r+") as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in datasets:
            data = f[name][...]
            if np.issubdtype(data.dtype, np.floating) and data.dtype != target:
                del f[name]
                f.create_dataset(name, data=data.astype(target))
    # Copy into a fresh file (h5py leaves freed space behind), without optimizer variables.
    with h5py.File(tmp, "r") as src, h5py.File(tmp + ".pack", "w") as dst:
        for key in src:
            if key != "optimizer":
                src.copy(src[key], dst, name=key)
        for k, v in src.attrs.items():
            dst.attrs[k] = v
    os.remove(tmp)
    os.replace(tmp + ".pack", prefix + WEIGHTS_SUFFIX)
    meta = {"config": config_name, "hparams": hparams_str or "", "dtype": str(target)}
    meta.update(_family_metadata(config_name, hparams_str))
    meta.update(extra or {})
    write_json_atomic(prefix + META_SUFFIX, meta)
    return prefix + WEIGHTS_SUFFIX


def _family_metadata(config_name, hparams_str) -> dict:
    """The config family's json beside weights (e.g. the token vocabulary); {} for unknown names."""
    try:
        _, config = get_config(config_name, hparams_str or "")
    except ValueError:
        return {}
    return config.family.export_metadata(config)


def pretrained_path(config_name: str) -> str:
    """Path prefix of a bundled model: musicgen/pretrained/<config_name>."""
    return os.path.join(PRETRAINED_DIR, config_name)
