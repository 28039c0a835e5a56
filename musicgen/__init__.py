"""musicgen: Magenta-style music generation on TensorFlow 2 / Keras 3.

Importing musicgen quiets TensorFlow's C++ start-up noise (oneDNN / cpu_feature_guard lines) for CLI
users unless the caller already chose a log level; see BUILD_NOTES.md.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
