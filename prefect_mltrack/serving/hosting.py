"""The models a multi-model server hosts, and how a new version replaces the old one.

Each served name has one :class:`Route`: a primary :class:`HostedModel` and optionally a canary
that takes a fixed share of the traffic. A route never changes; a deploy builds a new one and
swaps it into :attr:`ModelHost.routes` with one dict assignment on the event loop, after the new
version is loaded and warmed. A request holds the route it started with, so in-flight requests
finish on the old version and no request ever sees a half-loaded model. Deploys of one name run
one at a time; loads run in a worker thread so serving never pauses.

Example:
    >>> host = ModelHost()
    >>> route = await host.deploy("Iris", Deployment(model_uri="models:/Iris/3"))   # doctest: +SKIP
    >>> route.pick().version                                                        # doctest: +SKIP
    '3'
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError, ResourceNotFoundError
from prefect_mltrack.serving.metrics import TrafficShare
from prefect_mltrack.serving.payload import BadRequestError
from prefect_mltrack.serving.scoring import DEFAULT_TIMEOUT_S, Scorer

__all__ = ["Deployment", "HostedModel", "ModelHost", "Route"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Deployment:
    """What to serve under one name: a model URI and version label, optionally a canary."""

    model_uri: str
    version: str | None = None
    canary: Deployment | None = None
    weight: float = 0.0  # the canary's share of traffic, 0..1 (only on a canary)


@dataclass(frozen=True, slots=True)
class HostedModel:
    """One loaded, warmed model version."""

    name: str
    version: str
    model_uri: str
    scorer: Scorer
    loaded_at: float = field(default_factory=time.time)


@dataclass(slots=True, eq=False)
class Route:
    """The versions serving one name and how traffic is split between them.

    The split is deterministic: request ``n`` goes to the canary when ``floor((n+1)*w) > floor(n*w)``,
    so exactly ``w`` of every ``1/w`` requests do, with no randomness to blur small experiments.
    """

    primary: HostedModel
    canary: HostedModel | None = None
    weight: float = 0.0
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def pick(self) -> HostedModel:
        if self.canary is None or self.weight <= 0.0:
            return self.primary
        n = next(self._counter)
        return self.canary if int((n + 1) * self.weight) > int(n * self.weight) else self.primary

    def version(self, version: str) -> HostedModel | None:
        for hosted in (self.primary, self.canary):
            if hosted is not None and hosted.version == version:
                return hosted
        return None

    def shares(self) -> list[TrafficShare]:
        if self.canary is None:
            return [TrafficShare(self.primary.name, self.primary.version, "primary", 1.0)]
        return [
            TrafficShare(self.primary.name, self.primary.version, "primary", 1.0 - self.weight),
            TrafficShare(self.canary.name, self.canary.version, "canary", self.weight),
        ]

    def describe(self) -> dict[str, Any]:
        """The JSON ``GET /models`` and the admin API answer with."""
        canary = None
        if self.canary is not None:
            canary = {"version": self.canary.version, "model_uri": self.canary.model_uri, "weight": self.weight}
        return {
            "name": self.primary.name,
            "version": self.primary.version,
            "model_uri": self.primary.model_uri,
            "canary": canary,
        }


class ModelHost:
    """The served names, their routes, and the deploy/unload operations.

    Args:
        tracking_uri: the store that resolves ``models:/`` and ``runs:/`` URIs (default: the current one).
        timeout_s: per-request prediction timeout of every hosted model.
    """

    def __init__(self, tracking_uri: str | None = None, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        self.routes: dict[str, Route] = {}
        self.tracking_uri = tracking_uri
        self.timeout_s = timeout_s
        self._locks: dict[str, asyncio.Lock] = {}

    async def deploy(self, name: str, spec: Deployment) -> tuple[Route, Route | None]:
        """Load and warm what ``spec`` names (reusing versions already served), then swap it in.

        Returns:
            (the new route, the route it replaced or None).

        Raises:
            MLTrackError: the model could not be resolved, loaded or warmed; nothing changed.
        """
        async with self._lock(name):
            current = self.routes.get(name)
            primary = await self._hosted(name, spec, current)
            canary = await self._hosted(name, spec.canary, current) if spec.canary is not None else None
            route = _route(name, spec, primary, canary)
            self.routes[name] = route  # the swap: one assignment, seen whole by every later request
            logger.info("Serving %s: %s", name, route.describe())
            return route, current

    def deploy_now(self, name: str, spec: Deployment) -> Route:
        """Blocking deploy for start-up (no event loop yet, no traffic to protect)."""
        primary = self.load(name, spec.model_uri, spec.version)
        canary = None
        if spec.canary is not None:
            canary = self.load(name, spec.canary.model_uri, spec.canary.version)
        route = self.routes[name] = _route(name, spec, primary, canary)
        return route

    async def unload(self, name: str) -> Route:
        """Stop serving ``name``; in-flight requests still finish on the versions they hold."""
        async with self._lock(name):
            route = self.routes.pop(name, None)
            if route is None:
                raise ResourceNotFoundError(f"No model named {name!r} is served here")
            return route

    def shares(self) -> list[TrafficShare]:
        return [share for route in list(self.routes.values()) for share in route.shares()]

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    async def _hosted(self, name: str, spec: Deployment, current: Route | None) -> HostedModel:
        if current is not None and spec.version is not None:
            # Only an explicit version can be reused: an alias may have moved since it was loaded.
            for hosted in (current.primary, current.canary):
                if hosted is not None and (hosted.model_uri, hosted.version) == (spec.model_uri, str(spec.version)):
                    return hosted  # already loaded and warm
        return await asyncio.to_thread(self.load, name, spec.model_uri, spec.version)

    def load(self, name: str, model_uri: str, version: str | None) -> HostedModel:
        """Resolve, load and warm one version (blocking).

        ``models:/`` URIs are pinned to the registry version they name now (an alias that moves
        during the load changes nothing); a given ``version`` must match it. Other URIs need no
        version: the label defaults to the run id's first 8 characters, or ``local``.
        """
        from prefect_mltrack import settings

        started = time.perf_counter()
        try:
            with settings.tracking_uri_scope(self.tracking_uri):
                pinned, label = _pin(model_uri, version)
                scorer = Scorer.load(pinned, timeout_s=self.timeout_s)
        except MLTrackError as exc:
            if exc.http_status < 500:
                raise
            raise BadRequestError(f"Could not load {model_uri!r}: {exc.error_code}: {exc.message}") from exc
        except Exception as exc:
            raise BadRequestError(f"Could not load {model_uri!r}: {type(exc).__name__}: {exc}") from exc
        logger.info("Loaded %s version %s from %s in %.2f s", name, label, model_uri, time.perf_counter() - started)
        return HostedModel(name, label, model_uri, scorer)


def _route(name: str, spec: Deployment, primary: HostedModel, canary: HostedModel | None) -> Route:
    if canary is not None and canary.version == primary.version:
        raise InvalidParameterError(
            f"The canary of {name!r} has the same version label {canary.version!r} as the primary; "
            "give each a distinct 'version'"
        )
    return Route(primary, canary, spec.canary.weight if spec.canary is not None else 0.0)


def _pin(model_uri: str, version: str | None) -> tuple[str, str]:
    """(URI to load, version label) for ``model_uri``; see :meth:`ModelHost.load`."""
    from prefect_mltrack.model_uris import is_models_uri, is_runs_uri, model_version_from_uri, parse_runs_uri

    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameterError("'model_uri' must be a non-empty model URI such as models:/<name>/<version>")
    if is_models_uri(model_uri):
        from prefect_mltrack.client import TrackingClient

        resolved = model_version_from_uri(model_uri, TrackingClient())
        if version is not None and str(version) != str(resolved.version):
            raise InvalidParameterError(
                f"{model_uri!r} names version {resolved.version} of {resolved.name!r}, not version {version}; "
                f"send models:/{resolved.name}/{version} to serve that one"
            )
        return f"models:/{resolved.name}/{resolved.version}", str(resolved.version)
    if version is not None:
        return model_uri, str(version)
    if is_runs_uri(model_uri):
        return model_uri, parse_runs_uri(model_uri)[0][:8]
    return model_uri, "local"
