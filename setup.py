"""musicgen: Magenta-style music generation on TensorFlow 2 / Keras 3."""
from setuptools import find_packages, setup

setup(
    name="musicgen",
    version="0.1.0",
    description="MIDI datasets -> NoteSequences -> TFRecords -> converters -> Keras models -> MIDI",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["musicgen", "musicgen.*", "pipelines", "pipelines.*"]),
    py_modules=["configs"],
    package_data={"musicgen": ["pretrained/*.keras", "pretrained/*.json", "pretrained/*.md",
                               "pretrained/*.h5"]},
    include_package_data=True,
    install_requires=[
        # tensorflow-cpu by default; the `gpu` extra brings the full `tensorflow` wheel.
        "tensorflow-cpu>=2.21,<2.22; platform_machine=='x86_64'",
        "keras>=3.15,<4",
        "tensorflow-probability>=0.25,<0.26",
        "tensorflow-datasets>=4.9.10,<4.10",
        "note-seq==0.0.5",
        # the MIDI event scanner / note pairing (musicgen/midi); already pulled in by librosa.
        "numba>=0.68,<0.69",
        "absl-py>=2.1,<3",
        "numpy>=2.0,<2.5",
        "protobuf>=5.28,<7",
        "tqdm>=4.66,<5",
        # PNG drum grids / piano rolls / curves / realism report (musicgen.plot, curves, report).
        "matplotlib>=3.8,<4",
        # tf-keras is required by TFP at import time, but it must be installed with --no-deps
        # (its metadata pulls the full `tensorflow` wheel over tensorflow-cpu): see Makefile.
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "beam": ["apache-beam[tfrecord]>=2.77,<2.78"],
        # --runner=dask: conversion jobs on a dask.distributed cluster (pipelines/dask_runner.py).
        "dask": ["dask>=2026.8,<2026.9", "distributed>=2026.8,<2026.9"],
        "test": ["pytest>=8", "hypothesis>=6.170,<7"],
        # bench/token_encoders.py compares our REMI with MidiTok's (not needed to run musicgen).
        "bench": ["miditok>=3.1,<3.2", "symusic>=0.6,<0.7"],
    },
)
