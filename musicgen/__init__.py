"""musicgen: Magenta-style music generation on TensorFlow 2 / Keras 3.

Importing musicgen quiets TensorFlow's C++ start-up noise (oneDNN / cpu_feature_guard lines) for CLI
users unless the caller already chose a log level; see BUILD_NOTES.md.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"

import warnings as _warnings

# note_seq imports pydub (audio helpers we never use), which warns when ffmpeg is absent.
_warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)
# pydub also imports the stdlib `audioop`, deprecated in 3.11 (removed in 3.13).
_warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
