"""What every group of stage arguments shares: reading one from a config, a checkpoint or a test.

The stage modules (`conprune.stages.settings`) and the data (`conprune.data.settings`) both take
their arguments in named groups, one frozen dataclass each, which LightningCLI reads as nested
YAML. A group arrives as that dataclass (from the CLI), as a plain dict (from a checkpoint's
hyperparameters or a test) or not at all; `coerce` turns each into the dataclass, and `plain` turns
it back into plain values for hyperparameters that `torch.load(weights_only=True)` can read. Kept at
the package root, importing nothing above `conprune.errors`, so both layers can use the one copy.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from conprune.errors import check_fields

T = TypeVar("T")


def coerce(cls: type[T], value: T | dict[str, Any] | None, where: str) -> T:
    """`value` as a `cls`: a dataclass passes through, a dict is checked for unknown keys (the error
    names `where`, the group's full key path, e.g. `data.augment`) and converted, None gives the
    defaults."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    check_fields(value, cls, where)
    return cls(**value)


def plain(value: Any) -> Any:
    """A dataclass as a dict of plain values (tuples kept), for checkpoint hyperparameters."""
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
