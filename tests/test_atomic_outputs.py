"""Atomic outputs and early writability checks: a killed writer leaves the old file or none, never a torn one."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from conprune.cli import main
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open, atomic_write_text, ensure_writable_dir
from conprune.lit.callbacks.guards import OutputDirsCheck
from conprune.models.config import build_config
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model

WRITER = textwrap.dedent("""
    import sys, time
    from conprune.io_atomic import atomic_open
    with atomic_open(sys.argv[1], "wb") as f:
        for _ in range(64):
            f.write(b"new" * 100_000)
        f.flush()
        print("writing", flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize("old", [b"old complete file\n", None])
def test_sigkill_mid_write_leaves_old_file_or_none(tmp_path, old):
    target = tmp_path / "results.json"
    if old is not None:
        target.write_bytes(old)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"writing"  # 19 MB written to the temp file
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    if old is None:
        assert not target.exists()
    else:
        assert target.read_bytes() == old
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".results.json.") and name.endswith(".tmp") for name in leftovers)


def test_exception_mid_write_keeps_the_old_model_file(tmp_path, monkeypatch):
    model = ConformerCTC(build_config("tiny", 11, None))
    path = save_model(tmp_path / "model.pt", model)
    before = path.read_bytes()

    def torn_save(obj, fh):
        fh.write(b"\x80\x02 half a pickle")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, model)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    monkeypatch.undo()
    load_model(path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not mkstemp's private 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_full_disk_during_write_is_one_line_and_keeps_old(tmp_path, monkeypatch):
    target = tmp_path / "manifest.jsonl"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ConpruneError, match=r"cannot write manifest .*manifest.jsonl: no space left on device; "
                                            r"free some space"):
        atomic_write_text(target, "new\n", "manifest")
    assert target.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


def test_permission_denied_is_one_line(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", denied)
    with pytest.raises(ConpruneError, match=r"cannot write checkpoint dir .*out: permission denied; make it writable"):
        ensure_writable_dir(tmp_path / "out", "checkpoint dir")
    with pytest.raises(ConpruneError, match=r"cannot write results .*r.json: permission denied"), \
            atomic_open(tmp_path / "r.json", "w", "results"):
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConpruneError, match=r"cannot write output .*ro.*permission denied"):
            ensure_writable_dir(ro / "run", "output")
    finally:
        ro.chmod(0o700)


def test_not_enough_free_space(tmp_path):
    with pytest.raises(ConpruneError, match=r"run dir .* MiB free but this stage needs about .* MiB"):
        ensure_writable_dir(tmp_path, "run dir", min_free_bytes=2**62)


class Toy(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return self.layer(batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_fit_checks_its_output_dirs_before_the_first_step(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the run directory should be")
    module = Toy()
    trainer = L.Trainer(max_steps=2, default_root_dir=blocker / "teacher", callbacks=[OutputDirsCheck()],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(ConpruneError, match=r"cannot write trainer.default_root_dir .*runs/teacher: a file is in "
                                            r"the way"):
        trainer.fit(module, DataLoader(torch.randn(8, 2), batch_size=2))
    assert module.steps == 0


def test_evaluate_checks_out_before_loading_anything(tmp_path, capsys):
    (tmp_path / "results").write_text("a file")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "results" / "x.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write evaluate --out directory")
