"""The path flags of the jobs, checked without TensorFlow: split shard files and writable folders.

>>> split_pattern("/nonexistent/x", "train")      # not a folder: used as given
'/nonexistent/x'
"""
from __future__ import annotations

import glob
import os


def split_pattern(path: str, split: str) -> str:
    """A directory becomes `<dir>/<split>-*`; a file or glob pattern is used as given."""
    if os.path.isdir(path):
        return os.path.join(path, f"{split}-*")
    return path


def split_files(pattern: str, what: str) -> list:
    """The files of a (comma-separated) pattern, half-written `.tmp*` ones left out;
    FileNotFoundError naming `what` (a flag) when nothing matches."""
    files = sorted(f for p in pattern.split(",") for f in glob.glob(p.strip()))
    files = [f for f in files if not os.path.basename(f).startswith(".tmp")]
    if not files:
        raise FileNotFoundError(f"{what}: no files match {pattern!r}")
    return files


def make_writable_dir(path: str) -> None:
    """Create `path` (and parents) and prove a file can be written there; OSError otherwise."""
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, f".write_test_{os.getpid()}")
    with open(probe, "w"):
        pass
    os.remove(probe)
