"""Shared set-up, in layers: a tiny LibriSpeech-layout corpus of generated audio (no TTS, fast) ->
the same corpus prepared as a stage finds it (manifests, 40-piece tokenizer, CMVN with the stages'
front end) -> a teacher checkpoint written by the production writer -> a compact student of it,
and the `conprune` arguments of a tiny stage run on them.

Session fixtures are shared and read-only (the prepared corpus is checked unchanged when the
session ends); a test that writes into a corpus takes its own copy (`corpus_copy`, `prepared_copy`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conprune.lit.datamodule import LibriSpeechDataModule
from conprune.models.config import build_config
from conprune.models.conformer import ConformerCTC
from conprune.models.package import save_model
from conprune.pruning.compact import compact
from conprune.stages.checkpoint_io import load_ctc_model, save_ctc_checkpoint

WORDS = ["THE", "QUICK", "BROWN", "FOX", "JUMPS", "OVER", "LAZY", "DOG", "AND", "SHE", "SELLS", "SEA", "SHELLS", "BY", "SHORE", "WHILE", "PETER", "PIPER", "PICKED", "PECK", "OF", "PICKLED", "PEPPERS", "HOW", "MUCH", "WOOD", "WOULD", "CHUCK", "IF", "COULD", "IT'S", "A", "LONG", "WAY", "TO", "TIPPERARY", "EVERY", "GOOD", "BOY", "DOES", "FINE"]

SPLITS = {"train-clean-100": 12, "dev-clean": 3, "dev-other": 3, "test-clean": 3, "test-other": 3}
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
PIECES = 40
VOCAB = PIECES + 1  # + the CTC blank
# The stages' feature settings: a teacher checkpoint they read must carry the same ones.
FRONT_END = yaml.safe_load((EXPERIMENTS / "data.yaml").read_text())["data"]["front_end"]

TinyModel = Callable[..., ConformerCTC]
PreparedCopy = Callable[..., LibriSpeechDataModule]
StageArgs = Callable[..., list[str]]


def write_corpus(root: Path, splits: dict[str, int] = SPLITS, seed: int = 0, seconds: float = 1.2) -> Path:
    """Write `<root>/LibriSpeech/<split>/<spk>/<chap>/` with noisy tones and transcripts."""
    rng = np.random.default_rng(seed)
    for s_idx, (split, count) in enumerate(splits.items()):
        spk, chap = 100 + s_idx, 10
        chap_dir = root / "LibriSpeech" / split / str(spk) / str(chap)
        chap_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for u in range(count):
            uid = f"{spk}-{chap}-{u:04d}"
            words = rng.choice(WORDS, size=int(rng.integers(3, 7)))
            t = np.arange(int(16000 * seconds * rng.uniform(0.7, 1.0))) / 16000
            audio = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(chap_dir / f"{uid}.flac", audio.astype(np.float32), 16000, subtype="PCM_16")
            lines.append(f"{uid} {' '.join(words)}")
        (chap_dir / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def prepare(root: Path, **settings: Any) -> LibriSpeechDataModule:
    """Build what the first `conprune fit` on `root` builds (manifests, tokenizer, CMVN), up front,
    so fits (and the ranks of a DDP subprocess) only read it. `settings` override the data
    arguments (40 pieces and the stages' front end by default); a group replaces the whole group,
    e.g. `front_end={"lifter": 0}`."""
    dm = LibriSpeechDataModule(root=str(root), **{"num_pieces": PIECES, "front_end": FRONT_END, **settings})
    dm.prepare_data()
    dm.setup("fit")
    return dm


def make_tiny_model(vocab_size: int = VOCAB, seed: int = 0, **overrides: Any) -> ConformerCTC:
    """The `tiny` preset without dropout (so outputs are deterministic), seeded."""
    torch.manual_seed(seed)
    return ConformerCTC(build_config("tiny", vocab_size, {"dropout": 0.0, "attn_dropout": 0.0, **overrides}))


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file below `root`: what a test that writes into it changes."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Tiny tensors run faster on one thread and a shared 2-core machine stays responsive; set per
    test because code under test (evaluate, bench) may change the thread count."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw tiny corpus (audio + transcripts), shared read-only."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture()
def corpus_copy(tmp_path: Path, tiny_corpus: Path) -> Path:
    """A private raw copy, for a test that prepares the corpus itself or changes it."""
    return Path(shutil.copytree(tiny_corpus, tmp_path / "corpus"))


@pytest.fixture()
def prepared_copy(corpus_copy: Path) -> PreparedCopy:
    """`prepared_copy(**settings)`: a private prepared corpus (its datamodule after setup), for a test
    that changes its files or its datamodule. Prepared from the raw audio, not copied from
    `prepared_corpus`, because manifests hold absolute audio paths."""
    return lambda **settings: prepare(corpus_copy, **settings)


@pytest.fixture(scope="session")
def prepared_corpus(tmp_path_factory: pytest.TempPathFactory,
                    tiny_corpus: Path) -> Iterator[LibriSpeechDataModule]:
    """The shared prepared corpus (its datamodule after setup). Read-only: fits with the stages'
    data settings only read it; a test that writes into it fails at the end of the session."""
    root = Path(shutil.copytree(tiny_corpus, tmp_path_factory.mktemp("prepared") / "corpus"))
    dm = prepare(root)
    before = _listing(root)
    yield dm
    changed = sorted(set(before.items()) ^ set(_listing(root).items()))
    assert not changed, f"a test wrote into the shared prepared corpus (use prepared_copy): {changed}"


@pytest.fixture(scope="session")
def teacher_ckpt(tmp_path_factory: pytest.TempPathFactory, prepared_corpus: LibriSpeechDataModule) -> Path:
    """A teacher-stage checkpoint of the tiny model with the prepared corpus's tokenizer, CMVN and
    front end, as `conprune fit` of the teacher stage writes it (without training)."""
    return save_ctc_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher.ckpt", make_tiny_model(),
                               prepared_corpus.tokenizer.model_proto, prepared_corpus.cmvn_settings())


@pytest.fixture(scope="session")
def compact_student(tmp_path_factory: pytest.TempPathFactory, teacher_ckpt: Path) -> Path:
    """A model file of the teacher with one FFN and one MHSA module and half of another FFN's units
    removed (every kind of cut), as the finetune stage reads a pruned student."""
    teacher, extra = load_ctc_model(teacher_ckpt)
    teacher.eval()
    gates = {"layers.0.ffn1.module": torch.tensor(0.0), "layers.1.mhsa.module": torch.tensor(0.0),
             "layers.1.ffn2.units": (torch.arange(teacher.config.ffn2_dim[1]) % 2).float()}
    return save_model(tmp_path_factory.mktemp("student") / "student.pt", compact(teacher, gates),
                      extra["tokenizer"], extra["cmvn"], {"dense_config": teacher.config.to_dict()})


@pytest.fixture(scope="session")
def tiny_model() -> TinyModel:
    """`tiny_model(vocab_size=41, seed=0, **overrides)`: see `make_tiny_model`."""
    return make_tiny_model


@pytest.fixture(scope="session")
def stage_args(prepared_corpus: LibriSpeechDataModule, teacher_ckpt: Path) -> StageArgs:
    """`stage_args(stage, out, *extra, verb="fit", root=None, logger="false")`: the `conprune` arguments
    of a tiny run of experiments/<stage>.yaml, which every stage test repeats.

    The prepared corpus (or `root`) with 40 pieces, no progress bar, outputs under `out` (None: the
    YAML's, e.g. with `--run_dir`), the tiny preset for the teacher and `teacher_ckpt` for the later
    stages; `logger` is the `--trainer.logger` value ("csv": a CSVLogger under `out`; None: the
    YAML's). `extra` comes last, so it can override any of these.
    """

    def build(stage: str, out: Path | None, *extra: str, verb: str = "fit", root: Path | None = None,
              logger: str | None = "false") -> list[str]:
        args = [verb, "--config", str(EXPERIMENTS / f"{stage}.yaml"), "--data.root",
                str(root or prepared_corpus.root), "--data.num_pieces", str(PIECES),
                "--trainer.enable_progress_bar", "false"]
        if out is not None:
            args += ["--trainer.default_root_dir", str(out)]
        if logger == "csv":
            logger = ("[{class_path: lightning.pytorch.loggers.CSVLogger, "
                      f"init_args: {{save_dir: {out}, name: csv}}}}]")
        if logger is not None:
            args += ["--trainer.logger", logger]
        if stage == "teacher":
            args += ["--model.init_args.preset", "tiny"]
        else:
            args += ["--model.init_args.teacher_ckpt", str(teacher_ckpt)]
        return [*args, *extra]

    return build
