"""Regenerate marked sections of README.md and docs/*.md from result files, so no number there is
typed by hand.

A section is the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; it may live in the
README or in any docs page, and `conprune readme` rewrites it in whichever file holds its markers.
Only `conprune readme` (`make readme`) rewrites these files; no stage touches tracked files as a
side effect.

    conprune readme [shipped demo stress teacher prune bench deploy deploy_latency gpu report] [--runs runs] [--results results/full]
        [--readme README.md docs/*.md]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_write_text

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


def regenerate(files: Path | Sequence[Path], sections: list[str], runs: Path, results: Path,
               bench: Path, shipped: Path = Path("pretrained/demo-teacher-v1"),
               demo: Path = Path("results/demo"), stress: Path = Path("results/demo-stress")) -> list[str]:
    """Rewrite each requested section whose inputs exist, in whichever of `files` (one path or a
    list, e.g. `section_files()`) holds its markers; return the names rewritten. A section whose
    inputs are missing is logged and left as it is; one with inputs but no markers in any file
    (or markers in two files) is an error. Only files whose text changed are written."""
    import json

    from conprune.report.bench_table import bench_table, deploy_table, gpu_latency_table
    from conprune.report.readme_sections import (
        demo_section,
        prune_section,
        shipped_section,
        teacher_section,
    )
    from conprune.report.report import readme_body, results_body, training_steps

    paths = [files] if isinstance(files, Path) else list(files)
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise ConpruneError(f"readme: {missing[0]} does not exist; pass existing files to --readme")
    texts = {path: path.read_text() for path in paths}
    inputs = {"teacher": runs / "teacher" / "test" / "wer_by_voice.md", "prune": runs / "prune" / "summary.json",
              "bench": bench, "report": results / "summary.json",
              "deploy": bench, "shipped": shipped / "card.json", "demo": demo / "summary.json",
              "stress": stress / "summary.json",
              "gpu": bench.parent / "gpu_latency_h200.json",
              "deploy_latency": bench.parent / "deploy_latency50_cpu.json"}
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
        elif name == "bench":
            body = bench_table(json.loads(bench.read_text()))
        elif name in ("deploy", "deploy_latency"):
            body = deploy_table(json.loads(inputs[name].read_text()))
        elif name == "gpu":
            aligned = bench.parent / "gpu_latency_align16_h200.json"
            body = gpu_latency_table(json.loads(inputs["gpu"].read_text()),
                                     json.loads(aligned.read_text()) if aligned.is_file() else None)
        elif name == "shipped":
            body = shipped_section(shipped)
        elif name == "demo":
            body = demo_section(demo)
        elif name == "stress":
            body = results_body(json.loads(inputs["stress"].read_text()), stress / "report.md", path)
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
