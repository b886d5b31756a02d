"""The registry half of ``TrackingClient`` (``MlflowClient``), and the fluent ``register_model``.

Example:
    >>> from prefect_mltrack import MlflowClient
    >>> client = MlflowClient()                                                  # doctest: +SKIP
    >>> client.create_registered_model("iris")                                   # doctest: +SKIP
    >>> mv = client.create_model_version("iris", f"runs:/{run_id}/model", run_id)  # doctest: +SKIP
    >>> client.set_registered_model_alias("iris", "champion", mv.version)        # doctest: +SKIP
    >>> client.get_model_version_by_alias("iris", "champion").version            # doctest: +SKIP
    '1'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prefect_mltrack.entities import (
    ALL_STAGES,
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError
from prefect_mltrack.model_uris import (
    is_models_uri,
    is_runs_uri,
    model_version_from_uri,
    parse_runs_uri,
    resolve_model_uri,
)

if TYPE_CHECKING:
    from prefect_mltrack.client import TrackingClient
    from prefect_mltrack.store.base import AbstractStore

__all__ = ["RegistryClientMixin", "register_model", "resolve_model_uri"]

logger = logging.getLogger(__name__)

DEFAULT_AWAIT_REGISTRATION_S = 300


def _registered_model_tags(tags: Mapping[str, Any] | None) -> list[RegisteredModelTag]:
    return [RegisteredModelTag(key=k, value=v) for k, v in (tags or {}).items()]


def _model_version_tags(tags: Mapping[str, Any] | None) -> list[ModelVersionTag]:
    return [ModelVersionTag(key=k, value=v) for k, v in (tags or {}).items()]


class RegistryClientMixin:
    """Registry operations under ``MlflowClient``'s names; mixed into ``TrackingClient``."""

    @property
    def store(self) -> AbstractStore:  # provided by TrackingClient
        raise NotImplementedError

    # -- registered models -----------------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: Mapping[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Create an empty registered model (``RESOURCE_ALREADY_EXISTS`` if the name is taken)."""
        return self.store.create_registered_model(name, _registered_model_tags(tags), description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.store.rename_registered_model(name, new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        return self.store.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        """Delete the model and all of its versions, for good."""
        self.store.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        return self.store.search_registered_models(filter_string, max_results, order_by, page_token)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.store.set_registered_model_tag(name, RegisteredModelTag(key=key, value=value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(name, key)

    # -- model versions --------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = DEFAULT_AWAIT_REGISTRATION_S,
    ) -> ModelVersion:
        """Add the next version of ``name`` from ``source`` (``runs:/``, ``models:/``, an artifact URI or
        a local path). Versions are READY at once, so ``await_creation_for`` is accepted and unused."""
        return self.store.create_model_version(
            name, str(source), run_id, _model_version_tags(tags), run_link, description
        )

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version a ``models:/`` URI names into ``dst_name`` (created if missing) as its next
        version; the copy's source is ``models:/<src name>/<src version>``, its tags, description and
        run the source's."""
        if not is_models_uri(src_model_uri):
            raise InvalidParameterError(
                f"Unsupported source model URI: {src_model_uri!r}. copy_model_version only copies models "
                "named by a models:/ URI, e.g. models:/iris/3 or models:/iris@champion."
            )
        src = model_version_from_uri(src_model_uri, self._as_client())
        _create_model_if_missing(self, dst_name)
        return self.create_model_version(
            dst_name,
            f"models:/{src.name}/{src.version}",
            run_id=src.run_id,
            tags=src.tags,
            run_link=src.run_link,
            description=src.description,
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.store.get_model_version(name, str(version))

    def update_model_version(self, name: str, version: str | int, description: str | None = None) -> ModelVersion:
        return self.store.update_model_version(name, str(version), description)

    def delete_model_version(self, name: str, version: str | int) -> None:
        """Delete a version: it disappears, its number is never reused, its aliases are removed."""
        self.store.delete_model_version(name, str(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        return self.store.search_model_versions(filter_string, max_results, order_by, page_token)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's model files are: an artifact URI or a local path."""
        return self.store.get_model_version_download_uri(name, str(version))

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        self.store.set_model_version_tag(name, str(version), ModelVersionTag(key=key, value=value))

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.store.delete_model_version_tag(name, str(version), key)

    # -- stages (deprecated in MLflow since 2.9, still supported) --------------------------------
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        return self.store.transition_model_version_stage(name, str(version), stage, archive_existing_versions)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when None)."""
        return self.store.get_latest_versions(name, stages)

    def get_model_version_stages(self, name: str, version: str | int) -> list[str]:
        """The stages a version can move to: None, Staging, Production, Archived."""
        return list(ALL_STAGES)

    # -- aliases ---------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version`` (moving it when it pointed at another version)."""
        self.store.set_registered_model_alias(name, alias, str(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.store.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.store.get_model_version_by_alias(name, alias)

    def _as_client(self) -> TrackingClient:
        from prefect_mltrack.client import TrackingClient

        if not isinstance(self, TrackingClient):  # pragma: no cover - the mixin is only used there
            raise TypeError("RegistryClientMixin is meant to be mixed into TrackingClient")
        return self


def _create_model_if_missing(client: RegistryClientMixin, name: str) -> None:
    try:
        client.create_registered_model(name)
        logger.info("Successfully registered model %r.", name)
    except MLTrackError as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        logger.info("Registered model %r already exists. Creating a new version of this model...", name)


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = DEFAULT_AWAIT_REGISTRATION_S,
    *,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` (created when missing).

    For ``runs:/<run_id>/<path>`` the version's source is the resolved artifact location and its
    ``run_id`` the URI's; ``models:/`` URIs, artifact URIs and local paths are registered as given.

    Example:
        >>> import prefect_mltrack as mlflow
        >>> mv = mlflow.register_model(f"runs:/{run_id}/model", "iris")   # doctest: +SKIP
        >>> mv.version, mv.current_stage
        ('1', <ModelVersionStage.NONE: 'None'>)
    """
    from prefect_mltrack.client import TrackingClient

    client = TrackingClient()
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidParameterError(
            f"Invalid model URI {model_uri!r}: give runs:/<run_id>/<path>, models:/<name>/<version>, "
            "an artifact URI or a local path."
        )
    run_id = None
    source = model_uri
    if is_runs_uri(model_uri):
        run_id, _ = parse_runs_uri(model_uri)
        source = resolve_model_uri(model_uri, client)
    elif is_models_uri(model_uri):
        model_version_from_uri(model_uri, client)  # fail before creating the model when it does not resolve
    _create_model_if_missing(client, name)
    return client.create_model_version(name, source, run_id=run_id, tags=tags)
