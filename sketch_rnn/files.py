"""Safe file output: atomic writes, and one up-front check of every output path.

Atomic: readers never see a half-written file, and a crash leaves the old one. Checked: a command
calls :func:`check_output_path` for each output before it loads anything, so a bad path fails at
once with a message naming the flag, never after the work, and never by writing over an input.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write_text(path, "hello")
    >>> open(path).read()
    'hello'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

__all__ = ["OutputPathError", "atomic_output", "atomic_path", "atomic_write_text",
           "check_output_path", "is_within", "same_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """A temporary file name beside ``path`` that replaces ``path`` only if the block completes.

    For writers that only take a path (``csv``, ``np.save``): they write the temporary name (created
    empty, in the same folder, which is created if needed), which is then flushed to disk and
    renamed over ``path``; on any error it is removed and ``path`` is untouched. ``suffix`` keeps
    writers that go by the extension happy.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "b.txt")
        >>> with atomic_path(path, ".txt") as tmp:
        ...     _ = open(tmp, "w").write("hi")
        >>> open(path).read()
        'hi'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[BinaryIO]:
    """A binary file object whose contents replace ``path`` only if the block completes.

    The data go to a temporary file in the same folder (created if needed), are flushed to disk,
    then renamed over ``path``; on any error the temporary file is removed and ``path`` is untouched.
    """
    with atomic_path(path, suffix) as tmp, open(tmp, "wb") as f:
        yield f


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path, suffix=os.path.splitext(os.fspath(path))[1]) as f:
        f.write(text.encode("utf-8"))


class OutputPathError(ValueError):
    """An output path that cannot be written, or whose writing would destroy an input."""


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` name the same existing file or folder (symlinks, ``./x`` vs ``x``
    and hard links included), or the same location when either does not exist yet.

    Example:
        >>> same_path(os.path.join(os.curdir, "x"), "x"), same_path("a/../b", "b")
        (True, True)
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True if ``path`` is ``folder`` or lies anywhere below it (after resolving symlinks).

    Example:
        >>> is_within("/tmp/run/ckpt", "/tmp/run"), is_within("/tmp/runs", "/tmp/run")
        (True, False)
    """
    if same_path(path, folder):
        return True
    inner, outer = os.path.realpath(path), os.path.realpath(folder)
    return inner.startswith(outer.rstrip(os.sep) + os.sep)


def _one_of(suffixes: Iterable[str]) -> str:
    names = list(suffixes)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def check_output_path(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                      flag: str = "out", suffixes: Iterable[str] = (), folder: bool = False,
                      protected: Iterable[str | os.PathLike | None] = ()) -> str:
    """Check, before any work, that an output can be written without destroying anything.

    Rules: the output is none of ``inputs`` (files or folders the command reads), nor inside any of
    the ``protected`` folders (a model being read); a file output is not an existing folder and
    ends in one of ``suffixes`` (any, if empty); a ``folder`` output is not an existing file; the
    nearest existing ancestor is a writable folder (so the parents can be created), not a file.
    ``None`` entries are skipped, as are inputs that do not exist (there is nothing to lose).

    Returns ``path`` as a string; raises :class:`OutputPathError` (a ``ValueError``) whose message
    starts with ``--flag=path:``.

    Example:
        >>> import tempfile
        >>> data = os.path.join(tempfile.mkdtemp(), "data.npz")
        >>> atomic_write_text(data, "")
        >>> check_output_path(data, inputs=[os.path.join(os.path.dirname(data), ".", "data.npz")])
        Traceback (most recent call last):
        ...
        sketch_rnn.files.OutputPathError: --out=...data.npz: would overwrite the input ...data.npz
        >>> check_output_path("grid.svg", suffixes=(".svg", ".png"), flag="grid")
        'grid.svg'
    """
    path = os.fspath(path)
    where = f"--{flag}={path}"
    if not path:
        raise OutputPathError(f"{where}: is empty; give a {'folder' if folder else 'file'} name")
    for source in inputs:
        if source is not None and os.path.lexists(source) and same_path(path, source):
            raise OutputPathError(f"{where}: would overwrite the input {os.fspath(source)}")
    for guarded in protected:
        if guarded is not None and os.path.isdir(guarded) and is_within(path, guarded):
            raise OutputPathError(
                f"{where}: is inside {os.fspath(guarded)}, which this command reads; "
                "write somewhere outside it")
    if folder:
        if os.path.exists(path) and not os.path.isdir(path):
            raise OutputPathError(f"{where}: is a file, not a folder")
    else:
        if os.path.isdir(path) or path.endswith(("/", os.sep)):
            raise OutputPathError(f"{where}: is a folder; give a file name")
        suffixes = tuple(suffixes)
        if suffixes and not path.lower().endswith(suffixes):
            raise OutputPathError(f"{where}: expected a {_one_of(suffixes)} file name")
    # The parents are created on writing: the nearest one that exists decides whether that can work.
    ancestor = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise OutputPathError(f"{where}: cannot be created: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(f"{where}: cannot write in {ancestor} (permission denied)")
    return path
