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
    sources, skipped = readers.read_folder(str(tmp_path))
    assert [s.metadata["filename"] for s in sources] == ["a.mid", "sub/b.MIDI", "sub/deeper/c.midi"]
    assert {s.split for s in sources} == {"all"} and skipped == []
    assert sources[1].metadata["title"] == "b"
    assert sources[0].metadata["collection_name"] == tmp_path.name


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
