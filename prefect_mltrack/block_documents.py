"""Block documents: YAML files that describe blocks to save, so configuration lives in the repository.

A file holds a list under ``blocks:``; each entry names a block type slug, a block name and its
fields. ``${VAR}`` and ``${VAR:-default}`` in values come from the environment, so secrets stay out
of the file; an unset variable without a default is an error that names it::

    blocks:
      - type: mltrack-tracking-store
        name: team
        data:
          tracking_uri: postgresql+psycopg://${PGUSER:-postgres}@db.internal/mltrack
          token: ${MLTRACK_TRACKING_TOKEN:-}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_mltrack.exceptions import InvalidParameterError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class BlockDocument(BaseModel):
    """One block to save: its type slug, its name and its field values."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Lowercase letters, digits and dashes.")
    data: dict[str, Any] = Field(default_factory=dict)


class BlockFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocks: list[BlockDocument] = Field(min_length=1)


def expand_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in strings (recursively in lists and dicts).

    >>> expand_env({"uri": "${HOST:-localhost}:5432"}, environ={})
    {'uri': 'localhost:5432'}
    """
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            hint = f"${{{name}:-default}}"
            raise InvalidParameterError(f"Environment variable {name} is not set; set it or write {hint}.")

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(item, env) for item in value]
    if isinstance(value, dict):
        return {key: expand_env(item, env) for key, item in value.items()}
    return value


def read_block_file(path: str | os.PathLike[str]) -> list[BlockDocument]:
    """Parse and check a block file; environment variables are expanded here."""
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidParameterError(f"Cannot read block file {source}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidParameterError(f"Block file {source} is not valid YAML{where}.") from exc
    try:
        parsed = BlockFile.model_validate(raw)
    except ValidationError as exc:
        raise InvalidParameterError(f"Block file {source} does not match the expected layout: {_brief(exc)}") from exc
    for document in parsed.blocks:
        # An empty value means "not set", so optional secrets can default to nothing.
        document.data = {k: val for k, val in expand_env(document.data).items() if val not in ("", None)}
    return parsed.blocks


def build_block(document: BlockDocument) -> Any:
    """The block instance a document describes, validated by the block class."""
    from prefect.blocks.core import Block, UnknownBlockType

    import prefect_mltrack.blocks  # noqa: F401  registers our block types

    try:
        block_class = Block.get_block_class_from_key(document.type)
    except (KeyError, UnknownBlockType):
        raise InvalidParameterError(
            f"Unknown block type {document.type!r}; ours are mltrack-tracking-store, "
            "mltrack-artifact-storage and mltrack-model-server."
        ) from None
    try:
        return block_class(**document.data)
    except ValidationError as exc:
        raise InvalidParameterError(f"Block {document.type}/{document.name} is invalid: {_brief(exc)}") from exc


def apply_block_file(path: str | os.PathLike[str], overwrite: bool = True) -> list[tuple[BlockDocument, Any]]:
    """Save every block in the file to the Prefect API; all are validated before any is saved."""
    documents = read_block_file(path)
    blocks = [(document, build_block(document)) for document in documents]
    for document, block in blocks:
        block.save(document.name, overwrite=overwrite)
    return blocks


def _brief(exc: ValidationError) -> str:
    """One line per problem: where, and what is wrong (pydantic's full text is too long for a CLI)."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "file"
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch" and error["loc"][-1:] == ("name",):
            message = "block names use lowercase letters, digits and dashes"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
