"""Environments an entry point runs in: ``local``, ``virtualenv``, ``conda`` and ``docker``.

Each manager turns the project's argv into the one to start, plus environment variables.
Virtualenvs are cached under ``$MLTRACK_HOME/envs/`` by a hash of their spec, so a second run
reuses one; dependency lines are passed to the installer as arguments, never through a shell.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prefect_mltrack import settings
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.projects.command import render
from prefect_mltrack.projects.spec import ProjectSpec

logger = logging.getLogger(__name__)

ENV_MANAGERS = ("local", "virtualenv", "conda", "docker")
_READY = ".mltrack-ready"


class ProjectEnvironmentError(MLTrackError):
    """An environment that cannot be made; the message says how to run with another manager."""

    default_error_code = "INVALID_STATE"


@dataclass(frozen=True)
class Prepared:
    """What to start: the argv and extra environment variables."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def prepare(spec: ProjectSpec, argv: Sequence[str], env_manager: str, run_env: Mapping[str, str]) -> Prepared:
    """Make (or reuse) the environment and wrap ``argv`` for it."""
    if env_manager not in ENV_MANAGERS:
        raise InvalidParameterError(f"Unknown env manager {env_manager!r}; use one of {', '.join(ENV_MANAGERS)}.")
    if env_manager == "local":
        # ``python`` in a command means this interpreter, as it does for MLflow run from its own env.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return Prepared(list(argv), {"PATH": path})
    if spec.env_type == "docker_env" and env_manager != "docker":
        raise InvalidParameterError(
            f"Project '{spec.name}' declares docker_env; run it with --env-manager docker or local."
        )
    if env_manager == "virtualenv":
        if spec.env_type == "conda_env":
            raise InvalidParameterError(
                f"Project '{spec.name}' declares conda_env; run it with --env-manager conda or local."
            )
        venv = ensure_virtualenv(spec)
        bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
        path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return Prepared(list(argv), {"VIRTUAL_ENV": str(venv), "PATH": path})
    if env_manager == "conda":
        return _conda(spec, argv)
    return _docker(spec, argv, run_env)


# -- virtualenv ---------------------------------------------------------------------------------
def python_requirements(spec: ProjectSpec) -> tuple[str | None, list[str]]:
    """The Python version asked for and the dependency lines, from python_env.yaml or requirements.txt."""
    if spec.env_type == "python_env" and spec.env:
        data = yaml.safe_load((spec.directory / spec.env).read_text()) or {}
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"{spec.env} must be a mapping with python and dependencies.")
        deps = [*(data.get("build_dependencies") or []), *(data.get("dependencies") or [])]
        python = data.get("python")
        return (str(python) if python else None), [_requirement(spec, str(d)) for d in deps]
    requirements = spec.directory / "requirements.txt"
    if requirements.is_file():
        lines = [line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines()]
        return None, [_requirement(spec, line) for line in lines if line]
    return None, []


def _requirement(spec: ProjectSpec, line: str) -> str:
    # ``-r other.txt`` is resolved against the project, so the cached env does not depend on the cwd.
    if line.startswith(("-r ", "-c ")):
        return f"{line[:2]} {spec.directory / line[3:].strip()}"
    return line


def ensure_virtualenv(spec: ProjectSpec) -> Path:
    """The cached venv for the project's spec: created on first use, reused afterwards."""
    python, deps = python_requirements(spec)
    interpreter = _interpreter(python)
    key = hashlib.sha256(json.dumps([interpreter, python, deps]).encode()).hexdigest()[:16]
    venv = settings.mltrack_home() / "envs" / f"venv-{key}"
    if (venv / _READY).is_file():
        logger.info("Reusing virtualenv %s", venv)
        return venv
    shutil.rmtree(venv, ignore_errors=True)  # a half-made env from an interrupted run
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    logger.info("Creating virtualenv %s with %s", venv, "uv" if uv else "venv + pip")
    if uv:
        _check([uv, "venv", "--quiet", "--python", interpreter, str(venv)])
        if deps:
            _check([uv, "pip", "install", "--quiet", "--python", str(_venv_python(venv)), *_split(deps)])
    else:
        _check([interpreter, "-m", "venv", *(() if deps else ("--without-pip",)), str(venv)])
        if deps:
            _check([str(_venv_python(venv)), "-m", "pip", "install", "--quiet", *_split(deps)])
    (venv / _READY).write_text(json.dumps({"python": python, "dependencies": deps}))
    return venv


