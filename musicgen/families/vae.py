"""The MusicVAE / GrooVAE family: dense windows, encoder -> latent -> decoder.

Evaluator: `vae_eval` (teacher-forced and sampled reconstruction accuracy, groove hit / velocity /
offset errors, KL bits) beside an untrained model of the same config and seed and an all-zero
output. Inference wrapper: `musicgen.trained_model.TrainedModel`. Generate modes: sample,
interpolate (--input_midi_1 -> --input_midi_2), reconstruct (--input_midi_1).
"""
from __future__ import annotations

from typing import Optional

from musicgen.families import vae_eval
from musicgen.families.base import Family, GenerateMode
from musicgen.families.vae_format import DenseBatchFormat


DEFAULT_QPM = 120.0  # the converters decode on a 120 qpm grid


def _sample(tm, fv, inputs):
    return at_tempo(tm.sample(fv.num_outputs, temperature=_temperature(fv)), fv.qpm or DEFAULT_QPM)


def _interpolate(tm, fv, inputs):
    return at_tempo(tm.interpolate(inputs[0], inputs[1], fv.num_outputs,
                                   temperature=_temperature(fv), assert_same_length=False,
                                   window=int(fv.input_window)), fv.qpm or tempo_of(inputs[0]))


def _reconstruct(tm, fv, inputs):
    windows = None if fv.input_window == "all" else [int(fv.input_window)]
    out = tm.reconstruct_windows(inputs[0], windows, temperature=_temperature(fv))
    if fv["num_outputs"].present and fv.num_outputs != len(out):
        print(f"note: --mode=reconstruct writes one file per reconstructed window "
              f"({len(out)}); --num_outputs={fv.num_outputs} is not used")
    return at_tempo(out, fv.qpm or tempo_of(inputs[0]))


def tempo_of(note_sequence) -> float:
    """The first tempo of a NoteSequence (120 qpm when it has none)."""
    return float(note_sequence.tempos[0].qpm) if note_sequence.tempos else DEFAULT_QPM


def at_tempo(sequences: list, qpm: float) -> list:
    """The decoded sequences played at `qpm`: every time scaled by (their tempo / qpm), one tempo.

    The VAE converters decode on a 120-qpm step grid, so a groove or melody comes back at 120 bpm
    unless it is retimed; the grid positions (bars, steps) do not change."""
    out = []
    for ns in sequences:
        factor = tempo_of(ns) / float(qpm)
        ns = type(ns).FromString(ns.SerializeToString())
        for note in ns.notes:
            note.start_time *= factor
            note.end_time *= factor
        for event in list(ns.control_changes) + list(ns.text_annotations) + list(
                ns.time_signatures) + list(ns.key_signatures) + list(ns.pitch_bends):
            event.time *= factor
        del ns.tempos[:]
        ns.tempos.add(time=0.0, qpm=float(qpm))
        ns.total_time *= factor
        out.append(ns)
    return out


def _check_windows(tm, fv, inputs):
    """Each input must give the model a window (the one --input_window names); else a ValueError
    naming --input_midi_N or --input_window. Says which windows of a longer input are used."""
    from musicgen.trained_model import NoExtractedExamplesError
    value = fv.input_window
    if value != "all" and not (value.isdigit()):
        raise ValueError(f"--input_window={value}: a window number (0, 1, ...) or 'all'")
    if value == "all" and len(inputs) > 1:
        raise ValueError("--input_window=all: only for --mode=reconstruct (interpolate uses one "
                         "window of each input)")
    for i, ns in enumerate(inputs, start=1):
        try:
            count = tm.count_windows(ns)
        except NoExtractedExamplesError as err:
            raise ValueError(f"--input_midi_{i}: {err}") from err
        if value != "all" and int(value) >= count:
            raise ValueError(f"--input_window={value}: --input_midi_{i} has {count} window(s) "
                             f"(0..{count - 1})")
        if count > 1:  # say which windows of a longer input are used
            used = "all windows" if value == "all" else f"window {value}"
            print(f"--input_midi_{i}: {count} windows of {tm.max_seq_len} steps; using {used} "
                  f"(--input_window=N or all to choose)")


def _temperature(fv) -> float:
    return 0.5 if fv.temperature is None else fv.temperature


class VAEFamily(Family):
    name = "vae"
    modes = {
        "sample": GenerateMode("sample", (), _sample, help="decode z ~ N(0, I)"),
        "interpolate": GenerateMode("interpolate", ("input_midi_1", "input_midi_2"), _interpolate,
                                    check=_check_windows, help="slerp between the latents of two MIDI files"),
        "reconstruct": GenerateMode("reconstruct", ("input_midi_1",), _reconstruct,
                                    num_outputs=lambda fv: 1, check=_check_windows,
                                    help="decode the posterior mean of one MIDI file"),
    }

    def batch_format(self, config) -> DenseBatchFormat:
        return DenseBatchFormat(config)

    def build_model(self, config, seed=None):
        conv = config.data_converter
        model = config.model(config.hparams, conv.output_depth, input_depth=conv.input_depth,
                             control_depth=conv.control_depth, seed=seed)
        return model

    def make_optimizer(self, model, config):
        return model.make_optimizer()

    # ---- evaluation -------------------------------------------------------------------------
    def evaluate(self, model, config, batches, options: dict) -> dict:
        out = vae_eval.evaluate_model(model, batches, options.get("sample_temperature", 0.0),
                                      zero_baseline=True)
        return out

    def floors(self, config, make_batches, options: dict, context: dict) -> dict:
        """The all-zero output (computed with the trained model's pass) and an untrained model of
        the same config and seed."""
        import keras
        from musicgen import config as config_lib
        trained = context["trained"]
        zero = trained.pop("zero_baseline")
        rows = {"all-zero output": {"teacher_forced": zero, "sampled": zero, "kl_bits": None,
                                    "num_sequences": trained["num_sequences"]}}
        if options.get("untrained", True):
            keras.utils.set_random_seed(options.get("seed", 0))
            floor = config_lib.build_model(config, compile=False)
            rows["untrained"] = vae_eval.evaluate_model(floor, make_batches("untrained"),
                                                        options.get("sample_temperature", 0.0))
        return rows

    def format_table(self, results: dict) -> str:
        order = ["trained", "all-zero output", "untrained"]
        ordered = {k: results[k] for k in order if k in results}
        ordered.update({k: v for k, v in results.items() if k not in ordered})
        return vae_eval.format_table(ordered)

    def define_generate_flags(self, fv) -> None:
        from absl import flags
        flags.DEFINE_string("input_midi_1", None, "VAE: start MIDI (interpolate) or the MIDI to "
                            "reconstruct.", flag_values=fv)
        flags.DEFINE_string("input_midi_2", None, "VAE: end MIDI file (interpolate).",
                            flag_values=fv)
        flags.DEFINE_string("input_window", "0", "VAE interpolate / reconstruct: which converter "
                            "window of a longer input to use (0, 1, ...), or 'all' (reconstruct: "
                            "one output per window).", flag_values=fv)
        flags.DEFINE_float("qpm", None, "VAE: tempo of the written files in quarter notes per "
                           "minute (default: 120 for sample; the first input's tempo for "
                           "interpolate / reconstruct).", lower_bound=1.0, upper_bound=1000.0,
                           flag_values=fv)

    # ---- inference --------------------------------------------------------------------------
    def inference(self, config_name: str, config, model, seed: Optional[int] = None,
                  batch_size: int = 8):
        from musicgen.trained_model import TrainedModel
        return TrainedModel(config, model=model, batch_size=batch_size, seed=seed,
                            config_name=config_name)


VAE = VAEFamily()
