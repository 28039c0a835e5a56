"""TFRecord shard IO for NoteSequences (and any serialized records) without importing TensorFlow.

Record framing is TFRecord's own: ``uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)``, with CRC-32C from crcmod's C extension (installed with
apache-beam[tfrecord]). Files are byte-identical to ``tf.io.TFRecordWriter`` output, read by
``tf.data.TFRecordDataset``, and writing skips the 5 s ``import tensorflow`` (see bench/convert.py).

Shards are named ``<split>-NNNNN-of-MMMMM.tfrecord``. :class:`ShardedWriter` writes each shard to a
hidden temporary name in the same directory, fsyncs it and ``os.replace``-s it into place on
:meth:`~ShardedWriter.close`, so a killed job never leaves a half shard that a reader's glob would take.

Example:

>>> with ShardedWriter("/tmp/out", "train", num_shards=2) as w:   # doctest: +SKIP
...     w.write(ns.SerializeToString())
>>> for ns in iterate_note_sequences("/tmp/out/train-*.tfrecord"):  # doctest: +SKIP
...     print(ns.id)
"""
from __future__ import annotations

import glob
import os
import re
import struct
import uuid
from typing import Iterable, Iterator, Optional

import crcmod.predefined

_crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
_LEN = struct.Struct("<Q")
_CRC = struct.Struct("<I")
SHARD_RE = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$")
TMP_PREFIX = ".tmp-"


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One record in TFRecord framing."""
    header = _LEN.pack(len(data))
    return b"".join((header, _CRC.pack(_masked_crc(header)), data, _CRC.pack(_masked_crc(data))))


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


class RecordFileWriter:
    """Writes records to one file in TFRecord framing (uncompressed)."""

    def __init__(self, path: str):
        self.path = path
        self._f = open(path, "wb")

    def write(self, data: bytes) -> None:
        self._f.write(frame_record(data))

    def write_framed(self, framed: bytes) -> None:
        """Write a record already framed by :func:`frame_record` (e.g. in a worker process)."""
        self._f.write(framed)

    def close(self, fsync: bool = True) -> None:
        if self._f.closed:
            return
        self._f.flush()
        if fsync:
            os.fsync(self._f.fileno())
        self._f.close()


def read_records(path: str, check_crc: bool = True) -> Iterator[bytes]:
    """Records of one uncompressed TFRecord file; raises ValueError naming the file when corrupt."""
    with open(path, "rb") as f:
        while True:
            header = f.read(8)
            if not header:
                return
            head_crc, = _CRC.unpack(f.read(4) or b"\0\0\0\0")
            if len(header) < 8 or (check_crc and head_crc != _masked_crc(header)):
                raise ValueError(f"{path}: corrupt TFRecord length header at byte {f.tell() - 12}")
            length, = _LEN.unpack(header)
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"{path}: truncated TFRecord (record of {length} bytes cut short)")
            if check_crc and _CRC.unpack(footer)[0] != _masked_crc(data):
                raise ValueError(f"{path}: TFRecord data CRC mismatch at byte {f.tell() - length - 4}")
            yield data


def expand_pattern(pattern) -> list:
    """Sorted files matching a glob pattern, a comma-separated list of patterns or a list of them."""
    patterns = pattern.split(",") if isinstance(pattern, str) else list(pattern)
    files = sorted({f for p in patterns for f in glob.glob(p.strip())})
    if not files:
        raise FileNotFoundError(f"no files match {pattern!r}")
    return files


def iterate_records(pattern) -> Iterator[bytes]:
    """Serialized records of every file matching ``pattern``, file by file (streaming)."""
    for path in expand_pattern(pattern):
        yield from read_records(path)


def iterate_note_sequences(pattern) -> Iterator:
    """NoteSequence protos from TFRecord shards matching ``pattern``, one at a time."""
    from note_seq.protobuf import music_pb2
    for data in iterate_records(pattern):
        yield music_pb2.NoteSequence.FromString(data)


def note_sequence_dataset(pattern, shuffle_files: bool = False):
    """A ``tf.data.Dataset`` of serialized NoteSequence strings from shards matching ``pattern``."""
    import tensorflow as tf
    files = expand_pattern(pattern)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        ds = ds.shuffle(len(files))
    return ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                         num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle_files)


def count_records(path: str) -> int:
    """Number of records in a TFRecord file, reading only the length headers."""
    n = 0
    with open(path, "rb") as f:
        while True:
            header = f.read(8)
            if len(header) < 8:
                return n
            f.seek(4 + _LEN.unpack(header)[0] + 4, os.SEEK_CUR)
            n += 1


class ShardedWriter:
    """Atomic writer of ``<split>-NNNNN-of-MMMMM.tfrecord`` shards.

    ``write(data, key)`` puts a record in shard ``key % num_shards`` (default: round robin on the
    record counter), so the output depends only on the order and keys of the records. Shards are
    hidden temporaries until :meth:`close`, which fsyncs and renames them all; :meth:`abort` (or
    leaving a ``with`` block with an exception) removes them.
    """

    def __init__(self, output_dir: str, split: str, num_shards: int):
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        os.makedirs(output_dir, exist_ok=True)
        self.output_dir, self.split, self.num_shards = output_dir, split, num_shards
        self.count = 0
        token = uuid.uuid4().hex[:8]
        self.final_paths = [os.path.join(output_dir, shard_name(split, i, num_shards))
                            for i in range(num_shards)]
        self._writers = [RecordFileWriter(os.path.join(
            output_dir, f"{TMP_PREFIX}{token}-{os.path.basename(p)}")) for p in self.final_paths]

    def write(self, data: bytes, key: Optional[int] = None, framed: bool = False) -> None:
        """Append a record (``framed``: already in TFRecord framing) to shard ``key % num_shards``."""
        shard = (self.count if key is None else key) % self.num_shards
        if framed:
            self._writers[shard].write_framed(data)
        else:
            self._writers[shard].write(data)
        self.count += 1

    def close(self) -> list:
        """Fsync and move every shard into place; returns the final paths."""
        for w in self._writers:
            w.close(fsync=True)
        for w, final in zip(self._writers, self.final_paths):
            os.replace(w.path, final)
        _fsync_dir(self.output_dir)
        return self.final_paths

    def abort(self) -> None:
        for w in self._writers:
            w.close(fsync=False)
            if os.path.exists(w.path):
                os.remove(w.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_shards(output_dir: str, keep: Iterable[str]) -> list:
    """Delete shard files (and leftover temporaries) in ``output_dir`` not in ``keep``; returns them."""
    keep = {os.path.abspath(p) for p in keep}
    removed = []
    for name in os.listdir(output_dir):
        path = os.path.abspath(os.path.join(output_dir, name))
        stale_tmp = name.startswith(TMP_PREFIX) and name.endswith(".tfrecord")
        if (stale_tmp or SHARD_RE.match(name)) and path not in keep:
            os.remove(path)
            removed.append(path)
    return sorted(removed)


def write_records(path: str, records: Iterable[bytes]) -> int:
    """Write records to one file atomically (temp + fsync + rename); returns the count."""
    tmp = os.path.join(os.path.dirname(path) or ".", f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-"
                       f"{os.path.basename(path)}")
    writer, n = RecordFileWriter(tmp), 0
    try:
        for data in records:
            writer.write(data)
            n += 1
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        writer.close(fsync=False)
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return n
