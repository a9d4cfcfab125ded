"""Regenerate marked sections of README.md and docs/*.md from result files, so no number there is
typed by hand.

A section is the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; it may live in the
README or in any docs page, and `conprune readme` rewrites it in whichever file holds its markers.
Only `conprune readme` (`make readme`) rewrites these files; no stage touches tracked files as a
side effect.

    conprune readme [teacher prune comparison bench report] [--runs runs] [--results results/full]
        [--readme README.md docs/*.md]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_write_text
from conprune.lit.checkpoint_io import load_checkpoint
from conprune.report.logs import last_values, metrics_csv

log = logging.getLogger(__name__)


def section_files(root: Path = Path(".")) -> list[Path]:
    """The files searched for section markers by default: README.md, then docs/*.md (sorted)."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def locate(texts: dict[Path, str], name: str) -> Path:
    """The one file among `texts` (path -> content) that holds section `name`'s markers."""
    begin, end = markers(name)
    found = [path for path, text in texts.items() if begin in text and end in text]
    if not found:
        searched = ", ".join(str(path) for path in texts) or "no files"
        raise ConpruneError(f"no file has section {begin} ... {end} (searched {searched}); "
                            "add the two markers to one of them")
    if len(found) > 1:
        raise ConpruneError(f"section {begin} ... {end} is in {found[0]} and {found[1]}; keep one copy")
    return found[0]


def replace_section(text: str, name: str, body: str) -> str:
    """Return `text` with the marked section `name` replaced by `body`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ConpruneError(f"README has no section {begin} ... {end}; add the two markers")
    return pattern.sub(lambda _: f"{begin}\n{body.strip()}\n{end}", text)


def teacher_section(run: Path) -> str:
    """Model size, training wall time and WER per split and voice of a finished teacher run."""
    ckpt = load_checkpoint(run / "checkpoints" / "best.ckpt")
    params = sum(v.numel() for k, v in ckpt["state_dict"].items()
                 if k.startswith("model.") and "running_" not in k and "num_batches" not in k)
    hp = ckpt.get("hyper_parameters", {})
    done = (run / "DONE").read_text().strip() if (run / "DONE").is_file() else "fit wall time: unknown"
    table = (run / "test" / "wer_by_voice.md").read_text()
    names = [f"val/wer/{s}" for s in ("dev-clean", "dev-other")]
    dev = last_values(metrics_csv(run / "csv"), names)
    dev_text = ", ".join(f"{n.split('/')[-1]} {100 * v:.1f} %" for n, v in dev.items())
    return (f"Demo teacher (`make teacher`): preset `{hp.get('preset')}`, {params / 1e6:.2f} M parameters, "
            f"vocabulary {hp.get('vocab_size')} (unigram pieces + blank), best checkpoint at step "
            f"{ckpt.get('global_step')}; {done} on this 2-core CPU machine. Greedy decoding, no LM. "
            f"`dev-other`/`test-other` are voices never heard in training. Validation WER at the "
            f"last step: {dev_text}.\n\n{table}")


def prune_section(run: Path, bench: Path) -> str:
    """One table row per finished prune run (runs/prune, runs/prune-macs) from their summary.json."""
    import json

    header = ("| run | target | deterministic sparsity (best ckpt) | dev WER gated student | dev WER teacher "
              "| fit wall time |")
    rows = [header, "|---|---|---:|---:|---:|---|"]
    for summary in sorted(run.parent.glob(run.name + "*/summary.json")):
        info = json.loads(summary.read_text())
        done = (summary.parent / "DONE").read_text().strip().removeprefix("fit wall time: ")
        rows.append(f"| {summary.parent.name} | -{100 * info['target']:.0f} % {info['target_metric']} | "
                    f"{100 * info['best_checkpoint_deterministic_sparsity']:.1f} % | "
                    f"{100 * info['student_dev_wer_at_target']:.1f} % | {100 * info['teacher_dev_wer']:.1f} % | "
                    f"{done} |")
    text = ("Demo (`make prune`, `make prune-macs`; 700 steps, ramp over 350; dev = dev-clean + dev-other "
            "pooled, greedy):\n\n" + "\n".join(rows) + "\n")
    if bench.is_file():
        info = json.loads(bench.read_text())
        text += (f"\nPrune step ÷ teacher step, same batch (8 x 500 frames) in one process: "
                 f"**{info['prune_step_ratio']:.2f}** ({info['machine']}, {info['date']}, `make bench`).\n")
    return text


