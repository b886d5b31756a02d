"""The environment files of a model directory: ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``.

MLflow infers requirements by loading the model in a subprocess and watching what it imports,
which costs seconds per ``log_model``. We read them instead from what the model needs to load:
the modules a pickle file names (its GLOBAL opcodes, found with :mod:`pickletools`, never by
unpickling) plus the flavor's own packages, pinned to the installed versions via
:mod:`importlib.metadata`. A ``PythonModel`` that imports modules inside its methods should list
those with ``extra_pip_requirements``.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import pickletools
import platform
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError

__all__ = [
    "CONDA_ENV_FILE",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "infer_requirements",
    "pickle_modules",
    "pinned",
    "write_environment",
]

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
CONSTRAINTS_FILE = "constraints.txt"

# Import names whose distribution is named differently; the rest are found through metadata.
_KNOWN_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
    "skops": "skops",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "prefect_mltrack": "prefect-mltrack",
}
# Names a pickle can mention that are not installable distributions.
_IGNORED_MODULES = {"__main__", "builtins", "copyreg", "_codecs"}


def pickle_modules(path: str | os.PathLike[str]) -> set[str]:
    """Top-level modules a pickle file imports when loaded, read from its opcodes (nothing is executed)."""
    modules: set[str] = set()
    # A rough model of the pickle stack, enough to see the two strings STACK_GLOBAL consumes
    # (pushed directly or fetched from the memo); other pushes are recorded as None.
    pushed: list[str | None] = []
    memo: dict[int, str | None] = {}
    with open(path, "rb") as stream:
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                name = opcode.name
                if name in ("GLOBAL", "INST") and isinstance(arg, str):
                    modules.add(arg.split(" ", 1)[0].split(".", 1)[0])
                    pushed.append(None)
                elif name == "STACK_GLOBAL":
                    module = pushed[-2] if len(pushed) >= 2 else None
                    if module:
                        modules.add(module.split(".", 1)[0])
                    pushed.append(None)
                elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                    pushed.append(arg if isinstance(arg, str) else None)
                elif name == "MEMOIZE":
                    memo[len(memo)] = pushed[-1] if pushed else None
                elif name in ("PUT", "BINPUT", "LONG_BINPUT") and isinstance(arg, int):
                    memo[arg] = pushed[-1] if pushed else None
                elif name in ("GET", "BINGET", "LONG_BINGET") and isinstance(arg, int):
                    pushed.append(memo.get(arg))
                elif name not in ("FRAME", "PROTO", "STOP"):
                    pushed.append(None)
                if len(pushed) > 64:
                    del pushed[:32]
        except (ValueError, EOFError):
            pass  # a truncated or odd stream gives what was read so far
    return {m for m in modules if m and m not in _IGNORED_MODULES and m not in sys.stdlib_module_names}


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def _distribution_of(module: str) -> str | None:
    name = _KNOWN_DISTRIBUTIONS.get(module, module)
    try:
        metadata.version(name)
        return name
    except metadata.PackageNotFoundError:
        found = _packages_distributions().get(module)
        return found[0] if found else None


def pinned(name: str) -> str:
    """``name==<installed version>``, or the bare name when it is not installed."""
    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def infer_requirements(defaults: Iterable[str], pickles: Iterable[Path] = ()) -> list[str]:
    """Pinned requirements: the flavor's ``defaults`` plus the distributions of modules the pickles import."""
    names = dict.fromkeys(defaults)
    for path in pickles:
        for module in sorted(pickle_modules(path)):
            dist = _distribution_of(module)
            if dist is not None:
                names.setdefault(dist)
    seen: set[str] = set()
    result = []
    for name in names:
        key = name.lower().replace("_", "-")
        if key not in seen:
            seen.add(key)
            result.append(pinned(name))
    return sorted(result, key=str.lower)


def _build_dependencies() -> list[str]:
    deps = []
    for name in ("pip", "setuptools"):
        try:
            deps.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            deps.append(name)
    return [*deps, "wheel"]


def read_conda_env(conda_env: str | os.PathLike[str] | dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A user's conda environment (dict or YAML file) and the pip requirements listed in it."""
    import yaml

    env = conda_env if isinstance(conda_env, dict) else yaml.safe_load(Path(conda_env).read_text(encoding="utf-8"))
    if not isinstance(env, dict):
        raise InvalidParameterError(f"conda_env must be a dict or a YAML file holding a mapping, got {conda_env!r}")
    pip: list[str] = []
    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            pip.extend(str(r) for r in dep["pip"])
    return env, pip


def write_environment(
    path: Path,
    defaults: Sequence[str],
    pickles: Sequence[Path] = (),
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    conda_env: str | os.PathLike[str] | dict[str, Any] | None = None,
) -> list[str]:
    """Write requirements.txt, python_env.yaml and conda.yaml into ``path``; returns the requirements.

    ``pip_requirements`` replaces the inferred list; ``extra_pip_requirements`` adds to it;
    ``conda_env`` is written as given and its pip section becomes requirements.txt.
    """
    import yaml

    if sum(x is not None for x in (pip_requirements, extra_pip_requirements, conda_env)) > 1:
        raise InvalidParameterError(
            "Give at most one of conda_env, pip_requirements and extra_pip_requirements (as MLflow requires)"
        )
    python = platform.python_version()
    conda: dict[str, Any] | None = None
    if conda_env is not None:
        conda, requirements = read_conda_env(conda_env)
    elif pip_requirements is not None:
        requirements = _requirement_lines(pip_requirements)
    else:
        requirements = infer_requirements(defaults, pickles)
        if extra_pip_requirements is not None:
            requirements += [r for r in _requirement_lines(extra_pip_requirements) if r not in requirements]
    constraints = [r for r in requirements if r.startswith("-c ")]
    requirements = [r for r in requirements if not r.startswith("-c ")]
    if constraints:
        lines = []
        for ref in constraints:
            lines.extend(_requirement_lines(ref[3:].strip()))
        (path / CONSTRAINTS_FILE).write_text("\n".join(lines), encoding="utf-8")
        requirements.append(f"-c {CONSTRAINTS_FILE}")
    (path / REQUIREMENTS_FILE).write_text("\n".join(requirements), encoding="utf-8")
    build = _build_dependencies()
    python_env = {"python": python, "build_dependencies": build, "dependencies": [f"-r {REQUIREMENTS_FILE}"]}
    (path / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False), encoding="utf-8")
    if conda is None:
        pip_pin = build[0].replace("==", "<=") if build[0].startswith("pip==") else "pip"
        conda = {
            "channels": ["conda-forge"],
            "dependencies": [f"python={python}", pip_pin, {"pip": requirements}],
            "name": "mlflow-env",
        }
    (path / CONDA_ENV_FILE).write_text(yaml.safe_dump(conda, default_flow_style=False), encoding="utf-8")
    return requirements


def _requirement_lines(value: Sequence[str] | str) -> list[str]:
    """A list of requirements, or the path of a requirements file (read line by line)."""
    if isinstance(value, str):
        file = Path(value)
        if not file.is_file():
            raise InvalidParameterError(f"Requirements file {value!r} does not exist; pass a list or a file path")
        lines = file.read_text(encoding="utf-8").splitlines()
    else:
        lines = [str(v) for v in value]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