def _split(deps: list[str]) -> list[str]:
    out: list[str] = []
    for dep in deps:  # "-r file" is an option and its value: two arguments
        out.extend(dep.split(" ", 1) if dep.startswith(("-r ", "-c ")) else [dep])
    return out


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _interpreter(version: str | None) -> str:
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version is None or version == current or version.startswith(current + "."):
        return sys.executable
    wanted = ".".join(version.split(".")[:2])
    found = shutil.which(f"python{wanted}")
    if found:
        return found
    if shutil.which("uv"):
        return version  # uv downloads the interpreter
    raise ProjectEnvironmentError(
        f"Python {version} is not installed (this is {current}); install it or uv, or run with --env-manager local."
    )


def _check(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ProjectEnvironmentError(f"`{render(argv)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


# -- conda and docker ---------------------------------------------------------------------------
def _conda(spec: ProjectSpec, argv: Sequence[str]) -> Prepared:
    conda = os.environ.get("MLTRACK_CONDA_HOME") and str(Path(os.environ["MLTRACK_CONDA_HOME"]) / "bin" / "conda")
    conda = conda or shutil.which("conda") or shutil.which("mamba")
    if not conda:
        raise ProjectEnvironmentError(
            "conda is not installed (or not on PATH). Install it, or run with --env-manager virtualenv "
            "(python_env.yaml/requirements.txt) or --env-manager local (the current environment)."
        )
    if spec.env_type != "conda_env":
        raise InvalidParameterError(f"Project '{spec.name}' has no conda.yaml; use --env-manager virtualenv or local.")
    env_file = spec.directory / str(spec.env)
    key = hashlib.sha256(env_file.read_bytes()).hexdigest()[:16]
    prefix = settings.mltrack_home() / "envs" / f"conda-{key}"
    if not (prefix / _READY).is_file():
        _check([conda, "env", "create", "--quiet", "--prefix", str(prefix), "--file", str(env_file)])
        (prefix / _READY).write_text("")
    return Prepared([conda, "run", "--no-capture-output", "--prefix", str(prefix), *argv])


def docker_command(spec: ProjectSpec, argv: Sequence[str], run_env: Mapping[str, str]) -> list[str]:
    """The ``docker run`` line for a docker_env project: code mounted, tracking variables passed in."""
    env: Mapping[str, Any] = spec.env if isinstance(spec.env, Mapping) else {}
    image = str(env.get("image") or spec.name)
    line = ["docker", "run", "--rm", "-v", f"{spec.directory}:/mlflow/projects/code", "-w", "/mlflow/projects/code"]
    for volume in env.get("volumes") or []:
        line += ["-v", str(volume)]
    for item in env.get("environment") or []:
        line += ["-e", f"{item[0]}={item[1]}" if isinstance(item, list) else str(item)]
    for key, value in run_env.items():
        line += ["-e", f"{key}={value}"]
    return [*line, image, *argv]


def _docker(spec: ProjectSpec, argv: Sequence[str], run_env: Mapping[str, str]) -> Prepared:
    line = docker_command(spec, argv, run_env)
    docker = shutil.which("docker")
    running = False
    if docker:
        try:
            running = subprocess.run([docker, "info"], capture_output=True, check=False, timeout=15).returncode == 0
        except subprocess.TimeoutExpired:
            running = False
    if not running:
        raise ProjectEnvironmentError(
            f"No docker engine is running{'' if docker else ' (docker is not installed)'}. The command would be:\n"
            f"  {render(line)}\nStart docker, or run with --env-manager local."
        )
    logger.info("Running in docker: %s", render(line))
    return Prepared(line)
