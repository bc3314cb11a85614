"""TensorBoard event files written without TensorFlow, read back by TensorFlow, TensorBoard and by hand."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sketch_rnn.summary import SummaryWriter

# Tags and values like the trainer's, with the awkward cases: not float32-exact, negative and
# large steps, zero, non-finite and out-of-float32-range values, a non-ASCII tag.
SCALARS = [
    ("Train_Cost", 0.1, 0), ("Train_Cost", -1.0 / 3.0, 20), ("Learning_Rate", 1e-3, 20),
    ("KL_Weight", 0.0, 40), ("Valid_Cost", np.float64(2.5e-8), 2**40), ("Eval_Cost", np.float32(7.25), -3),
    ("Time_Taken_Valid", math.inf, 60), ("Nan", math.nan, 60), ("Huge", -1e300, 80), ("Größe", 12, 100),
]


def _write(logdir: Path) -> Path:
    with SummaryWriter(logdir) as writer:
        for tag, value, step in SCALARS:
            writer.scalar(tag, value, step)
    return Path(writer.path)


def _same_float32(got: float, value: float) -> bool:
    if math.isnan(value):
        return math.isnan(got)
    with np.errstate(over="ignore"):  # beyond float32's range: infinite
        return got == np.float32(value)


def _crc32c(data: bytes) -> int:
    """Bitwise crc32c (no table): an independent check of the module's table."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _records(data: bytes) -> list[bytes]:
    """TFRecord framing read by hand: every length and data crc checked, nothing left over."""
    out, pos = [], 0
    while pos < len(data):
        assert len(data) - pos >= 12, "truncated record header"
        (length,) = struct.unpack_from("<Q", data, pos)
        (length_crc,) = struct.unpack_from("<I", data, pos + 8)
        assert _unmask(length_crc) == _crc32c(data[pos : pos + 8])
        body = data[pos + 12 : pos + 12 + length]
        assert len(body) == length, "truncated record"
        (data_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        assert _unmask(data_crc) == _crc32c(body)
        out.append(body)
        pos += 16 + length
    return out


def _fields(msg: bytes) -> list[tuple[int, int, object]]:
    """A protocol buffer's ``(field, wire type, raw value)`` triples."""
    out, pos = [], 0

    def varint() -> int:
        nonlocal pos
        n = shift = 0
        while True:
            byte = msg[pos]
            pos += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n

    while pos < len(msg):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 1:
            value, pos = msg[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = msg[pos : pos + 4], pos + 4
        else:
            assert wire == 2, wire
            n = varint()
            value, pos = msg[pos : pos + n], pos + n
        out.append((field, wire, value))
    return out


def _events_by_hand(path: Path) -> list[dict]:
    events = []
    for record in _records(path.read_bytes()):
        event = {"step": 0}
        for field, wire, value in _fields(record):
            if (field, wire) == (1, 1):
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif (field, wire) == (2, 0):
                event["step"] = value - (1 << 64) if value >= 1 << 63 else value
            elif (field, wire) == (3, 2):
                event["file_version"] = value.decode()
            elif (field, wire) == (5, 2):
                [(one, wire_v, value_msg)] = _fields(value)
                assert (one, wire_v) == (1, 2)
                parts = {f: v for f, _, v in _fields(value_msg)}
                event["tag"] = parts[1].decode()
                event["value"] = struct.unpack("<f", parts[2])[0]
            else:
                raise AssertionError(f"unexpected field {field} (wire type {wire})")
        events.append(event)
    return events


def test_framing_and_events_read_back_by_hand(tmp_path):
    before = time.time()
    path = _write(tmp_path)
    events = _events_by_hand(path)
    assert path.parent == tmp_path and path.name.startswith("events.out.tfevents.")
    assert events[0]["file_version"] == "brain.Event:2" and "tag" not in events[0]
    assert len(events) == len(SCALARS) + 1
    for event, (tag, value, step) in zip(events[1:], SCALARS, strict=True):
        assert (event["tag"], event["step"]) == (tag, step)
        assert _same_float32(event["value"], value), (tag, event["value"], value)
    times = [e["wall_time"] for e in events]
    assert before - 1 <= times[0] and times == sorted(times) and times[-1] <= time.time()


def test_crc32c_and_records_match_tensorflow(tmp_path):
    from sketch_rnn.summary import _crc32c as table_crc32c
    from sketch_rnn.summary import _record

    assert table_crc32c(b"123456789") == _crc32c(b"123456789") == 0xE3069283  # the standard check value
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 255, 4097):
        data = rng.bytes(n)
        assert table_crc32c(data) == _crc32c(data)
    tf = pytest.importorskip("tensorflow")
    payloads = [b"", b"hello", rng.bytes(300)]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as w:
        for p in payloads:
            w.write(p)
    assert (tmp_path / "tf.tfrecord").read_bytes() == b"".join(_record(p) for p in payloads)


def test_tensorflow_reads_every_event(tmp_path):
    tf = pytest.importorskip("tensorflow")
    path = _write(tmp_path)
    events = list(tf.compat.v1.train.summary_iterator(str(path)))  # checks each record's crcs
    assert events[0].file_version == "brain.Event:2"
    assert len(events) == len(SCALARS) + 1
    for event, (tag, value, step) in zip(events[1:], SCALARS, strict=True):
        [v] = event.summary.value
        assert (v.tag, event.step) == (tag, step)
        assert _same_float32(v.simple_value, value), (tag, v.simple_value, value)
        assert event.wall_time >= events[0].wall_time


def test_tensorboard_finds_the_scalars(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    _write(tmp_path)
    with SummaryWriter(tmp_path) as second:  # a resumed run: a second file in the same folder
        second.scalar("Train_Cost", 0.5, 120)
    acc = accumulator.EventAccumulator(str(tmp_path))  # the folder, as `tensorboard --logdir` reads it
    acc.Reload()
    want = {tag for tag, _, _ in SCALARS}
    assert set(acc.Tags()["scalars"]) == want
    got = [(e.step, e.value) for e in acc.Scalars("Train_Cost")]
    assert got == [(0, pytest.approx(0.1)), (20, pytest.approx(-1 / 3)), (120, 0.5)]


def test_buffered_until_flush_then_appended(tmp_path):
    writer = SummaryWriter(tmp_path, flush_secs=600)
    path = Path(writer.path)
    assert len(_events_by_hand(path)) == 1  # the version event is on disk from the start
    writer.scalar("a", 1.0, 1)
    assert len(_events_by_hand(path)) == 1
    writer.flush()
    assert [e.get("tag") for e in _events_by_hand(path)] == [None, "a"]
    writer.scalar("b", 2.0, 2)
    writer.close()
    writer.close()  # a second close does nothing
    assert [e.get("tag") for e in _events_by_hand(path)] == [None, "a", "b"]
    with pytest.raises(ValueError, match="closed"):
        writer.scalar("c", 3.0, 3)


def test_flushed_every_flush_secs_without_a_call(tmp_path):
    writer = SummaryWriter(tmp_path, flush_secs=0.05)
    writer.scalar("a", 1.0, 1)
    deadline = time.time() + 10
    while len(_events_by_hand(Path(writer.path))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert [e.get("tag") for e in _events_by_hand(Path(writer.path))] == [None, "a"]
    writer.close()


def test_a_killed_process_loses_only_the_unflushed_tail(tmp_path):
    # Whatever was flushed stays readable (whole records only); what was buffered is gone.
    code = f"""
import os
from sketch_rnn.summary import SummaryWriter
w = SummaryWriter({str(tmp_path)!r}, flush_secs=600)
for step in range(5):
    w.scalar("kept", step, step)
w.flush()
w.scalar("lost", 1.0, 5)
print(w.path, flush=True)
os._exit(9)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 9, done.stderr
    events = _events_by_hand(Path(done.stdout.strip()))
    assert [(e.get("tag"), e["step"]) for e in events[1:]] == [("kept", s) for s in range(5)]


def test_a_normal_exit_writes_what_an_unclosed_writer_holds(tmp_path):
    code = f"""
from sketch_rnn.summary import SummaryWriter
w = SummaryWriter({str(tmp_path)!r}, flush_secs=600)
w.scalar("last", 2.0, 7)
print(w.path)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    events = _events_by_hand(Path(done.stdout.strip()))
    assert [(e.get("tag"), e["step"], e.get("value")) for e in events[1:]] == [("last", 7, 2.0)]


def test_bad_arguments(tmp_path):
    with SummaryWriter(tmp_path / "new" / "dir") as writer:  # folders are made
        for tag in ("", None):
            with pytest.raises(ValueError, match="non-empty string"):
                writer.scalar(tag, 1.0, 0)
        with pytest.raises(TypeError):
            writer.scalar("a", 1.0, 1.5)  # a step is an integer
        with pytest.raises((TypeError, ValueError)):
            writer.scalar("a", "high", 1)
        writer.scalar("a", np.array(2.0), np.int64(3))  # numpy scalars are numbers
    assert [(e.get("tag"), e["step"]) for e in _events_by_hand(Path(writer.path))] == [(None, 0), ("a", 3)]
    with pytest.raises(ValueError, match="flush_secs"):
        SummaryWriter(tmp_path, flush_secs=0)


def test_needs_neither_tensorflow_nor_protobuf(tmp_path):
    code = f"""
import importlib.abc, json, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorboard", "google", "keras", "jax"):
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Block())
from sketch_rnn.summary import SummaryWriter
with SummaryWriter({str(tmp_path)!r}) as w:
    w.scalar("a", 1.0, 1)
print(json.dumps(w.path))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    events = _events_by_hand(Path(json.loads(done.stdout)))
    assert [(e.get("tag"), e.get("value")) for e in events] == [(None, None), ("a", 1.0)]
