"""Dataset readers: MAESTRO (v2 CSV, v3 JSON), Groove info.csv, folders; filters, skips, metadata."""
import collections
import os

import pytest
from conftest import SHARED_DATA
from note_seq.protobuf import music_pb2

import pipeline_testlib as lib
from musicgen.datasets import readers


def _names(sources):
    return sorted(os.path.basename(s.path) for s in sources)


@pytest.fixture(scope="module")
def maestro_v2(tmp_path_factory):
    return lib.make_maestro_dir(str(tmp_path_factory.mktemp("maestro_v2")), "v2")


@pytest.fixture(scope="module")
def maestro_v3(tmp_path_factory):
    return lib.make_maestro_dir(str(tmp_path_factory.mktemp("maestro_v3")), "v3")


@pytest.fixture(scope="module")
def groove(tmp_path_factory):
    return lib.make_groove_dir(str(tmp_path_factory.mktemp("groove")))


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_maestro_all_rows_splits_and_skips(version, maestro_v2, maestro_v3):
    root = maestro_v2 if version == "v2" else maestro_v3
    sources, skipped = readers.read_maestro(root)
    assert collections.Counter(s.split for s in sources) == {"train": 3, "validation": 1, "test": 1}
    assert skipped == sorted([
        (os.path.join(root, "2004/missing_schubert.midi"),
         f"listed in {os.path.basename(readers.find_maestro_metadata(root))} but the file is missing"),
        (os.path.join(root, lib.MAESTRO_UNLISTED),
         f"MIDI file not listed in {os.path.basename(readers.find_maestro_metadata(root))}")])
    meta = next(s.metadata for s in sources if s.path.endswith("bach_busoni.midi"))
    assert meta["composers"] == ["Johann Sebastian Bach", "Ferruccio Busoni"]
    assert meta["title"] == "Chaconne" and meta["year"] == 2006 and meta["duration"] == 400.0
    assert meta["filename"] == "2006/bach_busoni.midi" and meta["collection_name"] == "maestro"
    assert meta["id"].startswith("/id/midi/maestro/") and len(meta["id"]) == len("/id/midi/maestro/") + 40


def test_maestro_v2_and_v3_give_identical_sources(maestro_v2, maestro_v3):
    a, _ = readers.read_maestro(maestro_v2)
    b, _ = readers.read_maestro(maestro_v3)
    assert [(s.split, s.metadata) for s in a] == [(s.split, s.metadata) for s in b]


def test_maestro_filters(maestro_v3):
    def names(**filters):
        return _names(readers.read_maestro(maestro_v3, **filters)[0])

    assert names(composer="CHOPIN") == ["chopin_ballade.midi", "chopin_etude.midi"]
    assert names(composer="busoni") == ["bach_busoni.midi"]
    assert names(composer="liszt,debussy") == ["debussy.midi", "liszt.midi"]
    assert names(year=2008) == ["debussy.midi", "liszt.midi"]
    assert names(year=["2004"], composer="chopin") == ["chopin_ballade.midi"]
    assert names(split="test") == ["debussy.midi"]
    assert names(min_duration=60, max_duration=100) == ["chopin_etude.midi", "liszt.midi"]
    assert names(composer="nobody") == []
    # A filtered-out row whose file is missing is not reported; an unlisted file still is.
    assert [os.path.basename(p) for p, _ in readers.read_maestro(maestro_v3, split="train")[1]] == [
        "not_in_metadata.midi"]


def test_groove_filters(groove):
    def names(**filters):
        return [s.metadata["title"] for s in readers.read_groove(groove, **filters)[0]]

    assert len(names()) == 5
    assert names(drummer="drummer2") == ["drummer2/eval_session/5", "drummer2/session1/4"]
    assert sorted(names(style="funk")) == ["drummer1/session1/1", "drummer1/session1/2",
                                           "drummer2/eval_session/5"]
    assert names(style="FUNK/groove1") == ["drummer1/session1/1"]
    assert names(style="groove1") == []  # the secondary part alone is not a style
    assert sorted(names(min_bpm=95, max_bpm=120)) == ["drummer1/session1/1", "drummer1/session1/2",
                                                      "drummer2/eval_session/5"]
    assert names(beat_type="fill") == ["drummer1/session1/2"]
    assert names(time_signature="3/4") == ["drummer2/session1/4"]
    assert names(split="test") == ["drummer2/eval_session/5"]
    assert names(max_duration=5.0) == ["drummer1/session1/2"]


