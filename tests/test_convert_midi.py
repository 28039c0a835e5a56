"""convert_midi job: counts, metadata, bad input, manifest, idempotence, atomic shards, Beam runner."""
import collections
import glob
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED_DATA, TEST_DATA

import pipeline_testlib as lib
from musicgen import midi_io
from musicgen.datasets import tfrecord
from pipelines import convert_midi
from pipelines import runner as runner_lib


def _shards(out):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "*.tfrecord")))


def _read_bytes(out):
    return {name: open(os.path.join(out, name), "rb").read() for name in _shards(out)}


@pytest.fixture(scope="module")
def groove(tmp_path_factory):
    return lib.make_groove_dir(str(tmp_path_factory.mktemp("groove")))


@pytest.fixture(scope="module")
def groove_out(tmp_path_factory, groove):
    out = str(tmp_path_factory.mktemp("groove_ns"))
    return out, convert_midi.convert(out, "groove", groove, num_workers=2)


def test_groove_counts_metadata_and_read_back(groove, groove_out):
    out, manifest = groove_out
    assert manifest["counts"] == {"train": 3, "validation": 1, "test": 1} and manifest["total"] == 5
    assert _shards(out) == ["test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord",
                            "validation-00000-of-00001.tfrecord"]
    seqs = list(tfrecord.iterate_note_sequences(os.path.join(out, "train-*.tfrecord")))
    assert [ns.sequence_metadata.title for ns in seqs] == [
        "drummer1/session1/1", "drummer1/session1/2", "drummer1/session2/3"]
    first = seqs[0]
    direct = midi_io.midi_file_to_note_sequence(os.path.join(groove, first.filename))
    assert len(first.notes) == len(direct.notes) == 32
    assert [n.start_time for n in first.notes] == [n.start_time for n in direct.notes]
    assert first.collection_name == "groove" and first.id.startswith("/id/midi/groove/")
    assert first.sequence_metadata.artist == "drummer1"
    assert list(first.sequence_metadata.genre) == ["funk", "funk/groove1"]


def test_real_groove_files_with_filters(tmp_path):
    from note_seq import midi_io as ns_midi_io
    groove = os.path.join(TEST_DATA, "groove")
    manifest = convert_midi.convert(str(tmp_path), "groove", groove, num_workers=1,
                                    filters={"style": ["latin"], "min_bpm": 150})
    assert manifest["counts"] == {"train": 1, "validation": 1} and manifest["num_skipped"] == 0
    seqs = list(tfrecord.iterate_note_sequences(str(tmp_path / "*.tfrecord")))
    assert sorted(ns.sequence_metadata.genre[1] for ns in seqs) == [
        "latin/chacarera", "latin/venezuelan-merengue"]
    for ns in seqs:  # the job's NoteSequence notes are note_seq's
        ref = ns_midi_io.midi_file_to_note_sequence(os.path.join(groove, ns.filename))
        assert [(n.pitch, n.velocity, n.start_time, n.end_time) for n in ns.notes] == [
            (n.pitch, n.velocity, n.start_time, n.end_time) for n in ref.notes]
        assert len(ns.notes) > 100


def test_manifest_lists_reader_skips_arguments_versions(groove_out):
    out, _ = groove_out
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    reasons = {os.path.basename(s["path"]): s["reason"] for s in manifest["skipped"]}
    assert reasons == {"6_latin-samba_110_beat_4-4.mid": "listed in info.csv but the file is missing",
                       "99_extra_120_beat_4-4.mid": "MIDI file not listed in info.csv"}
    assert manifest["num_skipped"] == 2
    assert manifest["arguments"]["dataset"] == "groove" and manifest["arguments"]["num_workers"] == 2
    assert manifest["versions"]["note-seq"] == "0.0.5" and "numba" in manifest["versions"]
    assert manifest["timing"]["seconds"] > 0
    # notes: 8 eighth notes per 4/4 bar, 6 per 3/4 bar
    expected = sum(bars * int(ts.split("-")[0]) * 2 for *_, ts, _, bars in lib.GROOVE_ROWS)
    assert manifest["stats"]["notes"] == expected


