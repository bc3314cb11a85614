"""Read TensorFlow checkpoints with numpy alone (no ``tensorflow``, no ``protobuf``).

Checkpoints written by ``tf.train.Checkpoint``, ``tf.compat.v1.train.Saver`` or the ``SaveV2`` op are
"tensor bundles". A prefix ``P`` names two kinds of file:

* ``P.index``: a table of key/value entries, sorted by key, in LevelDB's SSTable layout (below). The
  entry with the empty key is a ``BundleHeaderProto`` (``num_shards`` = 1, ``endianness`` = 2,
  ``version`` = 3). Every other key is a tensor name; its value is a ``BundleEntryProto``:
  ``dtype`` = 1 (a ``DataType`` enum value), ``shape`` = 2 (a ``TensorShapeProto``, whose repeated
  field 2 holds one ``Dim`` per axis with its ``size`` in field 1), ``shard_id`` = 3, ``offset`` = 4,
  ``size`` = 5, ``crc32c`` = 6 (masked) and ``slices`` = 7 (set only for partitioned variables).
* ``P.data-SSSSS-of-NNNNN``: the shards. Each holds its tensors' bytes end to end. Numbers are
  little-endian, ``bool`` one byte each. A string tensor holds each element's length as a varint,
  then a 4-byte masked CRC-32C of those lengths, then the elements' bytes.

The index file's table layout (integers little-endian, "varint" is protobuf's base-128 encoding):

* At the end of the file is a 48-byte footer: two block handles (each a varint offset and a varint
  size), one for the metaindex block (TF leaves it empty) and one for the index block, then zero
  padding to 40 bytes, then the magic number ``0xdb4775248b80fb57`` as 8 bytes.
* A 5-byte trailer follows each block: a compression byte (0 means none, and TF writes index
  files uncompressed), then the masked CRC-32C of the block and that byte.
* A block holds entries, each ``varint shared, varint unshared, varint value_size, key suffix,
  value``: a key is the first ``shared`` bytes of the previous key followed by the suffix. After the
  entries come the restart points (``uint32`` offsets) and their count (``uint32``). Restart points
  only help seeking, so a full scan does not need them.
* The index block's entries point to the data blocks in key order: each value is a block's handle.

A CRC-32C is stored "masked" (rotated right by 15 bits, plus ``0xa282ead8``) because the CRC of
data that itself holds CRCs would be poorly distributed. Opening a checkpoint checks every index
block's CRC, and reading a tensor checks the tensor's CRC. Damage raises ``ValueError``, a missing
file ``FileNotFoundError``. The message is one line that names the file and the problem.

Example: a small model folder's checkpoint, as sketch_rnn wrote them before.
    >>> import sketch_rnn
    >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
    >>> reader = CheckpointReader(latest_checkpoint(folder))
    >>> name = "model/output_w/.ATTRIBUTES/VARIABLE_VALUE"
    >>> reader.shapes()[name], reader.dtypes()[name], reader.get(name).shape
    ([16, 15], dtype('float32'), (16, 15))
    >>> len(reader.shapes())   # the model's 26 weights and the object graph
    27
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["CheckpointReader", "crc32c", "latest_checkpoint"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_TRAILER_SIZE = 5  # compression byte + masked CRC
_MASK_DELTA = 0xA282EAD8
#: The newest bundle format this reader knows (TF's header says which readers it needs).
_BUNDLE_VERSION = 1

# ---------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli)

# The polynomial 0x1EDC6F41 bit-reversed, since the CRC takes each byte's lowest bit first.
_POLY = 0x82F63B78


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _byte_table()
_TABLE_LIST = _TABLE.tolist()  # a byte-at-a-time Python loop indexes a list faster than an array


def _feed(reg: int, data: bytes | bytearray | memoryview) -> int:
    """The CRC register after ``data``, a byte at a time."""
    table = _TABLE_LIST
    for byte in data:
        reg = table[(reg ^ byte) & 0xFF] ^ (reg >> 8)
    return reg


def _advance(regs: np.ndarray) -> np.ndarray:
    """Registers ``regs`` after one zero byte."""
    return _TABLE[regs & 0xFF] ^ (regs >> 8)


@functools.cache
def _position_tables(width: int) -> np.ndarray:
    """``[j * 256 + b]``: what byte ``b`` at position ``j`` of a ``width``-byte piece adds to the
    register after the piece, when the register starts at 0.

    Feeding byte ``b`` XORs ``_TABLE[b]`` into the register (the CRC is linear over GF(2)). The
    ``width - 1 - j`` bytes after position ``j`` then carry it on as if they were zeros.
    """
    tables = np.empty((width, 256), np.uint32)
    added = _TABLE.copy()
    for j in range(width - 1, -1, -1):
        tables[j] = added
        added = _advance(added)
    return tables.reshape(-1)


@functools.cache
def _skip_tables(width: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """The map "feed ``width`` zero bytes", as one table for each byte of the register.

    The map is linear, so the images of the register's 32 bits fix it. Four 256-entry tables then
    apply it with four look-ups.
    """
    images = np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))
    for _ in range(width):
        images = _advance(images)
    values = np.arange(256)
    tables = []
    for k in range(4):
        table = np.zeros(256, np.uint32)
        for bit in range(8):
            table ^= np.where((values >> bit) & 1, images[8 * k + bit], np.uint32(0))
        tables.append(table.tolist())
    return tables[0], tables[1], tables[2], tables[3]


def _feed_long(reg: int, data: np.ndarray) -> int:
    """``_feed`` for ``data`` (uint8) of 256 bytes or more, 10 to 50 times faster than a Python
    loop over every byte.

    The data is cut into pieces of ``width`` bytes. Each piece's register (from a zero start) is
    the XOR of one :func:`_position_tables` look-up per byte, and numpy does these for many pieces
    at once. Since the CRC is linear, the register after a piece is ``skip(reg) ^ piece``, where
    ``skip`` feeds ``width`` zero bytes.
    """
    width = 64 if data.size < 4096 else 1024
    rows = data.size // width
    pieces = data[: rows * width].reshape(rows, width)
    tables, offsets = _position_tables(width), np.arange(width) * 256
    registers = np.empty(rows, np.uint32)
    step = (1 << 18) // width  # rows at a time: bounds the temporary index arrays to 2 MiB
    for start in range(0, rows, step):
        indexes = pieces[start : start + step] + offsets
        registers[start : start + step] = np.bitwise_xor.reduce(tables.take(indexes), axis=1)
    t0, t1, t2, t3 = _skip_tables(width)
    for piece in registers.tolist():
        reg = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24] ^ piece
    return _feed(reg, data[rows * width :].tobytes())


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """The CRC-32C (Castagnoli) of ``data``. To continue a CRC with more data, pass it as ``crc``.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
        >>> crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
        True
    """
    reg = crc ^ 0xFFFFFFFF
    if len(data) < 256:
        reg = _feed(reg, data)
    else:
        reg = _feed_long(reg, np.frombuffer(data, np.uint8))
    return reg ^ 0xFFFFFFFF


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Protocol buffers: just varints and a message's fields. Parse errors raise ValueError("problem").
# The caller adds the file's name.


def _varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    """The varint at ``buf[pos:]`` and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("a varint runs past the end of its record")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ValueError("a varint longer than 10 bytes")


