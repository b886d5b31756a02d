"""The REST store's model-registry calls (ModelRegistryService, reference §3.4).

Reads are GETs with a query string (``order_by`` repeated per item); writes POST or PATCH a JSON
body; deletes are DELETEs **with a JSON body**, as MLflow's client sends them. Tags are checked
here (a None value would otherwise reach the server as JSON null); everything else is the
server's to check.

Example:
    >>> store = RestStore("http://127.0.0.1:5000")                        # doctest: +SKIP
    >>> store.create_registered_model("iris")                              # doctest: +SKIP
    >>> store.set_registered_model_alias("iris", "champion", 1)            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prefect_mltrack import validation as v
from prefect_mltrack import wire
from prefect_mltrack.entities import ModelVersion, ModelVersionTag, PagedList, RegisteredModel, RegisteredModelTag
from prefect_mltrack.store.rest_http import Json

__all__ = ["RestRegistryMixin"]


def _registry_tags(tags: Iterable[Any] | None, what: str) -> list[Json]:
    """Registry tags, checked here because a None value would reach the server as JSON null."""
    out = []
    for tag in tags or ():
        key, value = v.validate_registry_tag(tag.key, tag.value, what)
        out.append({"key": key, "value": value})
    return out


def _page_token(answer: Json) -> str | None:
    return answer.get("next_page_token") or None


def _search_params(
    filter_string: str | None, max_results: int, order_by: Sequence[str] | None, page_token: str | None
) -> list[tuple[str, Any]]:
    """A registry search as a query string; ``order_by`` repeats its key per item."""
    params: list[tuple[str, Any]] = [("max_results", max_results)]
    if filter_string:
        params.append(("filter", filter_string))
    params.extend(("order_by", item) for item in order_by or ())
    if page_token:
        params.append(("page_token", page_token))
    return params


class RestRegistryMixin:
    """The registry part of :class:`~prefect_mltrack.store.rest.RestStore` (needs its transport)."""

    _get: Callable[[str, Any], Json]
    _post: Callable[..., Json]
    _patch: Callable[[str, Json], Json]
    _delete: Callable[[str, Json], Json]

    # -- registry: registered models ------------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body: Json = {"name": name, "tags": _registry_tags(tags, "registered model tag")}
        if description is not None:
            body["description"] = description
        return wire.registered_model_from_json(self._post("registered-models/create", body)["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        return wire.registered_model_from_json(self._get("registered-models/get", {"name": name})["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        answer = self._post("registered-models/rename", {"name": name, "new_name": new_name})
        return wire.registered_model_from_json(answer["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        body: Json = {"name": name}
        if description is not None:
            body["description"] = description
        return wire.registered_model_from_json(self._patch("registered-models/update", body)["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._delete("registered-models/delete", {"name": name})

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        answer = self._get("registered-models/search", _search_params(filter_string, max_results, order_by, page_token))
        models = [wire.registered_model_from_json(m) for m in answer.get("registered_models", ())]
        return PagedList(models, _page_token(answer))

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        (body,) = _registry_tags([tag], "registered model tag")
        self._post("registered-models/set-tag", {"name": name, **body}, idempotent=True)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._delete("registered-models/delete-tag", {"name": name, "key": key})

    # -- registry: model versions -----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        body: Json = {"name": name, "source": source, "tags": _registry_tags(tags, "model version tag")}
        if run_id:
            v.validate_run_id(run_id)  # the server would first look the run up and answer "not found"
        for field, value in (("run_id", run_id), ("run_link", run_link), ("description", description)):
            if value is not None:
                body[field] = value
        return wire.model_version_from_json(self._post("model-versions/create", body)["model_version"])

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        answer = self._get("model-versions/get", {"name": name, "version": str(version)})
        return wire.model_version_from_json(answer["model_version"])

    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion:
        body: Json = {"name": name, "version": str(version)}
        if description is not None:
            body["description"] = description
        return wire.model_version_from_json(self._patch("model-versions/update", body)["model_version"])

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._delete("model-versions/delete", {"name": name, "version": str(version)})

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        answer = self._get("model-versions/search", _search_params(filter_string, max_results, order_by, page_token))
        versions = [wire.model_version_from_json(mv) for mv in answer.get("model_versions", ())]
        return PagedList(versions, _page_token(answer))

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        answer = self._get("model-versions/get-download-uri", {"name": name, "version": str(version)})
        return str(answer["artifact_uri"])

    def set_model_version_tag(self, name: str, version: str | int, tag: ModelVersionTag) -> None:
        (checked,) = _registry_tags([tag], "model version tag")
        self._post("model-versions/set-tag", {"name": name, "version": str(version), **checked}, idempotent=True)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self._delete("model-versions/delete-tag", {"name": name, "version": str(version), "key": key})

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": str(stage),
            "archive_existing_versions": bool(archive_existing_versions),
        }
        return wire.model_version_from_json(self._post("model-versions/transition-stage", body)["model_version"])

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        body: Json = {"name": name}
        if stages:
            body["stages"] = [str(stage) for stage in stages]
        answer = self._post("registered-models/get-latest-versions", body, idempotent=True)
        return [wire.model_version_from_json(mv) for mv in answer.get("model_versions", ())]

    # -- registry: aliases --------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self._post("registered-models/alias", body, idempotent=True)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._delete("registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        answer = self._get("registered-models/alias", {"name": name, "alias": alias})
        return wire.model_version_from_json(answer["model_version"])
