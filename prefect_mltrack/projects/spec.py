"""The ``MLproject`` file: name, environment and entry points with typed parameters.

A folder without an ``MLproject`` file still runs: an entry point named ``train.py`` or
``prep.sh`` runs that file, as in MLflow. Unlike MLflow, ``int`` and ``float`` values are really
checked. Example::

    project = load_spec("docs/examples/projects/iris")
    project.entry_point("main").parameters["max_depth"].type   # 'int'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError

PARAMETER_TYPES = ("string", "float", "int", "path", "uri")
ENV_KEYS = ("python_env", "conda_env", "docker_env")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MISSING: Any = object()


class ProjectSpecError(InvalidParameterError):
    """An MLproject file that cannot be read or breaks the format; the message names the file."""


@dataclass(frozen=True)
class Parameter:
    """One declared entry-point parameter: its type and default (``None`` when required)."""

    name: str
    type: str = "string"
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None

    def convert(self, value: Any) -> Any:
        """Check ``value`` against the type; return it as int/float/str. Raises INVALID_PARAMETER_VALUE."""
        bad = f"Invalid value {value!r} for parameter '{self.name}' of type {self.type}"
        if self.type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise InvalidParameterError(f"{bad}: expected an integer.")
            try:
                return int(value) if not isinstance(value, str) else int(value.strip(), 10)
            except (TypeError, ValueError):
                raise InvalidParameterError(f"{bad}: expected an integer.") from None
        if self.type == "float":
            if isinstance(value, bool):
                raise InvalidParameterError(f"{bad}: expected a number.")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InvalidParameterError(f"{bad}: expected a number.") from None
            if math.isnan(number) and str(value).strip().lower() not in ("nan", "+nan", "-nan"):
                raise InvalidParameterError(f"{bad}: expected a number.")
            return number
        if not isinstance(value, str | int | float) or (isinstance(value, bool) and self.type != "string"):
            raise InvalidParameterError(f"{bad}: expected text.")
        text = str(value)
        if self.type in ("path", "uri") and not text.strip():
            raise InvalidParameterError(f"{bad}: expected a non-empty {self.type}.")
        if self.type == "uri" and not (_URI.match(text) or text.startswith(("/", "./", "../"))):
            raise InvalidParameterError(f"{bad}: expected a URI such as s3://bucket/key or file:///data.")
        return text


@dataclass(frozen=True)
class EntryPointSpec:
    """An entry point: its command template and declared parameters (in file order)."""

    name: str
    command: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)

    def check(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Typed values for every declared parameter (defaults filled in) and the undeclared extras.

        >>> ep = EntryPointSpec("main", "python t.py {n}", {"n": Parameter("n", "int", 1)})
        >>> ep.check({"n": "3", "seed": 7})
        ({'n': 3}, {'seed': '7'})
        """
        missing = [p.name for p in self.parameters.values() if p.required and values.get(p.name) is None]
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            raise InvalidParameterError(f"No value given for missing parameters: {names} (entry point '{self.name}').")
        declared: dict[str, Any] = {}
        for param in self.parameters.values():
            value = values.get(param.name)
            declared[param.name] = param.convert(param.default if value is None else value)
        extras = {str(k): str(v) for k, v in values.items() if k not in self.parameters and v is not None}
        return declared, extras


@dataclass(frozen=True)
class ProjectSpec:
    """A parsed project: where it lives, its name, its environment and its entry points."""

    directory: Path
    name: str
    entry_points: Mapping[str, EntryPointSpec]
    env_type: str | None = None  # "python_env" | "conda_env" | "docker_env" | None
    env: Any = None  # the file name, or docker_env's mapping
    has_mlproject: bool = True

    def entry_point(self, name: str = "main") -> EntryPointSpec:
        """The declared entry point, or a ``.py``/``.sh`` file of the project run directly."""
        if name in self.entry_points:
            return self.entry_points[name]
        script = self.directory / name
        if name.endswith((".py", ".sh")) and script.is_file() and script.resolve().is_relative_to(self.directory):
            interpreter = "python" if name.endswith(".py") else "bash"
            return EntryPointSpec(name=name, command=f"{interpreter} {_quote(name)}")
        declared = ", ".join(sorted(self.entry_points)) or "none"
        raise ResourceNotFoundError(
            f"Entry point '{name}' not found in project '{self.name}' (declared: {declared}); "
            "a .py or .sh file of the project can also be named."
        )


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def find_mlproject(directory: Path) -> Path | None:
    """The ``MLproject`` file of a folder, matched case-insensitively like MLflow."""
    for candidate in sorted(directory.iterdir()) if directory.is_dir() else ():
        if candidate.name.lower() == "mlproject" and candidate.is_file():
            return candidate
    return None


