"""Build an entry point's command line without giving any value or key a way out of its argument.

Every substituted value and every ``--key value`` extra goes through :func:`shlex.quote`, so the
finished line splits back into exactly the arguments the user meant. A command that uses no shell
syntax runs as a parsed argv; one that does (``&&``, pipes, ``$VAR``) runs with ``bash -c`` and the
same quoted pieces. Example::

    >>> build_command("python t.py --name {name}", {"name": "x; touch owned"}, {})
    "python t.py --name 'x; touch owned'"
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?~\[\]#\n]")


def build_command(template: str, values: Mapping[str, Any], extras: Mapping[str, Any]) -> str:
    """The command line: ``{param}`` replaced by the quoted value, extras appended as ``--key value``."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in values:
            raise InvalidParameterError(f"The command {template!r} uses {{{name}}}, which is not a declared parameter.")
        return shlex.quote(_text(values[name]))

    line = _PLACEHOLDER.sub(substitute, template)
    for key, value in extras.items():
        line += f" {shlex.quote('--' + str(key))} {shlex.quote(_text(value))}"
    return line


def to_argv(template: str, line: str) -> list[str]:
    """How to start ``line``: its own argv when the template uses no shell syntax, else ``bash -c``."""
    literal = _PLACEHOLDER.sub(" ", template)  # shell syntax counts only outside the placeholders
    if _SHELL_SYNTAX.search(literal):
        return ["bash", "-c", line]
    return shlex.split(line)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


def render(argv: Sequence[str]) -> str:
    """An argv as one copy-pasteable shell line (for logs and error messages)."""
    return shlex.join(argv)
