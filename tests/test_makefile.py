"""The Makefile stays a thin table of stages: sections, every target phony and documented, no method
list of its own, and the stage rules go through `conprune stage`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conprune.stages.methods import METHODS

MAKEFILE = Path("Makefile")


def test_targets_are_phony_documented_and_in_sections() -> None:
    text = MAKEFILE.read_text()
    lines = text.splitlines()
    assert len(lines) <= 110 and sum(line.startswith("# ---- ") for line in lines) >= 6
    phony = set(re.search(r"^\.PHONY: (.*?)(?<!\\)$", text, re.MULTILINE | re.DOTALL)[1].replace("\\\n", " ").split())
    documented = {name for line in lines if "## " in line and re.match(r"^[a-z][\w -]*:", line)
                  for name in line.split(":")[0].split()}
    assert documented == phony
    assert "python -c" not in text and "python3 -c" not in text


def test_no_method_names_in_the_makefile() -> None:
    text = MAKEFILE.read_text()
    named = [m for m in METHODS if re.search(rf"\b{m}\b", text) and m != "conprune"]
    assert named == []
    assert not re.search(r"--methods [^$ ]*conprune,", text)


def test_stage_rules_call_conprune_stage(tmp_path: Path) -> None:
    """`make -n` of the prune stage prints the builder's command (the corpus and teacher need not exist)."""
    out = subprocess.run(["make", "-n", f"RUNS={tmp_path}", f"DATA={tmp_path}/corpus", f"{tmp_path}/prune-macs/DONE"],
                         capture_output=True, text=True, check=True).stdout
    stage = next(line for line in out.splitlines() if " stage " in line)
    assert "prune.yaml '{profile}/prune.yaml' prune_macs.yaml" in stage and "--model.init_args.teacher_ckpt" in stage
