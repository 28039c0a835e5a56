"""Realism features of generated music and their overlap with held-out data (`musicgen.report`).

* `drum_features`: per-sample drum features and the set-level groove targets;
* `pitched_features`: per-sample features of pitched (non-drum) notes;
* `overlap`: MGEval-style overlap area / KL divergence of two sets of per-sample features.
"""
