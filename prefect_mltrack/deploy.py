"""Publishing registered models to a model server, as a reusable Prefect flow.

``deploy_model`` resolves a registered version (by number, alias or stage), checks it loads and
predicts on its input example here, publishes it to a running ``mltrack serve`` through the admin
API (the server loads and warms it before it takes traffic), then calls the new endpoint with the
same example; when that check fails, it puts back what was served before. Each step is a task,
so the Prefect UI shows where a deployment stopped.

``promotion_trigger`` makes a deployment of this flow answer the promotion event, so moving
``@champion`` redeploys with no one in the loop::

    deploy_model.serve(name="on-promotion", triggers=[promotion_trigger("IrisClassifier", "champion", "team")])
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from prefect import flow, task

from prefect_mltrack import fluent
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.promotion import PROMOTED_EVENT
from prefect_mltrack.tasks import retry_on_transient_errors

if TYPE_CHECKING:
    from prefect_mltrack.blocks import ModelServer
    from prefect_mltrack.entities import ModelVersion

DEPLOYED_TAG = "mltrack.deployment.server"

_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [1, 5],
    "retry_condition_fn": retry_on_transient_errors,
}
_STAGES = {"none", "staging", "production", "archived"}


class DeploymentError(MLTrackError):
    """The model server refused or failed a deployment step; carries the server's HTTP status."""

    default_error_code = "INVALID_STATE"

    def __init__(self, message: str, error_code: str | None = None, status: int = 500) -> None:
        super().__init__(message, error_code)
        self.status = status

    @property
    def http_status(self) -> int:  # 4xx from the server is not retried, 5xx is
        return self.status


@task(name="Resolve model version")
def resolve_model_version(name: str, alias_or_version: str | int) -> ModelVersion:
    """The registered version meant by ``3``, ``"champion"`` (alias) or ``"Production"`` (stage)."""
    client = fluent._client()
    ref = str(alias_or_version).strip()
    if not ref:
        raise InvalidParameterError("alias_or_version is empty; give a version number, an alias or a stage.")
    if ref.isascii() and ref.isdigit():
        return client.get_model_version(name, ref)
    if ref.lower() in _STAGES:
        latest = client.get_latest_versions(name, stages=[ref])
        if not latest:
            raise InvalidParameterError(f"No version of {name!r} is in stage {ref!r}.")
        return latest[0]
    return client.get_model_version_by_alias(name, ref)


@task(name="Validate model version", **_RETRIES)
def validate_model_version(name: str, version: str) -> dict[str, Any] | None:
    """Load the version here and predict on its input example; returns the serving input example."""
    from prefect_mltrack import pyfunc
    from prefect_mltrack.models.uris import download_model

    uri = f"models:/{name}/{version}"
    model = pyfunc.load_model(uri)
    serving_example = _serving_example(download_model(uri))
    if serving_example is not None:
        from prefect_mltrack.serving.payload import parse_json_payload

        data, params = parse_json_payload(serving_example)
        model.predict(data, params=params) if params else model.predict(data)
    return serving_example


def _serving_example(model_dir: Any) -> dict[str, Any] | None:
    path = model_dir / "serving_input_example.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _check(response: Any, what: str) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            message, code = body.get("message", response.text), body.get("error_code")
        except ValueError:
            message, code = response.text, None
        raise DeploymentError(f"{what} failed with HTTP {response.status_code}: {message}", code, response.status_code)
    return response.json() if response.content else None


@task(name="Publish to model server", **_RETRIES)
def publish_model_version(server: ModelServer, name: str, version: str) -> Any:
    """Ask the server to load, warm and switch to ``models:/name/version``."""
    with server.http_client() as http:
        response = http.put(
            f"/admin/models/{name}", json={"model_uri": f"models:/{name}/{version}", "version": version}
        )
    return _check(response, f"Publishing {name} v{version} to {server.base_url}")