def test_bad_files_are_skipped_with_reasons_and_job_goes_on(tmp_path):
    folder = str(tmp_path / "midi")
    expected = lib.write_bad_files(folder)
    lib.write_piano_midi(os.path.join(folder, "good.mid"), 5)
    # converted, but one note never closes: dropped as note_seq drops it, and listed
    unclosed = os.path.join(folder, "unclosed.mid")
    with open(unclosed, "wb") as f:
        f.write(lib.BAD_FILES["truncated.mid"][0][:14] + b"MTrk\0\0\0\x10"
                b"\x00\x90\x3c\x50\x60\x80\x3c\x40\x00\x90\x3e\x50\x00\xff\x2f\x00")
    manifest = convert_midi.convert(str(tmp_path / "out"), "dir", folder, num_workers=2,
                                    split_by="none")  # the old single split
    assert manifest["counts"] == {"all": 2}
    assert manifest["num_altered"] == 1 and manifest["altered"] == [
        {"path": unclosed, "changes": {"notes never closed (open at the end of their track)": 1}}]
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == set(expected)
    for path, fragment in expected.items():
        assert fragment in reasons[path], (path, reasons[path])
        if fragment != "no notes":  # midi_io's messages name the file
            assert path in reasons[path]
    ns = {n.filename: n for n in
          tfrecord.iterate_note_sequences(str(tmp_path / "out" / "all-*.tfrecord"))}
    assert len(ns["good.mid"].notes) == 5 and len(ns["unclosed.mid"].notes) == 1


