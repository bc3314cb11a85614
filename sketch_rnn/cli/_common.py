"""What the command-line tools share: help, flag errors, quiet start-up, file readers.

No flag is defined on absl's global ``FLAGS`` here: those are process-global, and each tool owns
its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from sketch_rnn.strokes import check_drawing

# The bundled default data and pretrained model, beside the package in a source checkout or
# editable install.
REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA_DIR = os.path.join(REPO_DIR, "datasets", "aaron_sheep")
PRETRAINED_SHEEP_DIR = os.path.join(REPO_DIR, "checkpoints", "aaron_sheep")


def setup_logging() -> None:
    """INFO-level progress from the library on stderr, with timestamps."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("sketch_rnn").setLevel(logging.INFO)


# --- quiet start-up -------------------------------------------------------------------------

#: Set for the commands only (never for library users, who keep their own settings): C++ log
#: lines below ERROR from TensorFlow/XLA, and gRPC's, are start-up chatter, not news to the user.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}

#: Lines that no setting silences (TF 2.21, jaxlib 0.10): written while TensorFlow's or XLA's
#: libraries load, before their log settings are read, or at ERROR level by a CPU-only machine's
#: CUDA probe ("Could not find cuda drivers", "failed call to cuInit").
STARTUP_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_driver|cuda_diagnostics"
    rb"|cpu_feature_guard)\.cc:\d+\] "
    rb"|To enable the following instructions: .* rebuild TensorFlow)")

#: JAX's Python-logged start-up lines about accelerators it will not use (``jax._src.xla_bridge``):
#: a CPU-only jaxlib on a machine with a GPU or TPU says so at every start.
JAX_STARTUP_NOISE = re.compile(r"^(An NVIDIA GPU|A Google TPU) may be present on this machine")

_quiet = False
_console = False


def quiet_startup(verbosity: int) -> None:
    """In a command (see :func:`console_entry`), hide TensorFlow's start-up lines unless
    ``--verbosity`` >= 0 asks for them; call before TensorFlow is imported."""
    global _quiet
    if not _console or verbosity >= 0:
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    # TensorFlow's Python side logs at INFO through absl (every checkpoint save: "Sharding callback
    # duration") and its own logger; our progress goes through the "sketch_rnn" logger.
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # JAX's start-up logger gets a filter, not a level: JAX takes the "jax" logger's level at import
    # as its own log setting (adding a handler of its own and lowering the C++ log threshold).
    jax_logger = logging.getLogger("jax._src.xla_bridge")
    if _drop_jax_noise not in jax_logger.filters:
        jax_logger.addFilter(_drop_jax_noise)
    _quiet = True


def _drop_jax_noise(record: logging.LogRecord) -> bool:
    # INFO there is start-up chatter ("Unable to initialize backend 'tpu'", where no TPU library is);
    # its other warnings (a GPU backend that failed to start) are news.
    return record.levelno >= logging.WARNING and not JAX_STARTUP_NOISE.match(record.getMessage())


@contextlib.contextmanager
def _dropping_stderr_lines(pattern: re.Pattern) -> Iterator[None]:
    """Collect what is written to file descriptor 2 (C++ writes there, not to ``sys.stderr``)
    and pass it on afterwards, less the lines matching ``pattern``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = b"".join(line for line in tmp.read().splitlines(keepends=True)
                            if not pattern.match(line))
            while kept:
                kept = kept[os.write(2, kept):]


def import_backend() -> None:
    """Import Keras and the active backend's library (TensorFlow's only on the TensorFlow backend)
    and find the devices, the moment their start-up lines come; in a quiet command those lines are
    dropped. Commands call it before their first model work.

    Example (outside a command it leaves everything as it is):
        >>> import_backend()
    """
    if not _quiet:
        return
    # (Again after a first call, or with the library imported already: the device lists are cached.)
    with _dropping_stderr_lines(STARTUP_NOISE):
        # Keras imports the backend's library as it starts: TensorFlow's lines can come here.
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe logs here
        elif keras.backend.backend() == "jax":
            import jax

            jax.devices()  # JAX starts its backends (and probes for CUDA) on first use


def console_entry(main: Callable[[], int | None]) -> None:
    """Run a console script's ``main`` as a command (quiet start-up allowed) and exit with its
    status."""
    global _console
    _console = True
    sys.exit(main())


# --- flags, help and errors ----------------------------------------------------------------

HELP_ARGS = ("-h", "--help", "--helpshort", "--helpfull", "-?")


def wants_help(args: Sequence[str]) -> bool:
    """Whether the arguments (program name excluded) ask for help, before any ``--``."""
    for arg in args:
        if arg == "--":
            return False
        if arg in HELP_ARGS:
            return True
    return False


VERBOSITY_HELP = ("Logging verbosity: 0 or more also shows TensorFlow's start-up and "
                  "informational log lines (default -1: warnings only).")


def define_verbosity(flag_values) -> None:
    """``-v/--verbosity`` in a tool's own ``FlagValues``, as absl's global one reads."""
    from absl import flags

    flags.DEFINE_integer("verbosity", -1, VERBOSITY_HELP, short_name="v", flag_values=flag_values)


def _tool_flags(flag_values, module_name: str | None) -> list:
    """The flags a tool's ``--help`` shows: its own (a module's, in absl's global ``FLAGS``) and
    ``--verbosity``; never absl's internals (``--flagfile``, ``--undefok``, ...)."""
    if module_name is None:
        found = list(flag_values._flags().values())
    else:
        # absl files the flags of the module run as __main__ under sys.argv[0].
        key = sys.argv[0] if module_name == "__main__" else module_name
        found = list(flag_values.get_flags_for_module(key))
        if "verbosity" in flag_values:
            found.append(flag_values["verbosity"])
    return found


