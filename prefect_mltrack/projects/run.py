"""Run one entry point as a child process that joins a tracking run.

The child gets ``MLTRACK_RUN_ID``, ``MLTRACK_TRACKING_URI`` and ``MLTRACK_EXPERIMENT_ID`` (and the
``MLFLOW_`` names), so ``start_run()`` or a first ``log_metric`` in it resumes the run. Its output
goes to our stdout and, inside a flow run, to Prefect's run logger. A non-zero exit raises
:class:`ProjectExecutionError` (the caller ends the run FAILED); an interrupt or cancellation
stops the child's whole process group before it propagates (the run ends KILLED). Example::

    with start_run() as run:
        execute(load_spec("."), "main", {"alpha": "0.5"}, run_id=run.info.run_id)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from prefect_mltrack import fluent
from prefect_mltrack.entities import Param, RunTag, SourceType
from prefect_mltrack.exceptions import MLTrackError
from prefect_mltrack.projects.command import _text, build_command, render, to_argv
from prefect_mltrack.projects.environments import prepare
from prefect_mltrack.projects.spec import ProjectSpec

logger = logging.getLogger(__name__)

EXIT_CODE_TAG = "mltrack.project.exit_code"
COMMAND_TAG = "mltrack.project.command"
_STOP_GRACE_S = 5.0


class ProjectExecutionError(MLTrackError):
    """The entry point's process exited with a non-zero code (kept in ``exit_code``)."""

    default_error_code = "INTERNAL_ERROR"

    def __init__(self, message: str, exit_code: int, run_id: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.run_id = run_id


def execute(
    spec: ProjectSpec,
    entry_point: str,
    parameters: Mapping[str, Any],
    *,
    run_id: str,
    env_manager: str = "local",
    source_name: str | None = None,
    git_commit: str | None = None,
    storage_dir: str | Path | None = None,
) -> int:
    """Run the entry point inside ``run_id``; return 0 or raise. Params and source tags are logged first."""
    client = fluent._client()
    ep = spec.entry_point(entry_point)
    declared, extras = ep.check(parameters)
    run = client.get_run(run_id)
    logged = {**{k: _text(v) for k, v in declared.items()}, **extras}
    with _storage(storage_dir) as storage:
        for index, param in enumerate(ep.parameters.values()):
            if param.type == "path":
                declared[param.name] = resolve_path(str(declared[param.name]), storage / f"param_{index}")
        line = build_command(ep.command, declared, extras)
        argv = to_argv(ep.command, line)
        child_env = {
            "MLTRACK_RUN_ID": run_id,
            "MLTRACK_TRACKING_URI": client.tracking_uri,
            "MLTRACK_EXPERIMENT_ID": run.info.experiment_id,
        }
        prepared = prepare(spec, argv, env_manager, child_env)
        tags = {
            "mlflow.source.name": source_name or str(spec.directory),
            "mlflow.source.type": SourceType.PROJECT.value,
            "mlflow.project.entryPoint": ep.name,
            "mlflow.project.env": env_manager,
            "mlflow.project.backend": "local",
            COMMAND_TAG: render(prepared.argv)[:5000],
        }
        if git_commit:
            tags["mlflow.source.git.commit"] = git_commit
        client.log_batch(
            run_id,
            params=[Param(key=k, value=v) for k, v in logged.items()],
            tags=[RunTag(key=k, value=v) for k, v in tags.items()],
        )
        env = {**os.environ, **prepared.env, **child_env}
        env.update({k.replace("MLTRACK_", "MLFLOW_", 1): v for k, v in child_env.items()})
        code = _run_child(prepared.argv, spec.directory, env)
    client.set_tag(run_id, EXIT_CODE_TAG, str(code))
    if code != 0:
        raise ProjectExecutionError(
            f"Entry point '{ep.name}' of project '{spec.name}' failed with exit code {code} (run {run_id}).",
            exit_code=code,
            run_id=run_id,
        )
    return code


def resolve_path(value: str, download_dir: Path) -> str:
    """A ``path`` parameter made absolute; a remote URI is downloaded first (MLflow's behaviour)."""
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return str(Path(urllib.request.url2pathname(parsed.path)).resolve())
    if parsed.scheme in ("http", "https"):
        download_dir.mkdir(parents=True, exist_ok=True)
        target = download_dir / (Path(parsed.path).name or "download")
        urllib.request.urlretrieve(value, target)
        return str(target)
    if parsed.scheme and len(parsed.scheme) > 1:  # s3://, gs://, ... through the artifact repositories
        from prefect_mltrack.artifacts import get_artifact_repository

        download_dir.mkdir(parents=True, exist_ok=True)
        base, _, name = value.rstrip("/").rpartition("/")
        return str(get_artifact_repository(base).download_artifacts(name, str(download_dir)))
    return os.path.abspath(os.path.expanduser(value))


@contextlib.contextmanager
def _storage(storage_dir: str | Path | None) -> Iterator[Path]:
    if storage_dir is not None:
        yield Path(storage_dir)
        return
    with tempfile.TemporaryDirectory(prefix="mltrack-params-") as tmp:
        yield Path(tmp)


def _run_child(argv: list[str], cwd: Path, env: Mapping[str, str]) -> int:
    """Start the child in its own process group, stream its output, stop the group on any exit."""
    run_logger = _prefect_logger()
    logger.info("Running %s in %s", render(argv), cwd)
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError as exc:
        raise ProjectExecutionError(f"Cannot start `{render(argv)}`: {exc.strerror}: {exc.filename}", 127) from None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if run_logger is not None:
                run_logger.info(line.rstrip("\n"))
        return proc.wait()
    finally:
        if proc.poll() is None:
            _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after a grace period."""
    logger.warning("Stopping the entry point (pid %s)", proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=_STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def _prefect_logger() -> Any:
    try:
        from prefect.context import FlowRunContext
        from prefect.logging import get_run_logger
    except ImportError:  # pragma: no cover - prefect is a dependency
        return None
    return get_run_logger() if FlowRunContext.get() is not None else None
