"""Stage configs that overlay shared ones: the `bases:` key of an experiments/*.yaml file.

LightningCLI merges several `--config` files in order, and a later file may change single keys
of an earlier one (`data: {speed_perturb: [...]}` over the shared data block). A YAML file cannot
say which files it builds on, so `bases: [data.yaml]` (paths relative to the file) names them and
`expand_bases` turns `--config stage.yaml` into `--config data.yaml --config stage.yaml` before
parsing: every stage states its own settings once, the shared ones live in one file, and
`conprune fit --config experiments/teacher.yaml` alone is still the whole teacher stage.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from conprune.errors import ConpruneError


def config_bases(path: Path) -> list[Path]:
    """The files `path` overlays (its `bases:` entry), resolved relative to it."""
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return []  # LightningCLI reports an unreadable config itself, naming the file
    bases = content.get("bases") if isinstance(content, dict) else None
    if bases is None:
        return []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConpruneError(f"{path}: 'bases' must be a config path or a list of them, got {bases!r}")
    return [path.parent / base for base in bases]


def _with_bases(path: Path, seen: set[Path], chain: tuple[Path, ...] = ()) -> list[Path]:
    """`path` after its bases (depth first), each file once."""
    if path.resolve() in chain:
        raise ConpruneError(f"{path}: its 'bases' include itself (through {' -> '.join(map(str, chain))})")
    order = []
    for base in config_bases(path):
        if not base.is_file():
            raise ConpruneError(f"{path}: base config {base} not found; fix the 'bases' entry")
        order += _with_bases(base, seen, (*chain, path.resolve()))
    if path.resolve() not in seen:
        seen.add(path.resolve())
        order.append(path)
    return order


def expand_bases(argv: list[str]) -> list[str]:
    """Command-line arguments with every `--config FILE` preceded by the files it is based on."""
    out: list[str] = []
    seen: set[Path] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        elif arg.startswith("--config="):
            value, i = arg.split("=", 1)[1], i + 1
        else:
            out.append(arg)
            i += 1
            continue
        path = Path(value)
        files = _with_bases(path, seen) if path.is_file() else [path]
        for file in files:
            out += ["--config", str(file)]
    return out
