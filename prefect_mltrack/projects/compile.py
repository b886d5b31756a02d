"""Entry points as Prefect flows, and MLflow's ``projects.run``.

``load_project(uri).entry_point("main").as_flow()`` returns a tracked Prefect flow whose keyword
parameters carry the MLproject types and defaults, so the Prefect UI shows a typed form. Each flow
run is one tracking run (``@track``); the entry point's process joins it. Example::

    flow = load_project("docs/examples/projects/iris").entry_point("main").as_flow()
    flow(n_estimators=50, max_depth=3)
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect_mltrack import fluent
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.projects.environments import ENV_MANAGERS
from prefect_mltrack.projects.run import ProjectExecutionError, execute
from prefect_mltrack.projects.source import GIT_PREFIXES, fetch_project
from prefect_mltrack.projects.spec import EntryPointSpec, ProjectSpec, load_spec

if TYPE_CHECKING:
    from prefect import Flow

EXTRA_PARAMETERS = "extra_parameters"
_ANNOTATIONS: dict[str, type] = {"int": int, "float": float, "string": str, "path": str, "uri": str}


@dataclass(frozen=True)
class Project:
    """A loaded project: where it came from (``uri``, ``version``) and its parsed spec."""

    uri: str
    spec: ProjectSpec
    version: str | None = None
    git_commit: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def entry_point(self, name: str = "main") -> EntryPoint:
        """One entry point (a declared one, or a ``.py``/``.sh`` file of the project)."""
        return EntryPoint(self, self.spec.entry_point(name))


@dataclass(frozen=True)
class EntryPoint:
    """An entry point of a project; ``as_flow()`` compiles it into a Prefect flow."""

    project: Project
    spec: EntryPointSpec

    @property
    def flow_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.project.name}-{self.spec.name}").strip("-") or "project"

    def signature(self, extras: Mapping[str, str] | None = None) -> inspect.Signature:
        """Keyword-only parameters with the MLproject types and defaults (required ones have none)."""
        params = [
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if p.required else p.default,
                annotation=_ANNOTATIONS[p.type],
            )
            for p in self.spec.parameters.values()
        ]
        if extras:
            if EXTRA_PARAMETERS in self.spec.parameters:
                raise InvalidParameterError(f"'{EXTRA_PARAMETERS}' is reserved; rename that parameter.")
            params.append(
                inspect.Parameter(
                    EXTRA_PARAMETERS, inspect.Parameter.KEYWORD_ONLY, default=dict(extras), annotation=dict[str, str]
                )
            )
        return inspect.Signature(params)

    def as_flow(
        self,
        *,
        experiment: str | None = None,
        env_manager: str = "local",
        extra_parameters: Mapping[str, str] | None = None,
        storage_dir: str | None = None,
        **flow_kwargs: Any,
    ) -> Flow[..., int]:
        """A tracked Prefect flow that runs this entry point (fetching the project on each run)."""
        from prefect import flow

        from prefect_mltrack.flow_tracking import track

        if env_manager not in ENV_MANAGERS:
            raise InvalidParameterError(f"Unknown env manager {env_manager!r}; use one of {', '.join(ENV_MANAGERS)}.")
        project, entry = self.project, self.spec.name

        def body(**kwargs: Any) -> int:
            active = fluent.active_run()
            if active is None:  # pragma: no cover - @track always opens one
                raise MLTrackError("The project flow runs without a tracking run.")
            values = dict(kwargs.pop(EXTRA_PARAMETERS, None) or {})
            values.update(kwargs)
            with fetch_project(project.uri, project.version) as (folder, commit):
                return execute(
                    load_spec(folder),
                    entry,
                    values,
                    run_id=active.info.run_id,
                    env_manager=env_manager,
                    source_name=project.uri,
                    git_commit=commit,
                    storage_dir=storage_dir,
                )

        body.__name__ = body.__qualname__ = self.flow_name.replace("-", "_").replace(".", "_")
        body.__doc__ = f"Entry point '{entry}' of MLflow project '{project.name}' ({project.uri})."
        body.__signature__ = self.signature(extra_parameters)  # type: ignore[attr-defined]
        options: dict[str, Any] = {"name": self.flow_name, "log_prints": False, **flow_kwargs}
        tracked = track(experiment=experiment or project.name, log_parameters=False)(flow(**options)(body))
        return tracked  # type: ignore[no-any-return]


def load_project(uri: str | os.PathLike[str], version: str | None = None) -> Project:
    """Load the project at ``uri`` (a folder, a git repository or URL, ``#subdir`` allowed)."""
    text = os.fspath(uri)
    with fetch_project(text, version) as (folder, commit):
        spec = load_spec(folder)
    stable_uri = text if text.startswith(GIT_PREFIXES) else _absolute(text)  # flows may run from another cwd
    return Project(stable_uri, spec, version, commit)


def _absolute(uri: str) -> str:
    base, sep, subdir = uri.partition("#")
    return os.path.abspath(os.path.expanduser(base)) + sep + subdir


@dataclass(frozen=True)
class SubmittedRun:
    """A finished project run, as MLflow's ``projects.run`` returns it (synchronous runs only)."""

    run_id: str
    flow_run_id: str | None = None

    def get_status(self) -> str:
        return fluent._client().get_run(self.run_id).info.status

    def wait(self) -> bool:
        """True when the run FINISHED (it has already ended: runs are synchronous)."""
        return self.get_status() == "FINISHED"

    def cancel(self) -> None:
        """Nothing to do: a synchronous run has ended by the time it is returned."""


def run(
    uri: str | os.PathLike[str],
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    env_manager: str = "local",
    storage_dir: str | None = None,
    synchronous: bool = True,
) -> SubmittedRun:
    """Run a project entry point as a tracked Prefect flow run; MLflow's ``mlflow.projects.run``.

    Raises ``ProjectExecutionError`` (with ``run_id`` and ``exit_code``) when the entry point fails.

    Example::

        submitted = run("docs/examples/projects/iris", parameters={"n_estimators": 50})
        submitted.run_id, submitted.get_status()   # ('…', 'FINISHED')
    """
    from prefect_mltrack.flow_tracking import run_id_for_flow_run

    if not synchronous:
        raise InvalidParameterError("Only synchronous project runs are supported; deploy the flow to run it elsewhere.")
    project = load_project(uri, version)
    ep = project.entry_point(entry_point)
    declared, extras = ep.spec.check(dict(parameters or {}))  # clear errors before any flow run starts
    if experiment_id is not None and experiment_name is None:
        experiment_name = fluent._client().get_experiment(str(experiment_id)).name
    project_flow = ep.as_flow(
        experiment=experiment_name, env_manager=env_manager, extra_parameters=extras, storage_dir=storage_dir
    )
    state: Any = project_flow(**declared, return_state=True)
    flow_run_id = state.state_details.flow_run_id
    if flow_run_id is None:  # pragma: no cover - a flow call always has one
        raise MLTrackError("Prefect returned no flow run id.")
    submitted = SubmittedRun(run_id_for_flow_run(flow_run_id), str(flow_run_id))
    if not state.is_completed():
        try:
            state.result()
        except ProjectExecutionError as exc:
            exc.run_id = submitted.run_id
            raise
    return submitted