COMPARISON = (("teacher (dense)", "teacher"),
              ("conprune −50 % params, after prune", "prune"),
              ("conprune −50 % params + finetune", "finetune"),
              ("magnitude pruning, same shapes + finetune", "finetune-magnitude"),
              ("random pruning, same shapes + finetune", "finetune-random"),
              ("dense, same params, from scratch", "dense-scratch"),
              ("dense, same params, distillation only", "finetune-dense-kd"),
              ("conprune −50 % MACs, after prune", "prune-macs"))


def comparison_section(runs: Path, rows: tuple[tuple[str, str], ...] = COMPARISON) -> str:
    """Methods side by side from each run's `conprune evaluate` results (missing runs are skipped)."""
    import json

    lines = ["| model | params | MACs / 10 s | dev-clean | dev-other | test-clean | test-other |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, run in rows:
        path = runs / run / "results.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        wer = r["wer"]
        cells = [f"{100 * wer[s]:.1f} %" if s in wer else "–" for s in ("dev-clean", "dev-other", "test-clean",
                                                                          "test-other")]
        lines.append(f"| {label} | {r['params'] / 1e6:.2f} M | {r['macs_per_utterance'] / 1e9:.2f} G | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nGreedy CTC, no LM; from `runs/*/results.json` (`make evaluate baselines`).\n"


def regenerate(files: Path | Sequence[Path], sections: list[str], runs: Path, results: Path,
               bench: Path) -> list[str]:
    """Rewrite each requested section whose inputs exist, in whichever of `files` (one path or a
    list, e.g. `section_files()`) holds its markers; return the names rewritten. A section whose
    inputs are missing is logged and left as it is; one with inputs but no markers in any file
    (or markers in two files) is an error. Only files whose text changed are written."""
    import json

    from conprune.report.bench_table import bench_table
    from conprune.report.report import readme_body, training_steps

    paths = [files] if isinstance(files, Path) else list(files)
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise ConpruneError(f"readme: {missing[0]} does not exist; pass existing files to --readme")
    texts = {path: path.read_text() for path in paths}
    inputs = {"teacher": runs / "teacher" / "test" / "wer_by_voice.md", "prune": runs / "prune" / "summary.json",
              "comparison": runs / "teacher" / "results.json", "bench": bench, "report": results / "summary.json"}
    changed: set[Path] = set()
    done = []
    for name in sections:
        if not inputs[name].is_file():
            log.warning("readme: %s not found, section %s left as it is", inputs[name], name)
            continue
        path = locate(texts, name)
        if name == "teacher":
            body = teacher_section(runs / "teacher")
        elif name == "prune":
            body = prune_section(runs / "prune", bench)
        elif name == "comparison":
            body = comparison_section(runs)
        elif name == "bench":
            body = bench_table(json.loads(bench.read_text()))
        else:  # the Pareto plot is linked relative to the file that holds the section
            rows = json.loads(inputs["report"].read_text())
            body = readme_body(rows, training_steps(runs), results / "pareto_wer_params.png", path)
        text = replace_section(texts[path], name, body)
        if text != texts[path]:
            texts[path] = text
            changed.add(path)
        log.info("readme: section %s regenerated in %s", name, path)
        done.append(name)
    for path in paths:
        if path in changed:
            atomic_write_text(path, texts[path])
    return done
