"""Result sections live in README.md or docs/*.md; `conprune readme` rewrites each where it lives,
and every relative link in those pages points at a file in the repository."""

import json
import re
from pathlib import Path

import pytest

from conprune.errors import ConpruneError

REPO = Path(__file__).resolve().parents[1]
BENCH = {"latency_ratio_params50": 0.5, "date": "2026-01-01", "machine": "m, 1 thread(s)", "dtype": "float32",
         "seconds": 10}
CARD = {"model_config": {"num_layers": 6, "d_model": 176}, "params": 2_000_000, "macs_per_10s": 6e8,
        "train_steps": 9000, "train_wall_s": 6000, "hardware": "cpu", "test_clean_wer": 0.25, "test_other_wer": 0.5,
        "dev_clean_wer": 0.25, "dev_other_wer": 0.5, "reproduce": "make teacher PROFILE=long"}


def pages(tmp_path: Path) -> tuple[Path, Path, Path]:
    """README.md with the bench section and a section nobody asked for; docs/results.md with the
    shipped and report sections; docs/notes.md with no section."""
    readme = tmp_path / "README.md"
    readme.write_text("# r\n<!-- bench:begin -->\nold bench\n<!-- bench:end -->\n"
                      "<!-- prune:begin -->\nold prune\n<!-- prune:end -->\ntail\n")
    (tmp_path / "docs").mkdir()
    results = tmp_path / "docs" / "results.md"
    results.write_text("# d\n<!-- shipped:begin -->\nold shipped\n<!-- shipped:end -->\nmiddle\n"
                       "<!-- report:begin -->\nold report\n<!-- report:end -->\n")
    notes = tmp_path / "docs" / "notes.md"
    notes.write_text("# notes\nno sections\n")
    (tmp_path / "bench.json").write_text(json.dumps(BENCH))
    (tmp_path / "runs").mkdir()
    (tmp_path / "pretrained" / "demo-teacher-v1").mkdir(parents=True)
    (tmp_path / "pretrained" / "demo-teacher-v1" / "card.json").write_text(json.dumps(CARD))
    (tmp_path / "results" / "full").mkdir(parents=True)
    (tmp_path / "results" / "full" / "summary.json").write_text("[]")
    return readme, results, notes


def test_regenerate_rewrites_each_section_in_the_file_that_holds_it(tmp_path):
    from conprune.report.readme_block import regenerate, section_files

    readme, results, notes = pages(tmp_path)
    files = section_files(tmp_path)
    assert files == [readme, tmp_path / "docs" / "notes.md", results]
    done = regenerate(files, ["bench", "shipped", "report", "prune"], tmp_path / "runs",
                      tmp_path / "results" / "full", tmp_path / "bench.json", tmp_path / "pretrained" / "demo-teacher-v1")
    assert done == ["bench", "shipped", "report"]  # prune: no runs/prune/summary.json, left as it is
    text = readme.read_text()
    assert "old bench" not in text and "| compact ÷ teacher latency, −50 % params | 0.50 |" in text
    assert "<!-- prune:begin -->\nold prune\n<!-- prune:end -->\ntail\n" in text
    docs = results.read_text()
    assert "old shipped" not in docs and "2.00 M parameters" in docs
    assert "\nmiddle\n" in docs and "old report" not in docs
    # The report section's plot is linked relative to the docs page, not to the README.
    assert "![test WER vs parameters, all methods](../results/full/pareto_wer_params.png)" in docs
    assert notes.read_text() == "# notes\nno sections\n"


def test_regenerate_leaves_files_without_changes_alone(tmp_path):
    from conprune.report.readme_block import regenerate

    readme, results, notes = pages(tmp_path)
    args = (["shipped"], tmp_path / "runs", tmp_path / "results" / "full", tmp_path / "bench.json",
            tmp_path / "pretrained" / "demo-teacher-v1")
    regenerate([readme, results, notes], *args)
    before = {p: p.stat().st_mtime_ns for p in (readme, results, notes)}
    assert readme.read_text().count("old") == 2
    assert regenerate([readme, results, notes], *args) == ["shipped"]
    assert {p: p.stat().st_mtime_ns for p in (readme, results, notes)} == before


def test_a_section_in_no_file_or_in_two_is_an_error(tmp_path):
    from conprune.report.readme_block import regenerate

    readme, _, notes = pages(tmp_path)
    args = (tmp_path / "runs", tmp_path / "results" / "full", tmp_path / "bench.json",
            tmp_path / "pretrained" / "demo-teacher-v1")
    with pytest.raises(ConpruneError, match=re.escape("<!-- shipped:begin --> ... <!-- shipped:end -->")):
        regenerate([readme, notes], ["shipped"], *args)
    notes.write_text("<!-- bench:begin -->\n<!-- bench:end -->\n")
    with pytest.raises(ConpruneError, match="bench:begin.*is in .*README.md and .*notes.md"):
        regenerate([readme, notes], ["bench"], *args)
    assert readme.read_text().count("old") == 2  # nothing written when a section cannot be placed


def test_cli_readme_searches_readme_and_docs_by_default(tmp_path, monkeypatch, capsys):
    from conprune.cli import main

    readme, results, _ = pages(tmp_path)
    monkeypatch.chdir(tmp_path)
    main(["readme", "bench", "shipped", "--runs", "runs", "--bench", "bench.json"])
    assert capsys.readouterr().out.split("\n")[:2] == ["section bench regenerated", "section shipped regenerated"]
    assert "old bench" not in readme.read_text() and "old shipped" not in results.read_text()
    with pytest.raises(SystemExit) as exc:
        main(["readme", "shipped", "--runs", "runs", "--readme", "README.md"])
    assert exc.value.code == 2
    assert "shipped:begin" in capsys.readouterr().err


def markdown_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def links(text: str) -> list[str]:
    """Targets of the Markdown links and images outside code."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", "", text)
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_points_at_a_file_in_the_repo(page: Path):
    for target in links(page.read_text()):
        assert not re.match(r"[a-z]+:", target), f"{page.name}: {target} points outside the repository"
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_relative_to(REPO), f"{page.name}: {target} leaves the repository"
        assert file.is_file(), f"{page.name}: {target} does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, f"{page.name}: no heading #{anchor} in {path or page.name}"


def test_the_readme_links_every_docs_page():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in links((REPO / "README.md").read_text())}
    assert set((REPO / "docs").glob("*.md")) <= linked
