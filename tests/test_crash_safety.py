"""Crash safety of training and checkpoints.

A run is killed at every moment where it touches the disk (each stage of every save, best and
resume alike) and after every training step, then resumed; its final weights, best checkpoint and
optimizer state must equal an uninterrupted run's bit for bit. A kill is simulated by an exception
that, like ``kill -9``, skips the trainer's save-on-interrupt. After it, the in-memory state is
overwritten with garbage before the trainer restores from disk, so nothing survives that a new
process would not see (one scenario also uses a new trainer; ``test_train.py`` has a real
``kill -9``). Damaged newest checkpoints must make resume and ``load_model`` fall back to an older
intact one with a warning, or stop with one line naming the file.
"""

from __future__ import annotations

import logging
import os
import shutil

import h5py
import numpy as np
import pytest

from sketch_rnn import checkpoint
from sketch_rnn.checkpoint import STATE_SUFFIX, checkpoint_numbers, load_model, save_model, weights_equal
from sketch_rnn.hparams import get_default_hparams
from sketch_rnn.runtime import RuntimeOptions
from sketch_rnn.train import RESUME_DIR, Trainer

HPARAMS = ("data_set=toy.npz,enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=10,"
           "save_every=3,num_steps=9,use_recurrent_dropout=True,use_input_dropout=True,"
           "use_output_dropout=True")
# One traced step serves every scenario's trainer only if they share the recurrence; the reference
# one keeps the test independent of the CPU's fused kernels.
RUNTIME = RuntimeOptions(recurrence="reference")


class Killed(BaseException):
    """Not an Exception, and not KeyboardInterrupt: nothing in the trainer catches it."""


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    rng = np.random.default_rng(0)

    def split(n):
        out = np.empty(n, dtype=object)
        out[:] = [np.c_[rng.integers(-20, 20, (length, 2)), np.arange(length) % 4 == 3].astype(np.int16)
                  for length in rng.integers(6, 14, n)]
        return out

    folder = tmp_path_factory.mktemp("toy")
    np.savez(folder / "toy.npz", train=split(40), valid=split(10), test=split(10))
    return str(folder)


def _trainer(toy_dir, log_root, **kw) -> Trainer:
    hps = get_default_hparams().parse(HPARAMS)
    return Trainer(hps, toy_dir, str(log_root), seed=5, progress=False, runtime=RUNTIME, **kw)


class Faults:
    """Counts the moments a run passes through (save stages, finished steps) and kills it at one."""

    def __init__(self, kill_at: int | None = None, then=None):
        self.moments: list[str] = []
        self.kill_at = kill_at
        self.then = then  # what the kill leaves behind (e.g. a half-written file), given the prefix

    def __call__(self, moment: str, prefix: str | None = None) -> None:
        self.moments.append(moment)
        if len(self.moments) - 1 == self.kill_at:
            if self.then is not None:
                self.then(prefix)
            raise Killed(moment)


def _watch(trainer: Trainer, faults: Faults, monkeypatch) -> None:
    def crash_point(stage, prefix):
        kind = "resume" if os.path.basename(os.path.dirname(prefix)) == RESUME_DIR else "best"
        faults(f"{kind} {os.path.basename(prefix)} {stage}", prefix)

    monkeypatch.setattr(checkpoint, "_crash_point", crash_point)
    inner = type(trainer.step_fn).__call__

    def step_fn(self, *args):
        out = inner(self, *args)
        faults(f"after step {trainer.step}")
        return out

    monkeypatch.setattr(type(trainer.step_fn), "__call__", step_fn)


def _scramble(trainer: Trainer) -> None:
    """Garbage in every piece of state a resume must bring back from disk."""
    for v in trainer.model.weights + trainer.optimizer.variables:
        v.assign(np.full(v.shape, 7, dtype=v.dtype))
    trainer.best_valid_cost = -1.0
    trainer.noise_seed = [12345, 6789]
    trainer.train_data.random_batch()
    trainer.train_data.random_batch()


def _state(trainer: Trainer) -> dict:
    return {
        "step": trainer.step,
        "weights": [np.asarray(v).copy() for v in trainer.model.weights],
        "optimizer": [np.asarray(v).copy() for v in trainer.optimizer.variables],
        "best": [np.asarray(v).copy() for v in load_model(trainer.log_root).weights],
        "best_valid_cost": trainer.best_valid_cost,
        "noise_seed": trainer.noise_seed.tolist(),
        "data": trainer.train_data.get_state(),
    }


