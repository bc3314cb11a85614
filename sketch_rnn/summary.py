"""TensorBoard scalar logs in plain Python, on any backend (no TensorFlow, TensorBoard or protobuf).

A :class:`SummaryWriter` writes the event files ``tensorboard --logdir`` reads: a TFRecord file
``events.out.tfevents.<time>.<host>.<pid>.<n>`` (TensorFlow's own naming) of ``Event`` protocol
buffers, the first one holding the file version, each later one a ``Summary`` with one
``simple_value`` (float32, as TensorBoard stores scalars).

The wire format, written by hand:

* a record is ``uint64 length``, ``uint32 masked_crc32c(length bytes)``, the data,
  ``uint32 masked_crc32c(data)`` (little-endian; ``masked = ((crc >> 15) | (crc << 17)) +
  0xa282ead8`` mod 2^32, crc32c the Castagnoli CRC);
* ``Event``: ``wall_time`` (double, field 1), ``step`` (int64, field 2), ``file_version`` (string,
  field 3, ``"brain.Event:2"``), ``summary`` (field 5);
* ``Summary``: repeated ``value`` (field 1); ``Summary.Value``: ``tag`` (string, field 1),
  ``simple_value`` (float, field 2).

Events are kept in memory and appended to the file by :meth:`SummaryWriter.flush`, by
:meth:`SummaryWriter.close`, by a background thread every ``flush_secs`` seconds and when the
interpreter exits: as with TensorFlow's writers, a process that is killed loses at most the events
of its last seconds, and every record before them stays readable.

Example:
    >>> import os, tempfile
    >>> logdir = tempfile.mkdtemp()
    >>> with SummaryWriter(logdir) as writer:
    ...     writer.scalar("Train_Cost", 1.25, step=20)
    >>> os.path.basename(writer.path).startswith("events.out.tfevents.")
    True
    >>> os.path.dirname(writer.path) == logdir
    True
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import socket
import struct
import threading
import time
import weakref

__all__ = ["SummaryWriter"]

FILE_VERSION = "brain.Event:2"


# --- crc32c and TFRecord framing --------------------------------------------------------------

def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)  # the Castagnoli polynomial, bit-reversed
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc32c_table()


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    # TFRecord masks its crcs: a crc of data that itself holds crcs would be weak otherwise.
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", _masked_crc(length)), data,
                     struct.pack("<I", _masked_crc(data))))


# --- protocol buffers ------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # int64: a negative number is its 64-bit two's complement (10 bytes)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes_field(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float32(value: float) -> bytes:
    try:
        return struct.pack("<f", value)
    except OverflowError:  # beyond float32's range: infinite, as a float32 cast makes it
        return struct.pack("<f", math.copysign(math.inf, value))


def _event(wall_time: float, step: int, *, file_version: str | None = None,
           summary: bytes | None = None) -> bytes:
    out = b"\x09" + struct.pack("<d", wall_time)  # field 1, 64-bit
    if step:  # (proto3: a zero field is left out)
        out += b"\x10" + _varint(step)  # field 2, varint
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


def _scalar_summary(tag: str, value: float) -> bytes:
    value_msg = _bytes_field(1, tag.encode()) + b"\x15" + _float32(value)  # simple_value: field 2, 32-bit
    return _bytes_field(1, value_msg)


# --- the writer ------------------------------------------------------------------------------

_files_made = 0
_files_lock = threading.Lock()
#: Writers not closed yet: what they hold is written when the interpreter exits normally.
_open_writers: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _flush_open_writers() -> None:
    for writer in list(_open_writers):
        writer.flush()


def _event_file_name() -> str:
    global _files_made
    with _files_lock:  # two writers of one process in the same second get different files
        n, _files_made = _files_made, _files_made + 1
    return f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{n}"


class SummaryWriter:
    """Scalars for TensorBoard, appended to a new event file in ``logdir`` (made if missing).

    Args:
        logdir: the folder ``tensorboard --logdir`` is given (or a folder under it).
        flush_secs: longest time an event waits in memory before it is written to the file.

    Example:
        >>> import tempfile
        >>> writer = SummaryWriter(tempfile.mkdtemp(), flush_secs=5.0)
        >>> for step in (0, 20, 40):
        ...     writer.scalar("Learning_Rate", 0.001, step)
        >>> writer.flush()  # on disk now, as close() would
        >>> writer.close()
    """

    def __init__(self, logdir: str | os.PathLike, flush_secs: float = 2.0) -> None:
        if not flush_secs > 0:
            raise ValueError(f"flush_secs={flush_secs}: must be > 0")
        self.logdir = os.fspath(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        #: The event file this writer appends to.
        self.path = os.path.join(self.logdir, _event_file_name())
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._pending: list[bytes] = [_record(_event(time.time(), 0, file_version=FILE_VERSION))]
        self._file = open(self.path, "ab")  # open until close()
        self.flush()  # the file is a valid, empty log from the start, as TensorFlow's are
        # The thread holds the writer weakly: a writer dropped without close() is still collected.
        self._flusher = threading.Thread(target=_flush_every, args=(weakref.ref(self), self._closing,
                                                                    flush_secs),
                                         name=f"SummaryWriter({self.logdir})", daemon=True)
        self._flusher.start()
        _open_writers.add(self)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Log ``value`` (any real number: float, numpy or backend scalar; stored as float32) under
        ``tag`` at ``step`` (an integer)."""
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"tag={tag!r}: expected a non-empty string")
        step = operator.index(step)
        value = float(value)
        record = _record(_event(time.time(), step, summary=_scalar_summary(tag, value)))
        with self._lock:
            if self._file is None:
                raise ValueError(f"scalar {tag!r}: the SummaryWriter of {self.path} is closed")
            self._pending.append(record)

    def flush(self) -> None:
        """Append the events logged so far to the file (a no-op once closed)."""
        with self._lock:
            if self._file is None or not self._pending:
                return
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file; later calls do nothing."""
        if self._file is None:
            return
        self._closing.set()
        self.flush()
        with self._lock:
            file, self._file = self._file, None
        if file is not None:
            file.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # (a writer half made by a failing __init__ has no file)
        if getattr(self, "_file", None) is not None:
            self.close()


def _flush_every(ref: weakref.ref, closing: threading.Event, secs: float) -> None:
    while not closing.wait(secs):
        writer = ref()
        if writer is None:
            return
        writer.flush()
        del writer  # (no strong reference while waiting)