def _int64(value: int) -> int:
    """A varint read as protobuf's (two's complement) ``int64``."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """``(field number, value)`` for each field of a serialized message. The value is an int for
    varint and fixed-width fields and bytes for length-delimited ones."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        value: int | bytes
        if wire_type == 0:
            value, pos = _varint(buf, pos)
        elif wire_type in (1, 5):
            n = 8 if wire_type == 1 else 4
            if pos + n > len(buf):
                raise ValueError("a fixed-width field runs past the end of its record")
            value, pos = int.from_bytes(buf[pos : pos + n], "little"), pos + n
        elif wire_type == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("a length-delimited field runs past the end of its record")
            value, pos = buf[pos : pos + n], pos + n
        else:
            raise ValueError(f"protobuf wire type {wire_type}, which no bundle message uses")
        yield number, value


# ---------------------------------------------------------------------------------------------
# The index file's table


def _handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    """A block handle's offset and size, and the position after it."""
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _block(data: bytes, offset: int, size: int) -> bytes:
    """The block at ``offset``, after checking its trailer."""
    end = offset + size
    if end + _TRAILER_SIZE > len(data) - _FOOTER_SIZE:
        raise ValueError(f"damaged or truncated: a block at bytes {offset}..{end} runs past the end "
                         f"of the table ({len(data) - _FOOTER_SIZE} bytes)")
    stored = int.from_bytes(data[end + 1 : end + _TRAILER_SIZE], "little")
    if _mask(crc32c(data[offset : end + 1])) != stored:
        raise ValueError(f"damaged: CRC mismatch in the block at bytes {offset}..{end}")
    if data[end] != 0:
        raise ValueError(f"a block compressed with method {data[end]}; only uncompressed blocks "
                         "(what TensorFlow writes) are read")
    return data[offset:end]


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ValueError("damaged: a block too short to hold its restart count")
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError(f"damaged: a block of {len(block)} bytes claims {restarts} restart points")
    key, pos = b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        size, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + size > limit:
            raise ValueError("damaged: a table entry runs past the end of its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + size]
        pos += size


def _table(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every ``(key, value)`` of an SSTable held in ``data``, in key order."""
    if len(data) < _FOOTER_SIZE:
        raise ValueError(f"truncated: {len(data)} bytes, less than the 48-byte footer of a "
                         "TF checkpoint index")
    footer = data[-_FOOTER_SIZE:]
    if int.from_bytes(footer[-8:], "little") != _MAGIC:
        raise ValueError("bad magic number at the end of the file (truncated, or not a TF checkpoint "
                         "index)")
    meta_offset, meta_size, pos = _handle(footer, 0)
    index_offset, index_size, _ = _handle(footer, pos)
    _block(data, meta_offset, meta_size)  # TF leaves the metaindex empty; checked only for damage
    for _, handle in _block_entries(_block(data, index_offset, index_size)):
        offset, size, _ = _handle(handle, 0)
        yield from _block_entries(_block(data, offset, size))


# ---------------------------------------------------------------------------------------------
# Bundle entries

#: TF's DataType enum values that numpy holds as they are stored.
_NUMPY_DTYPES = {
    1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 8: np.complex64,
    9: np.int64, 10: np.bool_, 17: np.uint16, 18: np.complex128, 19: np.float16, 22: np.uint32,
    23: np.uint64,
}
_DT_STRING = 7
_DT_BFLOAT16 = 14
_DTYPE_NAMES = {7: "string", 11: "qint8", 12: "quint8", 13: "qint32", 14: "bfloat16", 15: "qint16",
                16: "quint16", 20: "resource", 21: "variant"}


def _numpy_dtype(code: int) -> np.dtype | None:
    """The numpy dtype of TF's DataType ``code`` (object for strings), or None if there is none."""
    if code in _NUMPY_DTYPES:
        return np.dtype(_NUMPY_DTYPES[code])
    if code == _DT_STRING:
        return np.dtype(object)
    if code == _DT_BFLOAT16:
        try:  # numpy has no bfloat16; ml_dtypes (installed with JAX and TensorFlow) adds it
            import ml_dtypes
        except ImportError:
            return None
        return np.dtype(ml_dtypes.bfloat16)
    return None


@dataclass(frozen=True)
class _Entry:
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    masked_crc: int
    sliced: bool


def _shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            size = 0
            for dim_number, dim_value in _fields(value):
                if dim_number == 1 and isinstance(dim_value, int):
                    size = _int64(dim_value)
            dims.append(size)
        elif number == 3 and value:
            raise ValueError("a shape of unknown rank")
    if any(d < 0 for d in dims):
        raise ValueError(f"a shape with an unknown or negative dimension {dims}")
    return tuple(dims)


def _entry(buf: bytes) -> _Entry:
    fields = {"dtype": 0, "shape": (), "shard": 0, "offset": 0, "size": 0, "masked_crc": 0,
              "sliced": False}
    names = {1: "dtype", 3: "shard", 4: "offset", 5: "size", 6: "masked_crc"}
    for number, value in _fields(buf):
        if number == 2 and isinstance(value, bytes):
            fields["shape"] = _shape(value)
        elif number == 7:
            fields["sliced"] = True
        elif number in names and isinstance(value, int):
            fields[names[number]] = _int64(value) if number in (4, 5) else value
    entry = _Entry(**fields)
    if entry.offset < 0 or entry.size < 0:
        raise ValueError(f"negative offset {entry.offset} or size {entry.size}")
    return entry


def _header(buf: bytes) -> int:
    """The number of data shards, after checking that this reader can read the bundle."""
    num_shards, endianness, min_consumer = 0, 0, 0
    for number, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            num_shards = value
        elif number == 2 and isinstance(value, int):
            endianness = value
        elif number == 3 and isinstance(value, bytes):  # VersionDef: min_consumer is field 2
            min_consumer = next((v for n, v in _fields(value) if n == 2 and isinstance(v, int)), 0)
    if endianness != 0:
        raise ValueError("a big-endian checkpoint; only little-endian ones are read")
    if min_consumer > _BUNDLE_VERSION:
        raise ValueError(f"bundle format version {min_consumer}, newer than this reader knows "
                         f"({_BUNDLE_VERSION})")
    return num_shards


def _strings(buf: bytearray, count: int) -> tuple[list[bytes], int]:
    """The elements of a string tensor's bytes and the CRC TF records for them.

    That CRC covers each length as a ``uint32`` (a ``uint64`` past 4 GiB), not as the varint
    stored, then the stored length checksum, then the strings' bytes.
    """
    lengths, pos, crc = [], 0, 0
    for _ in range(count):
        n, pos = _varint(buf, pos)
        lengths.append(n)
        crc = crc32c(n.to_bytes(4 if n <= 0xFFFFFFFF else 8, "little"), crc)
    checksum = bytes(buf[pos : pos + 4])
    if len(checksum) < 4 or int.from_bytes(checksum, "little") != _mask(crc):
        raise ValueError("damaged: the string lengths do not match their checksum")
    pos += 4
    if pos + sum(lengths) != len(buf):
        raise ValueError(f"damaged: string lengths that add up to {sum(lengths)} bytes, but "
                         f"{len(buf) - pos} are stored")
    crc = crc32c(buf[pos:], crc32c(checksum, crc))
    out = []
    for n in lengths:
        out.append(bytes(buf[pos : pos + n]))
        pos += n
    return out, crc


class CheckpointReader:
    """The tensors of a TensorFlow checkpoint, read with numpy (what ``tf.train.load_checkpoint``
    gives, without TensorFlow).

    ``CheckpointReader(prefix)`` reads and checks ``prefix.index`` (no data file is needed until a
    tensor is read). It raises ``FileNotFoundError`` if the index is missing and ``ValueError`` if
    it is damaged. Partitioned variables (saved in slices) are listed, but :meth:`get` does not
    join them.

    Example: a small model folder's checkpoint, as sketch_rnn wrote them before (``tf.train.Checkpoint``).
        >>> import sketch_rnn
        >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
        >>> reader = CheckpointReader(latest_checkpoint(folder))
        >>> name = "model/mu_b/.ATTRIBUTES/VARIABLE_VALUE"
        >>> reader.has(name), reader.shapes()[name], reader.dtypes()[name], reader.get(name).shape
        (True, [4], dtype('float32'), (4,))
        >>> type(reader.get("_CHECKPOINTABLE_OBJECT_GRAPH")), reader.dtypes()["_CHECKPOINTABLE_OBJECT_GRAPH"]
        (<class 'bytes'>, dtype('O'))
    """

    def __init__(self, prefix: str | os.PathLike) -> None:
        self.prefix = os.fspath(prefix)
        self.index_path = self.prefix + ".index"
        try:
            with open(self.index_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.index_path}: no such file (no TF checkpoint at this "
                                    "prefix)") from None
        try:
            self.num_shards, self._entries = self._parse(data)
        except ValueError as e:
            raise ValueError(f"{self.index_path}: {e}") from None

    @staticmethod
    def _parse(data: bytes) -> tuple[int, dict[str, _Entry]]:
        table = _table(data)
        key, header = next(table, (None, b""))
        if key != b"":
            raise ValueError("damaged: no bundle header (the table does not start with the empty key)")
        num_shards = _header(header)
        entries = {}
        for key, value in table:
            if key.startswith(b"\0"):
                continue  # one slice of a partitioned variable, under an encoded key
            name = key.decode("utf-8", "backslashreplace")
            try:
                entry = _entry(value)
            except ValueError as e:
                raise ValueError(f"damaged entry for tensor {name!r}: {e}") from None
            if not 0 <= entry.shard < num_shards:
                raise ValueError(f"damaged: tensor {name!r} is in data shard {entry.shard} of "
                                 f"{num_shards}")
            entries[name] = entry
        return num_shards, entries

    def __repr__(self) -> str:
        return f"CheckpointReader({self.prefix!r}: {len(self._entries)} tensors)"

    def shapes(self) -> dict[str, list[int]]:
        """Each tensor's name and shape (what TF's ``get_variable_to_shape_map`` gives).

        Example:
        >>> import sketch_rnn
        >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
        >>> reader = CheckpointReader(latest_checkpoint(folder))
        >>> sorted(reader.shapes().items())[:2]
        [('_CHECKPOINTABLE_OBJECT_GRAPH', []), ('model/decoder/W_hh/.ATTRIBUTES/VARIABLE_VALUE', [16, 64])]
        """
        return {name: list(e.shape) for name, e in self._entries.items()}

    def dtypes(self) -> dict[str, np.dtype | None]:
        """Each tensor's name and numpy dtype: ``object`` for strings, ``ml_dtypes.bfloat16`` for
        bfloat16, and None for types that numpy cannot hold (resources, variants, quantized).

        Example:
        >>> import sketch_rnn
        >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
        >>> reader = CheckpointReader(latest_checkpoint(folder))
        >>> reader.dtypes()["model/decoder/W_hh/.ATTRIBUTES/VARIABLE_VALUE"]
        dtype('float32')
        """
        return {name: _numpy_dtype(e.dtype) for name, e in self._entries.items()}

    def has(self, name: str) -> bool:
        """Whether the checkpoint holds a tensor ``name``.

        Example:
        >>> import sketch_rnn
        >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
        >>> reader = CheckpointReader(latest_checkpoint(folder))
        >>> reader.has("model/output_w/.ATTRIBUTES/VARIABLE_VALUE"), reader.has("no/such/tensor")
        (True, False)
        """
        return name in self._entries

    __contains__ = has

    def data_path(self, shard: int) -> str:
        """The name of data shard ``shard`` (from 0): ``<prefix>.data-SSSSS-of-NNNNN``.

        Example:
        >>> import sketch_rnn
        >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
        >>> reader = CheckpointReader(latest_checkpoint(folder))
        >>> os.path.basename(reader.data_path(0))
        'ckpt-3.data-00000-of-00001'
        """
        return f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}"

    def get(self, name: str) -> np.ndarray | np.generic | bytes:
        """The value of tensor ``name``, as ``tf.train.load_checkpoint(prefix).get_tensor`` gives it:
        a new array, or for a scalar a numpy scalar, or ``bytes`` for a scalar string (an object array
        of ``bytes`` for other string tensors).

        Raises ``KeyError`` for a name the checkpoint lacks, ``FileNotFoundError`` if its data file
        is missing and ``ValueError`` if the data are truncated or damaged (CRC mismatch).

        Example:
        >>> import sketch_rnn
        >>> folder = os.path.join(sketch_rnn.__path__[0], os.pardir, "tests", "data", "format2_model")
        >>> reader = CheckpointReader(latest_checkpoint(folder))
        >>> reader.get("model/output_b/.ATTRIBUTES/VARIABLE_VALUE").shape
        (15,)
        """
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(f"{self.prefix}: no tensor {name!r} in this checkpoint")
        if entry.sliced:
            raise ValueError(f"{self.index_path}: tensor {name!r} is saved in slices (a partitioned "
                             "variable), which this reader does not join")
        dtype = _numpy_dtype(entry.dtype)
        if dtype is None:
            what = _DTYPE_NAMES.get(entry.dtype, f"enum value {entry.dtype}")
            raise ValueError(f"{self.index_path}: tensor {name!r} has TF dtype {what}, which this reader "
                             "does not decode")
        count = math.prod(entry.shape)
        if entry.dtype != _DT_STRING and entry.size != count * dtype.itemsize:
            raise ValueError(f"{self.index_path}: damaged: tensor {name!r} of shape {list(entry.shape)} "
                             f"and dtype {dtype} has {entry.size} bytes, not {count * dtype.itemsize}")
        path = self.data_path(entry.shard)
        buf = self._read(path, name, entry)
        try:
            if entry.dtype == _DT_STRING:
                strings, crc = _strings(buf, count)
            else:
                crc = crc32c(buf)
            if _mask(crc) != entry.masked_crc:
                raise ValueError("damaged: its bytes do not match the CRC in the index")
        except ValueError as e:
            raise ValueError(f"{path}: tensor {name!r} (bytes {entry.offset}..{entry.offset + entry.size})"
                             f": {e}") from None
        if entry.dtype == _DT_STRING:
            if not entry.shape:
                return strings[0]
            array = np.empty(count, object)
            array[:] = strings
            return array.reshape(entry.shape)
        array = np.frombuffer(buf, dtype.newbyteorder("<")).astype(dtype, copy=False)
        return array.reshape(entry.shape) if entry.shape else array[0]

    def _read(self, path: str, name: str, entry: _Entry) -> bytearray:
        try:
            with open(path, "rb") as f:
                file_size = os.fstat(f.fileno()).st_size
                if entry.offset + entry.size > file_size:  # (before allocating what a bad index claims)
                    raise ValueError(f"{path}: truncated: tensor {name!r} needs bytes {entry.offset}.."
                                     f"{entry.offset + entry.size}, but the file has {file_size}")
                f.seek(entry.offset)
                buf = bytearray(entry.size)
                if f.readinto(buf) != entry.size:
                    raise ValueError(f"{path}: shorter than its size while reading tensor {name!r}")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file (data shard {entry.shard + 1} of "
                                    f"{self.num_shards} of checkpoint {self.prefix})") from None
        return buf


_POINTER_RE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', re.M)


def _unescape(text: str) -> str:
    """A text-format protobuf string's escapes (``\\"``, ``\\\\``, octal bytes) undone."""
    raw = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: bytes([int(m.group(1), 8)]) if m.group(1).isdigit()
                 else {b"n": b"\n", b"t": b"\t", b"r": b"\r"}.get(m.group(1), m.group(1)),
                 text.encode("utf-8"))
    return raw.decode("utf-8", "surrogateescape")


def latest_checkpoint(folder: str | os.PathLike) -> str | None:
    """The checkpoint prefix that ``folder``'s ``checkpoint`` file names (its
    ``model_checkpoint_path``; a relative path is relative to ``folder``), like
    ``tf.train.latest_checkpoint``. Returns None if that file is missing or unreadable, or if the
    checkpoint it names has no ``.index`` file.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> latest_checkpoint(folder) is None
        True
        >>> _ = open(os.path.join(folder, "checkpoint"), "w").write('model_checkpoint_path: "ckpt-3"\\n')
        >>> _ = open(os.path.join(folder, "ckpt-3.index"), "wb")
        >>> latest_checkpoint(folder) == os.path.join(folder, "ckpt-3")
        True
    """
    folder = os.fspath(folder)
    try:
        with open(os.path.join(folder, "checkpoint"), encoding="utf-8") as f:
            match = _POINTER_RE.search(f.read())
    except (OSError, UnicodeDecodeError):
        return None
    if not match or not match.group(1):
        return None
    prefix = os.path.join(folder, _unescape(match.group(1)))  # join keeps an absolute path as it is
    return prefix if os.path.isfile(prefix + ".index") else None