def _assert_same(got: dict, want: dict, context: str) -> None:
    assert got["step"] == want["step"], context
    assert got["best_valid_cost"] == want["best_valid_cost"], context
    assert got["data"] == want["data"], context
    assert got["noise_seed"] == want["noise_seed"], context
    for key in ("weights", "optimizer", "best"):
        assert len(got[key]) == len(want[key]), context
        for a, b in zip(got[key], want[key], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{key} after {context}")


class Rig:
    """One trainer reused by every scenario (tracing its step costs seconds; a scenario, a fraction
    of one): :meth:`fresh` wipes its checkpoints and puts back the state it was created with, as a
    new process with the same seed would have."""

    def __init__(self, toy_dir, log_root, snapshots):
        self.trainer = _trainer(toy_dir, log_root)
        self.initial = self.trainer.save_resume()  # ckpt-0, copied aside
        self.initial = shutil.copy2(self.initial + STATE_SUFFIX, snapshots)[: -len(STATE_SUFFIX)]
        self.fresh()

    def fresh(self, files_from: str | None = None) -> Trainer:
        """The trainer as created, over an empty run folder (or a copy of ``files_from``'s)."""
        log_root = self.trainer.log_root
        shutil.rmtree(self.trainer.resume_dir, ignore_errors=True)
        checkpoint.remove_checkpoints(log_root)
        self.trainer.resume_ckpt.read(self.initial)
        if files_from is not None:
            shutil.copytree(files_from, log_root, dirs_exist_ok=True)
        return self.trainer

    def kill_then_resume(self, kill_at: int, monkeypatch, then=None) -> str:
        """Run until moment ``kill_at``, kill, resume as a new process would; the moment's name."""
        trainer = self.fresh()
        faults = Faults(kill_at, then)
        with monkeypatch.context() as mp:
            _watch(trainer, faults, mp)
            with pytest.raises(Killed):
                trainer.train()
        _scramble(trainer)
        if checkpoint_numbers(trainer.resume_dir):
            trainer.restore()
        else:  # killed inside the very first save: a new process starts afresh
            self.fresh()
        return faults.moments[-1]


@pytest.fixture(scope="module")
def rig(toy_dir, tmp_path_factory):
    return Rig(toy_dir, tmp_path_factory.mktemp("rig"), tmp_path_factory.mktemp("snapshots"))


@pytest.fixture(scope="module")
def straight(rig):
    """The uninterrupted run: its final state and the moments it passed through."""
    trainer = rig.fresh()
    faults = Faults()
    with pytest.MonkeyPatch.context() as mp:
        _watch(trainer, faults, mp)
        trainer.train()
    return _state(trainer), faults.moments


def test_the_moments_cover_every_save(straight):
    _, moments = straight
    saves = [m for m in moments if not m.startswith("after step")]
    steps = [m for m in moments if m.startswith("after step")]
    assert len(steps) == 9
    # The resume state before the first step, and best + resume at each of the three validations.
    assert [m.rsplit(" ", 1)[0] for m in saves[::5]] == [
        "resume ckpt-0", "best ckpt-3", "resume ckpt-4", "best ckpt-6", "resume ckpt-7",
        "best ckpt-9", "resume ckpt-9"]
    assert {m.rsplit(" ", 1)[1] for m in saves} == {"before_write", "staged", "written", "pointed", "swept"}
    assert len(moments) >= 20


def test_a_kill_at_any_moment_resumes_exactly(rig, straight, monkeypatch):
    want, moments = straight
    for kill_at in range(len(moments)):
        moment = rig.kill_then_resume(kill_at, monkeypatch)
        assert moment == moments[kill_at]
        rig.trainer.train()
        _assert_same(_state(rig.trainer), want, f"a kill at {moment!r}")


def _file(prefix):
    return checkpoint.checkpoint_file(prefix)


def _truncate_file(prefix):
    _truncate(_file(prefix))


def test_a_half_written_file_falls_back(rig, straight, monkeypatch, caplog):
    # The new file is in place but half-written (a file system that renamed it before its data
    # reached the disk).
    want, moments = straight
    rig.kill_then_resume(moments.index("resume ckpt-7 written"), monkeypatch, then=_truncate_file)
    assert rig.trainer.step == 4
    assert "ckpt-7: damaged or incomplete resume state" in caplog.text
    rig.trainer.train()
    _assert_same(_state(rig.trainer), want, "a half-written resume state")


def test_the_issue_case_in_a_new_process(toy_dir, straight, tmp_path, monkeypatch):
    # Killed after "best valid cost ... saved" and before the resume save: a new trainer resumes
    # from the state saved before the first step, not from the best weights with fresh Adam slots.
    want, moments = straight
    trainer = _trainer(toy_dir, tmp_path)
    with monkeypatch.context() as mp:
        _watch(trainer, Faults(moments.index("resume ckpt-4 before_write")), mp)
        with pytest.raises(Killed):
            trainer.train()
    resumed = _trainer(toy_dir, tmp_path, resume=True)
    assert resumed.step == 0
    resumed.train()
    _assert_same(_state(resumed), want, "a kill between the best and the resume save")


DAMAGES = {
    "flipped bit": lambda p: _flip(_file(p)),
    "truncated file": _truncate_file,
    "empty file": lambda p: open(_file(p), "wb").close(),
    "garbage file": lambda p: _garbage(_file(p)),
    "garbage pointer": lambda p: _garbage(os.path.join(os.path.dirname(p), "checkpoint")),
}


def _flip(path):
    """One bit flipped inside the largest weight's stored bytes (a flip in unused bytes of the file
    would change nothing)."""
    with h5py.File(path, "r") as f:
        sets = []
        f.visititems(lambda name, obj: sets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        big = max(sets, key=lambda d: d.id.get_storage_size())
        at = big.id.get_offset() + big.id.get_storage_size() // 2
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x10]))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _garbage(path):
    with open(path, "wb") as f:
        f.write(b"\x00\xffnot a checkpoint state\n")


