"""User-facing errors.

A `ConpruneError` is bad input the user can fix: the CLI prints its message as one line
(`error: ...`) and exits with status 2, never a traceback. The message names the file or
field at fault and the fix.
"""

import dataclasses
import re
from typing import Any


class ConpruneError(Exception):
    """Bad input the user can fix; the message names the file/field and the fix."""


def one_line(exc: BaseException) -> str:
    """The message of `exc` as one line, for the CLI's `error:` output.

    An error raised inside a DataLoader worker comes back wrapped in a multi-line text
    ("Caught ConpruneError in DataLoader worker process 0. Original Traceback ... ConpruneError: <msg>");
    only <msg> is kept. Other multi-line messages are joined with spaces.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught "):
        return re.sub(r"^[\w.]*ConpruneError: ", "", lines[-1])
    return " ".join(lines)


def first_line(exc: BaseException, limit: int = 120) -> str:
    """The first line of `exc`'s message, at most `limit` characters (its type's name when it has
    none): the part of a library's error worth quoting inside one of our one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


_SPECIFIC = re.compile(r"not accepted|does not accept|Expected a .*Got value|must be|unknown|invalid", re.IGNORECASE)


def config_error(message: str) -> ConpruneError:
    """A one-line `ConpruneError` from a jsonargparse/LightningCLI parse error (bad YAML key or type).

    jsonargparse reports a bad init arg as a nested, multi-line explanation under the top key
    ('Parser key "model": ... Problem with given class_path ...: Option 'lrr' is not accepted'):
    keep the key path, the class and the most specific reason, drop the union boilerplate.
    """
    keys = re.findall(r'Parser key "([^"]+)"', message)
    where = " at " + ".init_args.".join(keys) if keys else ""
    cls = re.search(r"Problem with given class_path '([^']+)'", message)
    lines = [line.strip().lstrip("- ").strip() for line in message.splitlines() if line.strip()]
    specific = [line for line in lines if _SPECIFIC.search(line) and not line.startswith("Parser key")]
    reason = (specific or lines or ["unparsable"])[0]
    where += f" ({cls.group(1)})" if cls else ""
    return ConpruneError(f"invalid config{where}: {reason}; run `conprune fit --help` (or add --print_config) "
                         "for the valid keys and types")


def check_fields(data: Any, cls: type, where: str) -> None:
    """Refuse a `data` that is not a mapping, or has keys that are not fields of the dataclass
    `cls`, in one line naming `where`, the unknown keys and the allowed ones."""
    if not isinstance(data, dict):
        raise ConpruneError(f"{where} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConpruneError(f"{where} has unknown field(s) {unknown}; allowed: {sorted(names)}")
