"""User-facing errors.

A `ConpruneError` is bad input the user can fix: the CLI prints its message as one line
(`error: ...`) and exits with status 2, never a traceback. The message names the file or
field at fault and the fix.
"""


class ConpruneError(Exception):
    """Bad input the user can fix; the message names the file/field and the fix."""
