"""conprune: structured pruning for Conformer-CTC speech recognisers.

`conprune.load_model(path)` loads a standalone model file (see `conprune.models.package`). It is
imported lazily so that `import conprune` (e.g. for the CLI's --help) does not import torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from conprune.models.package import load_model

        return load_model
    raise AttributeError(f"module 'conprune' has no attribute {name!r}")
