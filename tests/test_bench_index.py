"""bench/README.md indexes every committed result file: a result nobody can find or trace to its
command is as good as lost, and an index row for a file that is gone sends readers nowhere."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Work folders `make bench` fills and .gitignore keeps out of the repository: nothing to index.
IGNORED = ("deploy", "long_audio")


def bench_files(bench: Path) -> set[str]:
    """Every file under `bench` (relative POSIX paths) but the index itself, the ignored work
    folders and dot-files (editor and OS litter, never results)."""
    files = set()
    for path in bench.rglob("*"):
        rel = path.relative_to(bench)
        if path.is_file() and rel.parts[0] not in IGNORED and not any(p.startswith(".") for p in rel.parts):
            files.add(rel.as_posix())
    return files - {"README.md"}


def indexed(readme: str) -> set[str]:
    """The files the index has a row for: the first cell of each table row, in backticks."""
    return set(re.findall(r"^\|\s*`([^`]+)`\s*\|", readme, flags=re.MULTILINE))


def named(readme: str) -> set[str]:
    """Every bench file the index names: its rows, and `bench/NAME.json[l]` anywhere in the text."""
    return indexed(readme) | set(re.findall(r"\bbench/([\w./-]+\.jsonl?)\b", readme))


def index_problems(bench: Path) -> list[str]:
    readme = (bench / "README.md").read_text()
    files = bench_files(bench)
    return ([f"bench/{name} has no row in bench/README.md" for name in sorted(files - indexed(readme))]
            + [f"bench/README.md names bench/{name}, which does not exist" for name in sorted(named(readme) - files)])


def test_every_bench_file_has_a_row_and_every_row_a_file():
    assert (REPO / "bench" / "README.md").is_file()
    assert len(bench_files(REPO / "bench")) >= 20  # the walk found the results, not an empty folder
    assert index_problems(REPO / "bench") == []


def test_the_skipped_folders_are_the_ones_git_ignores():
    ignored = (REPO / ".gitignore").read_text().split()
    assert all(f"/bench/{name}/" in ignored for name in IGNORED)


def test_a_missing_row_and_a_dangling_name_are_both_reported(tmp_path):
    bench = tmp_path / "bench"
    (bench / "deploy").mkdir(parents=True)
    (bench / "deploy" / "model.onnx").write_text("work file")
    (bench / "a_cpu.jsonl").write_text("{}\n")
    (bench / "b_cpu.json").write_text("{}")
    (bench / "README.md").write_text("| file | holds |\n|---|---|\n| `a_cpu.jsonl` | rows |\n"
                                     "See also bench/gone_h200.json.\n")
    assert index_problems(bench) == ["bench/b_cpu.json has no row in bench/README.md",
                                     "bench/README.md names bench/gone_h200.json, which does not exist"]
    (bench / "README.md").write_text("| `a_cpu.jsonl` | rows |\n| `b_cpu.json` | one |\n")
    assert index_problems(bench) == []