@task(name="Verify endpoint", **_RETRIES)
def verify_endpoint(server: ModelServer, name: str, version: str, example: dict[str, Any] | None) -> Any:
    """The server now hosts ``version`` of ``name`` and answers the example through HTTP."""
    with server.http_client() as http:
        hosted = _check(http.get("/models"), f"Listing models on {server.base_url}")
        entry = next((m for m in hosted or [] if m.get("name") == name), None)
        if entry is None or str(entry.get("version")) != str(version):
            raise DeploymentError(f"{server.base_url} does not serve {name} v{version} after publishing: {entry}")
        if example is None:
            return None
        return _check(http.post(f"/models/{name}/invocations", json=example), f"Calling {name} on {server.base_url}")


@task(name="Read current deployment")
def current_deployment(server: ModelServer, name: str) -> dict[str, Any] | None:
    """What the server hosts under ``name`` now (to roll back to), or None."""
    with server.http_client() as http:
        hosted = _check(http.get("/models"), f"Listing models on {server.base_url}")
    return next((m for m in hosted or [] if m.get("name") == name), None)


@task(name="Roll back deployment")
def roll_back(server: ModelServer, name: str, previous: dict[str, Any] | None) -> str:
    """Put back what was served before (or unload ``name`` when nothing was)."""
    with server.http_client() as http:
        if previous is None:
            _check(http.delete(f"/admin/models/{name}"), f"Unloading {name} from {server.base_url}")
            return "unloaded"
        body = {"model_uri": previous["model_uri"], "version": previous.get("version")}
        _check(http.put(f"/admin/models/{name}", json=body), f"Restoring {name} on {server.base_url}")
        return f"restored version {previous.get('version')}"


@flow(name="deploy-model")
def deploy_model(name: str, alias_or_version: str | int, server: Any) -> dict[str, Any]:
    """Publish a registered model version to a model server (a ``ModelServer`` block or its name).

    Returns what was deployed: name, version, server URL and the prediction on the input example.
    """
    from prefect.artifacts import create_markdown_artifact

    from prefect_mltrack.blocks import ModelServer

    target = ModelServer.load(server) if isinstance(server, str) else server
    if not isinstance(target, ModelServer):
        raise InvalidParameterError("server must be a ModelServer block or the name of a saved one.")
    started = time.perf_counter()
    model_version = resolve_model_version(name, alias_or_version)
    example = validate_model_version(name, model_version.version)
    previous = current_deployment(target, name)
    _published = publish_model_version(target, name, model_version.version)  # raises if refused
    try:
        answer = verify_endpoint(target, name, model_version.version, example)
    except Exception as exc:
        outcome = roll_back(target, name, previous)
        raise DeploymentError(
            f"{name} v{model_version.version} failed its check on {target.base_url} ({exc}); rolled back: {outcome}."
        ) from exc
    client = fluent._client()
    client.set_model_version_tag(name, model_version.version, DEPLOYED_TAG, target.base_url)
    result = {
        "name": name,
        "version": model_version.version,
        "requested": str(alias_or_version),
        "server": target.base_url,
        "endpoint": f"{target.base_url}/models/{name}/invocations",
        "example_prediction": answer,
        "seconds": round(time.perf_counter() - started, 3),
    }
    create_markdown_artifact(
        f"### Deployed {name} v{model_version.version}\n\n"
        f"Endpoint: `POST {result['endpoint']}`\n\nRun: `{model_version.run_id}`\n",
        description=f"Deployment of {name} to {target.base_url}.",
    )
    return result


def promotion_trigger(name: str, alias: str, server: str) -> Any:
    """A deployment trigger: when ``name``'s ``alias`` moves, run ``deploy_model`` for it on ``server``."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        expect={PROMOTED_EVENT},
        match={"prefect.resource.id": f"mltrack.model.{name}", "mltrack.model.alias": alias},
        parameters={"name": name, "alias_or_version": "{{ event.payload.version }}", "server": server},
    )