def test_groove_metadata_skips_and_note_sequence_fields(groove):
    sources, skipped = readers.read_groove(groove)
    assert collections.Counter(s.split for s in sources) == {"train": 3, "validation": 1, "test": 1}
    assert [(os.path.relpath(p, groove), r) for p, r in skipped] == [
        (lib.groove_filename(lib.GROOVE_ROWS[-1]), "listed in info.csv but the file is missing"),
        (lib.GROOVE_UNLISTED, "MIDI file not listed in info.csv")]
    meta = sources[0].metadata
    assert (meta["drummer"], meta["style"], meta["bpm"], meta["time_signature"]) == (
        "drummer1", "funk/groove1", 100, "4-4")
    ns = readers.apply_metadata(music_pb2.NoteSequence(), meta)
    assert ns.id == meta["id"] and ns.filename == meta["filename"] and ns.collection_name == "groove"
    assert ns.sequence_metadata.title == "drummer1/session1/1"
    assert ns.sequence_metadata.artist == "drummer1"
    assert list(ns.sequence_metadata.genre) == ["funk", "funk/groove1"]


def test_folder_reader_recursive(tmp_path):
    for rel in ("a.mid", "sub/b.MIDI", "sub/deeper/c.midi"):
        lib.write_piano_midi(str(tmp_path / rel), 2)
    (tmp_path / "notes.txt").write_text("not midi")
    sources, skipped = readers.read_folder(str(tmp_path), split_by="none")
    assert [s.metadata["filename"] for s in sources] == ["a.mid", "sub/b.MIDI", "sub/deeper/c.midi"]
    assert {s.split for s in sources} == {"all"} and skipped == []
    assert sources[1].metadata["title"] == "b"
    assert sources[0].metadata["collection_name"] == tmp_path.name
    hashed, _ = readers.read_folder(str(tmp_path))  # default: hash split, metadata agrees
    assert [s.path for s in hashed] == [s.path for s in sources]
    for s in hashed:
        assert s.split == s.metadata["split"] == readers.hash_split(s.metadata["filename"], 0.1, 0.1)
        assert s.metadata["id"] == readers.note_sequence_id(s.metadata["filename"], tmp_path.name)


def _empty_midi_names(folder, names):
    """The folder reader only lists files: empty .mid files are enough to test the split."""
    for name in names:
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()


def _splits(folder, **kw):
    return {s.metadata["filename"]: s.split for s in readers.read_folder(folder, **kw)[0]}


def test_hash_split_is_pinned_and_uses_the_posix_relative_path():
    import hashlib
    # Pinned: changing the hash would move files between splits of every existing dataset.
    u = int.from_bytes(hashlib.sha1(b"reels/reelsa-c1.mid").digest()[:8], "big") / 2 ** 64
    assert readers.hash_fraction("reels/reelsa-c1.mid") == u
    assert readers.hash_fraction(os.path.join("reels", "reelsa-c1.mid")) == u
    splits = [readers.hash_split(f"tune{i}.mid") for i in range(16)]
    assert [i for i, s in enumerate(splits) if s != "train"] == [1, 12, 15]
    assert (splits[1], splits[12], splits[15]) == ("validation", "validation", "test")
    assert readers.hash_split("x.mid", 0.0, 0.0) == "train"