@pytest.fixture(scope="module")
def halfway(rig, tmp_path_factory):
    """A run stopped after its second save (resume states at steps 4 and 7, best at 3 and 6)."""
    trainer = rig.fresh()
    trainer.train(num_steps=7)
    assert checkpoint_numbers(trainer.resume_dir) == [7, 4]
    assert checkpoint_numbers(trainer.log_root)[:2] == [6, 3]
    folder = str(tmp_path_factory.mktemp("halfway") / "run")
    shutil.copytree(trainer.log_root, folder, ignore=shutil.ignore_patterns("events.*"))
    return folder


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_newest_resume_state_falls_back(rig, straight, halfway, damage, caplog):
    trainer = rig.fresh(files_from=halfway)
    newest = os.path.join(trainer.resume_dir, "ckpt-7")
    DAMAGES[damage](newest)
    _scramble(trainer)
    with caplog.at_level(logging.WARNING):
        trainer.restore()
    if damage == "garbage pointer":  # the files are intact: the newest is used
        assert trainer.step == 7
        assert "checkpoint: unreadable" in caplog.text
    else:
        assert trainer.step == 4
        assert f"{newest}: damaged or incomplete resume state" in caplog.text
    trainer.train()
    _assert_same(_state(trainer), straight[0], f"resume past a {damage}")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_newest_best_checkpoint_falls_back(halfway, tmp_path, damage, caplog):
    folder = str(tmp_path / "run")
    shutil.copytree(halfway, folder)
    older = load_model(os.path.join(halfway, "ckpt-3"))
    newest = load_model(halfway)
    DAMAGES[damage](os.path.join(folder, "ckpt-6"))
    with caplog.at_level(logging.WARNING):
        model = load_model(folder)
    if damage == "garbage pointer":
        assert weights_equal(model, newest)
    else:
        assert weights_equal(model, older)
        assert "ckpt-6: damaged or incomplete checkpoint" in caplog.text
        assert "trying ckpt-3" in caplog.text


def test_no_intact_checkpoint_is_one_clear_line(tmp_path):
    from sketch_rnn.config import ModelConfig
    from sketch_rnn.model import SketchRNN

    model = SketchRNN(ModelConfig(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=2))
    save_model(model, tmp_path, step=1)
    _truncate_file(str(tmp_path / "ckpt-1"))
    with pytest.raises(ValueError) as err:
        load_model(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'ckpt-1'}: damaged checkpoint, and no older intact one")
    assert "\n" not in message
    # Asked for by name, a damaged checkpoint is an error too, not a silent substitute.
    with pytest.raises(ValueError, match=r"ckpt-1: damaged checkpoint \("):
        load_model(tmp_path / "ckpt-1")


def test_an_existing_run_is_never_restarted_silently(toy_dir, halfway, tmp_path):
    log_root = str(tmp_path / "run")
    shutil.copytree(halfway, log_root)
    before = sorted(os.listdir(log_root))
    with pytest.raises(FileExistsError, match="already holds a training run .newest checkpoint at "
                                              "step 7.; resume it"):
        _trainer(toy_dir, log_root)
    assert sorted(os.listdir(log_root)) == before  # nothing touched
    fresh = _trainer(toy_dir, log_root, overwrite=True)
    assert fresh.step == 0
    assert not checkpoint_numbers(log_root) and not os.path.exists(os.path.join(log_root, RESUME_DIR))
    # A folder holding only a file by that name is refused before any work.
    with pytest.raises(NotADirectoryError, match="is a file"):
        _trainer(toy_dir, os.path.join(log_root, "model_config.json"))
