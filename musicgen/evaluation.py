"""THE evaluator: a checkpoint + a split -> the family's metrics beside its floors.

`python -m musicgen.evaluate` and `python -m musicgen.train --mode=eval` both call
`evaluate_checkpoint`; what is measured belongs to the config's family (`Family.evaluate`,
`Family.floors`, `Family.format_table`): MusicVAE reconstruction accuracy / KL beside an untrained
model and an all-zero output; token LMs NLL / perplexity / accuracy beside uniform and train-unigram
floors. The report is json-able: {"config", "hparams", "checkpoint", "checkpoint_step", "split",
"results": {row name: metrics}, "table", "timings", ...}.
"""
from __future__ import annotations

import sys
import time
from typing import Optional


def numpy_batches(dataset, num_batches: Optional[int], label: str = ""):
    """Batch dicts of numpy arrays, at most `num_batches`; a progress line every 10 on stderr."""
    for i, batch in enumerate(dataset):
        if num_batches and i >= num_batches:
            return
        if i and i % 10 == 0:
            print(f"evaluate {label}: {i} batches", file=sys.stderr, flush=True)
        yield {k: v.numpy() for k, v in batch.items()}


def evaluate_checkpoint(checkpoint, split: str = "test", *, config_name=None,
                        hparams: Optional[str] = None, input_kwargs: Optional[dict] = None,
                        batch_size: int = 64, num_batches: Optional[int] = None,
                        options: Optional[dict] = None) -> dict:
    """Evaluate `checkpoint` (run dir, prefix or .weights.h5) on `split`; returns the report.

    `input_kwargs`: `make_dataset` source arguments (examples_path / dataset_dir / tfds_name ...);
    `options`: family options (seed, untrained, sample_temperature, unigram ...).
    """
    import keras

    from musicgen import checkpoints
    from musicgen.datasets.input import make_dataset

    options = dict(options or {})
    seed = options.setdefault("seed", 0)
    keras.utils.set_random_seed(seed)
    prefix = checkpoints.resolve_checkpoint_path(checkpoint)
    meta = checkpoints.read_metadata(prefix)
    name, config, model = checkpoints.load_model(prefix, config_name, hparams)
    family = config.family
    source = {k: v for k, v in (input_kwargs or {}).items() if v is not None}
    source.setdefault("cache", False)

    evaluated = split

    def make_batches(label, split=evaluated):
        """Batches of `split`; --num_batches limits the evaluated split only (floors may read the
        whole train split)."""
        ds = make_dataset(config, split, batch_size=batch_size, is_training=False, repeat=False,
                          **source)
        return numpy_batches(ds, num_batches if split == evaluated else None, label)

    timings = {}
    t0 = time.perf_counter()
    results = {"trained": family.evaluate(model, config, make_batches("trained"), options)}
    timings["trained_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    results.update(family.floors(config, make_batches, options, {"trained": results["trained"]}))
    timings["floors_s"] = round(time.perf_counter() - t0, 1)
    table = family.format_table(results)
    return {**options, "config": name, "family": family.name,
            "hparams": hparams if hparams is not None else meta.get("hparams", ""),
            "checkpoint": str(checkpoint), "checkpoint_step": meta.get("step"), "split": split,
            "input": {k: v for k, v in source.items() if k != "cache"},
            "num_batches": num_batches, "batch_size": batch_size, "options": options,
            "results": results, "timings": timings, "table": table,
            "date": time.strftime("%Y-%m-%d %H:%M")}
