"""README sections are regenerated between markers, never typed."""

import pytest

from conprune.errors import ConpruneError
from conprune.eval.readme import replace_section


def test_replace_section_keeps_the_rest():
    text = "intro\n<!-- t:begin -->\nold\n<!-- t:end -->\noutro\n"
    out = replace_section(text, "t", "new $1 \\n table")
    assert out == "intro\n<!-- t:begin -->\nnew $1 \\n table\n<!-- t:end -->\noutro\n"
    assert replace_section(out, "t", "new $1 \\n table") == out
    with pytest.raises(ConpruneError, match="no section"):
        replace_section(text, "missing", "x")
