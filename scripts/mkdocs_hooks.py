"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks:``).

The command-line reference (``docs/cli.md``) is written here, at build time, from the parser of the
``xrsr`` command itself (:func:`xrsr_lib.cli.build_parser`): the marker ``<!-- xrsr-cli-reference -->``
is replaced by one section per sub-command with its usage and a table of its arguments, so the page
cannot drift from the options the command accepts.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- xrsr-cli-reference -->"


def _cell(text: str) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(action: argparse.Action) -> str:
    """One argument of a parser as a table row: name(s), default, choices, help."""
    if action.option_strings:
        names = ", ".join(f"`{o}`" for o in action.option_strings)
        if action.nargs != 0:
            names += f" `{action.metavar or action.dest.upper()}`"
    else:
        names = f"`{action.metavar or action.dest}`"
    required = "required" if action.required or not action.option_strings else ""
    default = "" if action.default in (None, False, argparse.SUPPRESS) else f"`{action.default}`"
    choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
    return f"| {names} | {required} | {default} | {choices} | {_cell(action.help or '')} |"


def _section(name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    usage = parser.format_usage().replace("usage: ", "", 1).rstrip()
    lines = [
        f"## `xrsr {name}`",
        "",
        _cell(summary),
        "",
        "```text",
        usage,
        "```",
        "",
        "| argument | | default | choices | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [_row(a) for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    return [*lines, ""]


def cli_reference() -> str:
    """Return the Markdown of the command-line reference, from :func:`xrsr_lib.cli.build_parser`."""
    from xrsr_lib.cli import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same page on every machine
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        summaries = {c.dest: c.help or "" for c in sub._choices_actions}
        lines = ["## `xrsr`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, child in sub.choices.items():
            lines += _section(name, child, summaries.get(name, ""))
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """MkDocs event: put the generated reference where a page has the marker."""
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, cli_reference())
    return markdown
