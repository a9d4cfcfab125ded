"""The plain-verb CLI: one argparse table whose options cannot clobber the dispatch."""

from __future__ import annotations

import argparse

from conprune.cli import build_parser


def test_no_verb_option_shadows_the_dispatch_fields() -> None:
    """argparse writes every option into one namespace: an option whose dest is `command` or
    `verb` would overwrite the verb the CLI dispatches on (`ship-teacher --command` once did)."""
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        bad = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    bad += walk(child, f"{path} {name}")
            elif path and action.dest in ("command", "verb"):
                bad.append(f"{path}: {action.option_strings}")
        return bad

    assert walk(build_parser(), "") == []