def test_hash_split_is_deterministic_stable_and_respects_ratios(tmp_path):
    first = [f"tunes/tune{i:03d}.mid" for i in range(200)]
    folder = str(tmp_path / "midi")
    _empty_midi_names(folder, first)
    before = _splits(folder)
    assert before == _splits(folder)  # deterministic
    counts = collections.Counter(before.values())
    assert sum(counts.values()) == 200
    for split, fraction in (("validation", 0.1), ("test", 0.1), ("train", 0.8)):
        sd = (200 * fraction * (1 - fraction)) ** 0.5
        assert abs(counts[split] - 200 * fraction) <= 4 * sd, counts
    # other ratios
    counts = collections.Counter(_splits(folder, validation_fraction=0.3, test_fraction=0.25).values())
    for split, fraction in (("validation", 0.3), ("test", 0.25), ("train", 0.45)):
        assert abs(counts[split] - 200 * fraction) <= 4 * (200 * fraction * (1 - fraction)) ** 0.5
    # adding and removing other files moves no file
    _empty_midi_names(folder, [f"more/new{i}.mid" for i in range(100)] + ["tunes/tune0000.midi"])
    for name in first[:20]:
        os.remove(os.path.join(folder, name))
    after = _splits(folder)
    assert len(after) == 200 - 20 + 101
    assert {k: after[k] for k in first[20:]} == {k: before[k] for k in first[20:]}
    # raising one fraction only takes files out of train
    more_test = _splits(folder, test_fraction=0.3)
    moved = {k: (after[k], more_test[k]) for k in after if after[k] != more_test[k]}
    assert moved and set(moved.values()) == {("train", "test")}
    # 0 / 0: everything is train
    assert set(_splits(folder, validation_fraction=0, test_fraction=0).values()) == {"train"}
    # the split filter
    only = _splits(folder, split="validation")
    assert only and set(only.values()) == {"validation"}
    assert only == {k: v for k, v in after.items() if v == "validation"}


def test_split_folders_decide_the_split(tmp_path):
    folder = str(tmp_path / "data")
    _empty_midi_names(folder, ["train/a.mid", "train/deep/b.mid", "Valid/c.mid", "dev/d.mid",
                               "test/e.MID", "stray.mid", "other/f.mid"])
    assert readers.split_folders(folder) == {"Valid": "validation", "dev": "validation",
                                             "test": "test", "train": "train"}
    assert readers.folder_split_method(folder) == "folders"
    sources, skipped = readers.read_folder(folder)
    assert {s.metadata["filename"]: s.split for s in sources} == {
        "train/a.mid": "train", "train/deep/b.mid": "train", "Valid/c.mid": "validation",
        "dev/d.mid": "validation", "test/e.MID": "test"}
    assert all(s.metadata["split"] == s.split for s in sources)
    assert [os.path.relpath(p, folder) for p, _ in skipped] == ["other/f.mid", "stray.mid"]
    assert all("outside the split folders (Valid/, dev/, test/, train/)" in r for _, r in skipped)
    # --split_by=hash ignores the folders and keeps every file
    hashed = _splits(folder, split_by="hash")
    assert len(hashed) == 7
    assert hashed == {k: readers.hash_split(k) for k in hashed}
    with pytest.raises(ValueError, match="--split_by=folders: .* has no top-level split folder"):
        readers.read_folder(str(tmp_path / "data" / "other"), split_by="folders")
    assert readers.folder_split_method(str(tmp_path / "data" / "other")) == "hash"


@pytest.mark.parametrize("kw, message", [
    ({"validation_fraction": -0.1}, r"--validation_fraction=-0.1: must be a number with 0 <="),
    ({"test_fraction": 1.0}, r"--test_fraction=1.0: must be"),
    ({"test_fraction": float("nan")}, r"--test_fraction=nan: must be"),
    ({"validation_fraction": 0.6, "test_fraction": 0.4}, r"--validation_fraction=0.6 \+ "
                                                          r"--test_fraction=0.4 = 1: the sum must be < 1"),
    ({"split_by": "random"}, r"--split_by='random': expected one of auto, hash, folders, none"),
    ({"split_by": "none", "split": "train"}, r"--split cannot select files with --split_by=none"),
])
def test_folder_split_options_are_checked(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        readers.read_folder(str(tmp_path), **kw)


def test_reader_errors_name_the_problem(tmp_path, groove):
    with pytest.raises(FileNotFoundError, match="maestro-v"):
        readers.read_maestro(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="info.csv"):
        readers.read_groove(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not a directory"):
        readers.read_folder(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        readers.read_groove(groove, split="dev")


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isdir(SHARED_DATA), reason="needs /work/shared/data")
def test_shared_data_split_counts():
    groove, skipped = readers.read_groove(os.path.join(SHARED_DATA, "groove"))
    assert collections.Counter(s.split for s in groove) == {"train": 897, "validation": 124,
                                                            "test": 129}
    assert skipped == []
    maestro, skipped = readers.read_maestro(os.path.join(SHARED_DATA, "maestro-v2.0.0"))
    assert collections.Counter(s.split for s in maestro) == {"train": 206, "validation": 24,
                                                             "test": 40}
    assert skipped == []