def tool_help(doc: str, flag_values, module_name: str | None = None) -> str:
    """``--help`` of a tool: its docstring and its flags. ``module_name`` picks a module's flags
    out of absl's global ``FLAGS``; ``None`` shows all of a tool's own ``FlagValues``."""
    lines: list[str] = []
    # absl's own layout of a flag list (the one absl's --help prints).
    flag_values._render_flag_list(_tool_flags(flag_values, module_name), lines, "  ")
    usage = (doc or "").split("\nExample:")[0].strip()  # examples are for the API docs
    return f"{usage}\n\nFlags:\n" + "\n".join(lines)


def parse_tool_flags(prog: str, doc: str, flag_values, args: Sequence[str],
                     positional: bool = False) -> list[str] | int:
    """Parse ``args`` (program name excluded) into a tool's own ``FlagValues``.

    Returns the positional arguments, or an exit status to return at once: 0 after ``--help``, 2
    after one ``prog: error: ...`` line (unknown flag, bad value, or positional arguments when
    ``positional`` is false). A console command's quiet start-up follows ``--verbosity``.
    """
    from absl import flags

    if wants_help(args):
        print(tool_help(doc, flag_values))
        return 0
    flag_values.unparse_flags()  # a tool may run several times in one process (tests)
    try:
        rest = flag_values([prog, *args])[1:]
    except flags.Error as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if rest and not positional:
        print(f"{prog}: error: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return 2
    quiet_startup(flag_values.verbosity)
    return rest


def run_absl_app(main, module_name: str) -> None:
    """Run an absl ``main`` on absl's global ``FLAGS`` (the console-script entry of the module
    ``module_name``), as the tools with their own ``FlagValues`` run: ``--help`` is the tool's
    docstring and flags (:func:`tool_help`); a bad flag or a usage error is one
    ``sketch_rnn_<tool>: error: ...`` line and exit status 2; the start-up is quiet unless
    ``--verbosity`` >= 0.

    Under a console script ``__main__`` is pip's generated launcher, so absl's own ``--help``
    would find neither docstring nor flags; the module's are used instead.
    """
    from absl import app, flags

    module = sys.modules[module_name]
    # Under ``python -m`` the module is __main__; its spec still has the real name.
    prog = "sketch_rnn_" + (module.__spec__.name if module.__spec__ else module_name).rsplit(".")[-1]
    if wants_help(sys.argv[1:]):
        if "verbosity" in flags.FLAGS:  # absl's own text is about its logging only
            flags.FLAGS["verbosity"].help = VERBOSITY_HELP
        print(tool_help(module.__doc__, flags.FLAGS, module_name))
        sys.exit(0)

    def parse(argv: list[str]) -> list[str]:
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            sys.exit(2)

    def quiet_main(argv: list[str]) -> int | None:
        verbosity = flags.FLAGS["verbosity"]
        quiet_startup(verbosity.value if verbosity.present else -1)
        try:
            return main(argv)
        except app.UsageError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2

    global _console
    _console = True
    setup_logging()
    app.run(quiet_main, flags_parser=parse)


def read_strokes(path: str, flag: str) -> np.ndarray:
    """A checked stroke-3 drawing ``[L, 3]`` (float32) from ``.npy`` (an array) or ``.json`` (a list
    of ``[dx, dy, pen_lift]`` rows). ``flag`` names the option it came from: every error says
    ``--flag=path`` and what is wrong with the file."""
    where = f"--{flag}={path}"
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npy", ".json"):
        raise ValueError(f"{where}: expected a .npy or .json stroke-3 file")
    if not os.path.isfile(path):
        raise ValueError(f"{where}: no such file")
    try:
        if suffix == ".npy":
            with open(path, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise ValueError("not a .npy file")
            data = np.load(path, allow_pickle=False)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        strokes = np.asarray(data, dtype=np.float32)
    except (OSError, ValueError, TypeError) as e:
        # numpy says "pickled data" for an object array; json names line and column.
        raise ValueError(f"{where}: not a stroke-3 drawing ({e})") from e
    return check_drawing(strokes, where)


def save_drawings_npy(path: str, drawings) -> None:
    """Drawings of different lengths as one ``.npy`` object array (``np.load(..., allow_pickle=True)``),
    written atomically."""
    from sketch_rnn.files import atomic_output

    arr = np.empty(len(drawings), dtype=object)
    arr[:] = drawings
    with atomic_output(path, suffix=".npy") as f:
        np.save(f, arr, allow_pickle=True)