def test_nothing_converted_exits_non_zero_from_the_cli(tmp_path):
    folder = str(tmp_path / "midi")
    lib.write_bad_files(folder)
    out = str(tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "pipelines.convert_midi", "--dataset=dir",
                           f"--input_dir={folder}", f"--output_dir={out}", "--num_workers=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "wrote nothing; skipped 8" in proc.stderr
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        assert json.load(f)["num_skipped"] == len(lib.BAD_FILES)


def _melody_folder(folder, names):
    for i, name in enumerate(names):
        lib.write_piano_midi(os.path.join(folder, name), 4 + i % 5, start_pitch=60 + i % 7)
    return folder


def test_dir_is_hash_split_into_train_validation_test_by_default(tmp_path):
    names = [f"set{i % 3}/tune{i:02d}.mid" for i in range(40)]
    folder = _melody_folder(str(tmp_path / "melodies"), names)
    out = str(tmp_path / "out")
    manifest = convert_midi.convert(out, "dir", folder, num_workers=1, validation_fraction=0.2,
                                    test_fraction=0.2)
    expected = {n: lib_split for n, lib_split in
                ((n, convert_midi.readers.hash_split(n, 0.2, 0.2)) for n in names)}
    assert manifest["counts"] == dict(sorted(collections.Counter(expected.values()).items()))
    assert set(manifest["counts"]) == {"train", "validation", "test"} and manifest["total"] == 40
    for split in ("train", "validation", "test"):
        seqs = list(tfrecord.iterate_note_sequences(os.path.join(out, f"{split}-*")))
        assert {ns.filename for ns in seqs} == {n for n, s in expected.items() if s == split}
    (info,) = manifest["inputs"]
    assert info["split_by"] == "hash" and info["validation_fraction"] == 0.2
    assert info["counts"] == info["selected"] == {
        s: manifest["counts"][s] for s in ("train", "validation", "test")}


@pytest.mark.parametrize("args, message", [
    (["--validation_fraction=1.5"], "--validation_fraction=1.5: must be a number with 0 <="),
    (["--validation_fraction=0.5", "--test_fraction=0.5"],
     "--validation_fraction=0.5 + --test_fraction=0.5 = 1: the sum must be < 1"),
])
def test_bad_fractions_are_one_error_line_from_the_cli(tmp_path, args, message):
    folder = _melody_folder(str(tmp_path / "m"), ["a.mid"])
    proc = subprocess.run([sys.executable, "-m", "pipelines.convert_midi", "--dataset=dir",
                           f"--input_dir={folder}", f"--output_dir={tmp_path / 'out'}", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not os.path.exists(tmp_path / "out")


def test_parse_inputs():
    P = convert_midi.Input
    assert convert_midi.parse_inputs(["maestro:/d/maestro-v2.0.0,dir:~/a,b/midi", "jazz=dir:/x"]) == [
        P("maestro", "/d/maestro-v2.0.0"), P("dir", os.path.expanduser("~/a,b/midi")),
        P("dir", "/x", "jazz")]
    assert P("dir", "/data/melody/").collection == "melody" and P("groove", "/g").collection == "groove"
    with pytest.raises(ValueError, match="unknown dataset 'midi'; expected one of maestro, groove"):
        convert_midi.parse_inputs("midi:/x")
    with pytest.raises(ValueError, match=r"expected \[NAME=\]DATASET:PATH"):
        convert_midi.parse_inputs("/just/a/path")


def test_multi_input_job_accounts_for_every_input(tmp_path, tmp_path_factory):
    maestro = lib.make_maestro_dir(str(tmp_path / "maestro"), "v2")
    groove = os.path.join(TEST_DATA, "groove")  # 5 real Groove files
    folder = str(tmp_path / "melody")
    _melody_folder(folder, [f"tune{i}.mid" for i in range(12)])
    lib.write_bad_files(os.path.join(folder, "bad"))
    split_folder = str(tmp_path / "folk")
    _melody_folder(split_folder, ["train/a.mid", "train/b.mid", "val/c.mid", "test/d.mid", "loose.mid"])
    inputs = [f"maestro:{maestro},groove:{groove}", f"dir:{folder}", f"folk=dir:{split_folder}"]
    out = str(tmp_path / "out")
    manifest = convert_midi.convert(out, inputs=inputs, num_workers=2,
                                    filters={"composer": "chopin", "drummer": "drummer1"})
    by_name = {i["name"]: i for i in manifest["inputs"]}
    assert list(by_name) == ["maestro", "groove", "melody", "folk"]
    # --composer applied to MAESTRO only, --drummer to Groove only; the folders stay whole
    assert by_name["maestro"]["filters"] == {"composer": "chopin"}
    assert by_name["maestro"]["selected"] == {"train": 2} and by_name["maestro"]["filtered_out"] == 3
    assert by_name["groove"]["filters"] == {"drummer": "drummer1"}
    assert by_name["groove"]["selected"] == {"validation": 2, "test": 1}
    assert by_name["melody"]["filters"] == {} and sum(by_name["melody"]["selected"].values()) == 20
    assert by_name["melody"]["split_by"] == "hash"
    assert by_name["folk"]["split_by"] == "folders"
    assert by_name["folk"]["selected"] == {"train": 2, "validation": 1, "test": 1}
    # every input: selected == converted + files that failed; reader skips are named per input
    skips = collections.Counter(s["input"] for s in manifest["skipped"])
    assert skips == {"maestro": 1, "melody": 8, "folk": 1}  # unlisted file, BAD_FILES, loose.mid
    for info in manifest["inputs"]:
        assert info["num_skipped"] == skips.get(info["name"], 0)
        failed = sum(1 for s in manifest["skipped"] if s["input"] == info["name"]
                     and "not listed" not in s["reason"] and "outside the split" not in s["reason"])
        assert sum(info["selected"].values()) == sum(info["counts"].values()) + failed
    for split, n in manifest["counts"].items():
        assert n == sum(i["counts"].get(split, 0) for i in manifest["inputs"])
    assert manifest["total"] == 2 + 3 + 12 + 4 and manifest["num_skipped"] == 10
    # collection names and ids stay distinct per input; the inputs are interleaved
    seqs = [ns for split in ("train", "validation", "test")
            for ns in tfrecord.iterate_note_sequences(os.path.join(out, f"{split}-*"))]
    assert collections.Counter(ns.collection_name for ns in seqs) == {
        "maestro": 2, "groove": 3, "melody": 12, "folk": 4}
    assert len({ns.id for ns in seqs}) == len(seqs)
    train = [ns.collection_name for ns in tfrecord.iterate_note_sequences(os.path.join(out, "train-*"))]
    order = list(by_name)
    assert train != sorted(train, key=order.index)  # not one input after the other
    assert train[0] == "maestro" and "maestro" in train[len(train) // 2:]  # its 2nd file at 3/4
    # the same job again: byte-identical shards
    again = str(tmp_path / "again")
    convert_midi.convert(again, inputs=inputs, num_workers=1,
                         filters={"composer": "chopin", "drummer": "drummer1"})
    assert _read_bytes(again) == _read_bytes(out)


def test_multi_input_errors(tmp_path):
    a, b = tmp_path / "a" / "melody", tmp_path / "b" / "melody"
    _melody_folder(str(a), ["x.mid"])
    _melody_folder(str(b), ["y.mid"])
    with pytest.raises(ValueError, match="both named 'melody'.*name one: --input=NAME=dir:"):
        convert_midi.convert(str(tmp_path / "o"), inputs=[f"dir:{a},dir:{b}"])
    manifest = convert_midi.convert(str(tmp_path / "o"), inputs=[f"dir:{a}", f"other=dir:{b}"],
                                    num_workers=1)
    assert [i["name"] for i in manifest["inputs"]] == ["melody", "other"]
    with pytest.raises(ValueError,
                       match=r"no input's dataset \(dir\) has filter\(s\) --composer; valid: --split"):
        convert_midi.convert(str(tmp_path / "o"), inputs=[f"dir:{a},other=dir:{b}"],
                             filters={"composer": "bach"})
    with pytest.raises(ValueError, match="--input and --input_dir: use one"):
        convert_midi.convert(str(tmp_path / "o"), "dir", str(a), inputs=[f"dir:{b}"])
    groove = os.path.join(TEST_DATA, "groove")
    with pytest.raises(ValueError, match="--split_by=hash only applies to --dataset=dir inputs"):
        convert_midi.convert(str(tmp_path / "o"), "groove", groove, split_by="hash")
    with pytest.raises(ValueError, match="--test_fraction only applies to --dataset=dir inputs split"):
        convert_midi.convert(str(tmp_path / "o"), "groove", groove, test_fraction=0.2)


def test_filter_flag_of_another_dataset_is_an_error(groove):
    with pytest.raises(ValueError, match="--dataset=groove has no filter.*--composer"):
        convert_midi.convert("/tmp/unused", "groove", groove, filters={"composer": ["chopin"]})


def test_rerun_is_byte_identical_and_removes_stale_shards(tmp_path, groove, groove_out):
    out, _ = groove_out
    again = str(tmp_path / "again")
    convert_midi.convert(again, "groove", groove, num_workers=1)
    assert _read_bytes(again) == _read_bytes(out)  # 1 worker == 2 workers, byte for byte
    # a stale shard set of another shard count, and a temporary left by a killed job
    open(os.path.join(again, "train-00000-of-00007.tfrecord"), "wb").close()
    open(os.path.join(again, ".tmp-dead-train-00000-of-00001.tfrecord"), "wb").close()
    manifest = convert_midi.convert(again, "groove", groove, num_workers=2, num_shards=2)
    assert _shards(again) == [f"{s}-0000{i}-of-00002.tfrecord" for s in ("test", "train", "validation")
                              for i in range(2)]
    assert not [n for n in os.listdir(again) if n.startswith(".tmp-")]
    assert manifest["counts"] == {"train": 3, "validation": 1, "test": 1}
    assert sum(1 for _ in tfrecord.iterate_records(os.path.join(again, "train-*"))) == 3


def _explode(item):
    if item == 3:
        raise KeyboardInterrupt("killed")
    return runner_lib.Result("train", records=[bytes([item])])


def _die_on_two(item):
    if item == 2:
        os._exit(3)
    return runner_lib.Result("train", records=[bytes([item])])


def _job(process):
    return runner_lib.Job("t", process, item_split=lambda i: "train", item_name=lambda i: f"item{i}")


def test_shards_are_atomic_when_the_job_dies(tmp_path):
    out = str(tmp_path)
    open(os.path.join(out, "train-00000-of-00001.tfrecord"), "wb").write(b"old complete shard")
    with pytest.raises(KeyboardInterrupt):
        runner_lib.run_local(_job(_explode), range(6), out, {"train": 1}, num_workers=1)
    assert os.listdir(out) == ["train-00000-of-00001.tfrecord"]  # no half shard, old one intact
    writer = tfrecord.ShardedWriter(out, "valid", 2)
    writer.write(b"x")  # a process killed now leaves only hidden temporaries
    assert glob.glob(os.path.join(out, "valid-*")) == []
    writer.close()
    assert [tfrecord.count_records(p) for p in sorted(glob.glob(os.path.join(out, "valid-*")))] == [1, 0]


def _echo(item):
    return runner_lib.Result("train", records=[str(item).encode()])


def test_local_runner_streams_in_order_with_bounded_look_ahead():
    import itertools
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield i

    results = runner_lib.ordered_results(_job(_echo), endless(), num_workers=2, chunk_size=3, window=4)
    first = [r.records[0] for r in itertools.islice(results, 10)]
    results.close()
    assert first == [tfrecord.frame_record(str(i).encode()) for i in range(10)]
    assert len(pulled) <= 10 + 4 * 3 + 3  # never more than the window ahead of the consumer


def test_a_crashing_worker_becomes_a_skip(tmp_path):
    summary = runner_lib.run_local(_job(_die_on_two), range(5), str(tmp_path), {"train": 1},
                                   num_workers=2)
    assert summary.counts == {"train": 4}
    assert summary.skipped == [{"path": "item2", "reason": "worker process died while processing it "
                                "(exit code killed); input crashes the parser"}]
    assert list(tfrecord.iterate_records(str(tmp_path / "train-*"))) == [b"\0", b"\1", b"\3", b"\4"]


def test_record_framing_matches_tensorflow(tmp_path):
    import tensorflow as tf
    records = [b"", b"a", os.urandom(1000)]
    ours, theirs = str(tmp_path / "ours.tfrecord"), str(tmp_path / "tf.tfrecord")
    tfrecord.write_records(ours, records)
    with tf.io.TFRecordWriter(theirs) as w:
        for r in records:
            w.write(r)
    assert open(ours, "rb").read() == open(theirs, "rb").read()
    assert list(tfrecord.note_sequence_dataset(ours).as_numpy_iterator()) == records
    with open(ours, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        f.write(b"xyz")
    with pytest.raises(ValueError, match="CRC mismatch"):
        list(tfrecord.read_records(ours))


def test_beam_runner_gives_the_same_records(tmp_path, groove, groove_out):
    out, local = groove_out
    beam_out = str(tmp_path / "beam")
    manifest = convert_midi.convert(beam_out, "groove", groove, runner="beam")
    assert manifest["counts"] == local["counts"] and manifest["runner"] == "beam"
    assert manifest["skipped"] == local["skipped"]
    assert manifest["stats"] == local["stats"]
    assert _shards(beam_out) == _shards(out)
    for name in _shards(out):  # same records (Beam does not keep their order)
        assert sorted(tfrecord.read_records(os.path.join(beam_out, name))) == sorted(
            tfrecord.read_records(os.path.join(out, name)))
    assert not [n for n in os.listdir(beam_out) if n.startswith(".tmp-")]


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isdir(SHARED_DATA), reason="needs /work/shared/data")
def test_shared_maestro_subset_counts(tmp_path):
    manifest = convert_midi.convert(str(tmp_path), "maestro",
                                    os.path.join(SHARED_DATA, "maestro-v2.0.0"), num_workers=2)
    assert manifest["counts"] == {"train": 206, "validation": 24, "test": 40}
    assert manifest["num_skipped"] == 0
    counts = collections.Counter(ns.collection_name for ns in
                                 tfrecord.iterate_note_sequences(str(tmp_path / "validation-*")))
    assert counts == {"maestro": 24}


def _tiny_tfds_groove(root):
    """Prepare TFDS's real `groove/full-midionly` builder offline from a zip of generated files.

    The zip is built here, so its checksum is not the registered one: only while preparing, the
    builder's url_infos are pointed at this zip's size and sha256. The job then reads the prepared
    dataset through the ordinary, unpatched `tfds.builder(...).as_dataset` path.
    """
    import hashlib
    import zipfile

    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import checksums
    from tensorflow_datasets.datasets.groove import groove_dataset_builder as gb

    source = lib.make_groove_dir(os.path.join(root, "src", "groove"), complete=True)
    data_dir = os.path.join(root, "tfds")
    manual = os.path.join(data_dir, "downloads", "manual")
    os.makedirs(manual)
    zip_path = os.path.join(manual, "groove-v1.0.0-midionly.zip")
    with zipfile.ZipFile(zip_path, "w") as z:
        for folder, _, files in os.walk(source):
            for name in files:
                path = os.path.join(folder, name)
                z.write(path, os.path.relpath(path, os.path.dirname(source)))
    data = open(zip_path, "rb").read()
    gb.Builder.url_infos = {gb._DOWNLOAD_URL_MIDI_ONLY: checksums.UrlInfo(
        size=len(data), checksum=hashlib.sha256(data).hexdigest(), filename=os.path.basename(zip_path))}
    try:
        tfds.builder("groove/full-midionly", data_dir=data_dir).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual))
    finally:
        del gb.Builder.url_infos
    return source, data_dir


def test_tfds_groove_source(tmp_path, groove_out):
    with pytest.raises(FileNotFoundError, match="never downloads.*groove-v1.0.0-midionly.zip"):
        convert_midi.convert(str(tmp_path / "x"), tfds_name="groove/full-midionly",
                             tfds_data_dir=str(tmp_path))
    source, data_dir = _tiny_tfds_groove(str(tmp_path))
    out = str(tmp_path / "out")
    manifest = convert_midi.convert(out, tfds_name="groove/full-midionly", tfds_data_dir=data_dir,
                                    filters={"style": "funk"}, num_workers=2)
    assert manifest["counts"] == {"train": 2, "validation": 0, "test": 1}
    (info,) = manifest["inputs"]
    assert (info["name"], info["dataset"], info["counts"]) == ("groove", "tfds", {"train": 2, "test": 1})
    by_title = {ns.sequence_metadata.title: ns for ns in tfrecord.iterate_note_sequences(out + "/*.tfrecord")}
    assert sorted(by_title) == ["drummer1/session1/1", "drummer1/session1/2", "drummer2/eval_session/5"]
    ns = by_title["drummer1/session1/1"]
    assert ns.sequence_metadata.artist == "drummer1"
    assert list(ns.sequence_metadata.genre) == ["funk", "funk/groove1"]
    direct = midi_io.midi_file_to_note_sequence(
        os.path.join(source, lib.groove_filename(lib.GROOVE_ROWS[0])))
    assert [n.pitch for n in ns.notes] == [n.pitch for n in direct.notes]