def load_spec(directory: str | Path) -> ProjectSpec:
    """Read and validate the project in ``directory``."""
    folder = Path(directory).resolve()
    if not folder.is_dir():
        raise ResourceNotFoundError(f"Project directory '{directory}' does not exist.")
    mlproject = find_mlproject(folder)
    if mlproject is None:
        env_type, env = _default_env(folder)
        return ProjectSpec(folder, folder.name, {}, env_type, env, has_mlproject=False)
    try:
        data = yaml.safe_load(mlproject.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProjectSpecError(f"{mlproject} is not valid YAML: {exc}") from None
    return parse_spec(data, folder, source=str(mlproject))


def parse_spec(data: Any, directory: Path, source: str = "MLproject") -> ProjectSpec:
    """Validate the loaded YAML of an MLproject file."""
    if not isinstance(data, Mapping):
        raise ProjectSpecError(f"{source}: the top level must be a mapping, not {type(data).__name__}.")
    unknown = set(data) - {"name", "entry_points", "databricks_spark_job", *ENV_KEYS}
    if unknown:
        raise ProjectSpecError(f"{source}: unknown keys {sorted(map(str, unknown))}.")
    envs = [k for k in ENV_KEYS if k in data]
    if len(envs) > 1:
        raise ProjectSpecError(f"{source}: give only one of {', '.join(ENV_KEYS)} (found {', '.join(envs)}).")
    env_type, env = (envs[0], data[envs[0]]) if envs else _default_env(directory)
    if env_type == "docker_env":
        if not isinstance(env, Mapping) or not isinstance(env.get("image"), str):
            raise ProjectSpecError(f"{source}: docker_env needs an 'image' string.")
    elif env_type and envs and (not isinstance(env, str) or not (directory / env).is_file()):
        raise ProjectSpecError(f"{source}: {env_type} file {env!r} not found in {directory}.")
    name = data.get("name") or directory.name
    if not isinstance(name, str):
        raise ProjectSpecError(f"{source}: 'name' must be a string.")
    raw_entries = data.get("entry_points") or {}
    if not isinstance(raw_entries, Mapping):
        raise ProjectSpecError(f"{source}: 'entry_points' must be a mapping of name to entry point.")
    entries = {str(k): _entry_point(str(k), v, source) for k, v in raw_entries.items()}
    return ProjectSpec(directory, name, entries, env_type, env)


def _entry_point(name: str, raw: Any, source: str) -> EntryPointSpec:
    where = f"{source}: entry point '{name}'"
    if not isinstance(raw, Mapping):
        raise ProjectSpecError(f"{where} must be a mapping with 'command' and optional 'parameters'.")
    command = raw.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ProjectSpecError(f"{where} needs a 'command' string.")
    raw_params = raw.get("parameters") or {}
    if not isinstance(raw_params, Mapping):
        raise ProjectSpecError(f"{where}: 'parameters' must be a mapping.")
    params = {str(k): _parameter(str(k), v, where) for k, v in raw_params.items()}
    return EntryPointSpec(name, command, params)


def _parameter(name: str, raw: Any, where: str) -> Parameter:
    if not name.isidentifier():
        raise ProjectSpecError(f"{where}: parameter name {name!r} must be an identifier (letters, digits, _).")
    if isinstance(raw, str):  # shorthand ``name: type``
        raw = {"type": raw}
    elif raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ProjectSpecError(f"{where}: parameter '{name}' must be a type name or {{type, default}}.")
    ptype = str(raw.get("type", "string"))
    if ptype not in PARAMETER_TYPES:
        raise ProjectSpecError(
            f"{where}: parameter '{name}' has unknown type {ptype!r} (use {', '.join(PARAMETER_TYPES)})."
        )
    param = Parameter(name, ptype, raw.get("default"))
    if param.default is not None:
        try:
            param = Parameter(name, ptype, param.convert(param.default))
        except InvalidParameterError as exc:
            raise ProjectSpecError(f"{where}: bad default. {exc.message}") from None
    return param


def _default_env(directory: Path) -> tuple[str | None, str | None]:
    # MLflow's lookup when the MLproject names no environment.
    for env_type, file in (("python_env", "python_env.yaml"), ("conda_env", "conda.yaml")):
        if (directory / file).is_file():
            return env_type, file
    return None, None
