"""MLflow Projects: ``MLproject`` files whose entry points run as tracked Prefect flows.

Example::

    from prefect_mltrack.projects import load_project, run

    flow = load_project(".").entry_point("main").as_flow()   # a Prefect flow with typed parameters
    flow(n_estimators=50, max_depth=3)
    run(".", parameters={"n_estimators": 50})                # MLflow-style
"""

from prefect_mltrack.projects.compile import EntryPoint, Project, SubmittedRun, load_project, run
from prefect_mltrack.projects.run import ProjectExecutionError, execute
from prefect_mltrack.projects.spec import EntryPointSpec, Parameter, ProjectSpec, ProjectSpecError, load_spec

__all__ = [
    "EntryPoint",
    "EntryPointSpec",
    "Parameter",
    "Project",
    "ProjectExecutionError",
    "ProjectSpec",
    "ProjectSpecError",
    "SubmittedRun",
    "execute",
    "load_project",
    "load_spec",
    "run",
]
