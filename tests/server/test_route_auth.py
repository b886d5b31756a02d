"""Token auth covers every route of the real tracking server, found by walking the app's route table.

The server under test is ``create_app`` with ``auth_token`` set, served by uvicorn on loopback. Instead of a
hand-written list of URLs (which a new route would silently escape), the tests enumerate the app's own routes
(every API route, FastAPI's ``/docs`` and ``/openapi.json``, mounted apps) with every method, fill path
parameters with harmless values, and send each request without a token, with wrong tokens and with the right
one. A route added later is covered the day it is added; a route kind the walk does not understand fails it.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from live_server import LiveServer
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, Router, WebSocketRoute
from starlette.staticfiles import StaticFiles

from prefect_mltrack.server.config import ServerConfig
from prefect_mltrack.server.security import OPEN_PATHS

TOKEN = "s3cret"
ARTIFACT_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}"
# Tried in order for each path parameter; the first one its convertor accepts is used.
_PARAM_VALUES = ("x", "1", str(uuid.UUID(int=1)))
# Sent where the table does not list methods: a mounted app (static files, a sub-app), a class endpoint.
_ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Probe:
    """One request the walk sends: ``method`` on ``path``, and the route pattern it came from."""

    method: str
    path: str
    pattern: str


def _fill(path_format: str, convertors: dict[str, Any]) -> str:
    """``'/m/{model_id}/tags/{key}'`` -> ``'/m/x/tags/x'``, with values each parameter's convertor accepts."""
    path = path_format
    for name, convertor in convertors.items():
        value = next((v for v in _PARAM_VALUES if re.fullmatch(convertor.regex, v)), None)
        assert value is not None, f"no harmless value for path parameter {name!r} ({convertor.regex!r})"
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"unfilled path parameter in {path_format!r}"
    return path


def _routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """The flat route list, with routers that FastAPI includes lazily (0.150+) expanded into their routes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies included routes into the app's list
        yield from routes
    else:
        for context in iter_route_contexts(routes):
            yield context if not isinstance(context.original_route, Mount) else context.original_route


def walk(routes: Sequence[BaseRoute], prefix: str = "") -> list[Probe]:
    """Every (method, concrete path) the route table answers, mounts included.

    Raises:
        AssertionError: A route kind the walk cannot probe (e.g. a WebSocket route): extend the walk for it.
    """
    probes: list[Probe] = []
    for route in _routes(routes):
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            # path_format ends in the catch-all '{path:path}' of the mount; path is the bare prefix.
            mount_prefix = prefix + _fill(original.path, original.param_convertors)
            sub_routes = original.routes
            if sub_routes:
                probes += walk(sub_routes, mount_prefix)
            # The mounted app itself (static files, a sub-app) answers below the mount too, routes or not.
            probes += [Probe(m, f"{mount_prefix}/x", prefix + original.path) for m in _ALL_METHODS]
        elif isinstance(original, Route):
            path = prefix + _fill(route.path_format, route.param_convertors)
            probes += [Probe(method, path, prefix + route.path) for method in sorted(route.methods or _ALL_METHODS)]
        else:
            kind = type(original).__name__
            raise AssertionError(f"route {getattr(original, 'path', original)!r} is a {kind}; teach walk() to probe it")
    return probes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("route-auth")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp}/db.sqlite",
        artifacts_destination=str(tmp / "a"),
        auth_token=SecretStr(TOKEN),
    )
    with LiveServer(config) as live:
        yield live


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    # One keep-alive connection for the few hundred requests of the module.
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def probes(server: LiveServer) -> list[Probe]:
    return walk(server.app.routes)


def send(http: httpx.Client, probe: Probe, **kwargs: Any) -> httpx.Response:
    # A JSON body on writes, as real clients send: with the right token the request gets past the
    # middleware's content-type check and reaches the route.
    if probe.method in ("POST", "PUT", "PATCH", "DELETE"):
        kwargs.setdefault("content", b"{}")
        kwargs["headers"] = {"content-type": "application/json", **kwargs.get("headers", {})}
    return http.request(probe.method, probe.path, **kwargs)


def assert_unauthenticated(response: httpx.Response, probe: Probe) -> None:
    assert response.status_code == 401, (probe, response.status_code, response.text[:200])
    challenges = response.headers.get_list("www-authenticate")
    assert any(c.startswith("Bearer") for c in challenges) and any(c.startswith("Basic") for c in challenges)
    if probe.method != "HEAD":  # a HEAD answer has no body to read the code from
        assert response.json()["error_code"] == "UNAUTHENTICATED", (probe, response.text[:200])


def test_the_walk_sees_the_whole_route_table(probes: list[Probe]) -> None:
    patterns = {p.pattern for p in probes}
    # An empty or half walk (e.g. lazily included routers left unexpanded) must not pass for coverage.
    assert len(patterns) > 60, sorted(patterns)
    assert {"/docs", "/openapi.json", "/docs/oauth2-redirect", *OPEN_PATHS} <= patterns
    assert "/api/2.0/mlflow/experiments/create" in patterns
    assert "/ajax-api/2.0/mlflow/runs/search" in patterns
    assert {ARTIFACT_ROUTE, "/ajax-api" + ARTIFACT_ROUTE.removeprefix("/api")} <= patterns
    assert {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} <= {p.method for p in probes}
    assert Probe("PUT", "/api/2.0/mlflow-artifacts/artifacts/x", ARTIFACT_ROUTE) in probes


def test_every_route_but_the_open_probes_refuses_a_request_without_token(
    http: httpx.Client, probes: list[Probe]
) -> None:
    for probe in probes:
        response = send(http, probe)
        if probe.path in OPEN_PATHS:
            assert response.status_code == 200, (probe, response.status_code)
        else:
            assert_unauthenticated(response, probe)


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Basic " + base64.b64encode(f"{TOKEN}:wrong".encode()).decode(),  # token as the user name
        "Basic " + base64.b64encode(TOKEN.encode()).decode(),  # no ':' at all
        f"Token {TOKEN}",  # the right secret under a scheme we do not take
        "Bearer",
    ],
    ids=["bearer-longer", "bearer-prefix", "basic-wrong-password", "basic-no-colon", "other-scheme", "empty"],
)
def test_every_route_refuses_a_wrong_token(http: httpx.Client, probes: list[Probe], authorization: str) -> None:
    for probe in probes:
        if probe.path not in OPEN_PATHS:
            assert_unauthenticated(send(http, probe, headers={"authorization": authorization}), probe)


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({"headers": {"authorization": f"Bearer {TOKEN}"}}, id="bearer"),
        pytest.param({"auth": httpx.BasicAuth("anyone", TOKEN)}, id="basic"),
        pytest.param({"auth": httpx.BasicAuth("", TOKEN)}, id="basic-empty-user"),
    ],
)
def test_every_route_lets_the_right_token_through(
    http: httpx.Client, probes: list[Probe], auth: dict[str, Any]
) -> None:
    statuses: dict[int, int] = {}
    for probe in probes:
        response = send(http, probe, **auth)
        # Any answer of the route itself is fine (400 for the empty body, 404 for 'x'...), but not the middleware's.
        assert response.status_code != 401, (probe, response.text[:200])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    # The routes really ran: the docs page and the schema are served, not just "not refused".
    assert statuses.get(200, 0) >= 4, statuses
    assert http.get("/openapi.json", **auth).json()["info"]["title"]


@pytest.mark.parametrize(
    "path",
    [
        "/no/such/route",
        "/api/2.0/mlflow/no-such-endpoint",
        "/ajax-api/2.0/mlflow/experiments/no-such-endpoint",
        "/api/2.0/mlflow-artifacts/no-such-thing",
        "/health/",
        "//health",
        "/HEALTH",
        "/version/x",
    ],
)
def test_an_unknown_path_without_token_is_401_not_404(http: httpx.Client, path: str) -> None:
    # 404 would tell an anonymous caller which routes exist; near misses of the open probes stay closed.
    for method in ("GET", "POST"):
        assert_unauthenticated(send(http, Probe(method, path, path)), Probe(method, path, path))
    # With the token the same path really is unknown: the 401 above was not a route answering.
    # ("//health" reaches the server as an authority-form target, which uvicorn reads as "/": the UI.)
    if path != "//health":
        assert http.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code in (404, 405, 307)


def test_walk_expands_mounts_and_refuses_route_kinds_it_cannot_probe(tmp_path: Path) -> None:
    # The web UI is likely to arrive as a Mount (static files or a sub-app): the walk must reach into it.
    (tmp_path / "index.html").write_text("<p>ui</p>")

    async def endpoint(request: Any) -> None:  # never called: the walk only reads the table
        raise AssertionError

    inner = Router(routes=[Route("/items/{item_id:int}", endpoint, methods=["GET"])])
    app = Starlette(routes=[Mount("/ui", app=StaticFiles(directory=tmp_path)), Mount("/sub", routes=inner.routes)])
    probes = walk(app.routes)
    assert Probe("GET", "/ui/x", "/ui") in probes and Probe("DELETE", "/ui/x", "/ui") in probes
    assert Probe("GET", "/sub/items/1", "/sub/items/{item_id:int}") in probes
    assert Probe("POST", "/sub/x", "/sub") in probes

    fastapi_app = FastAPI()
    fastapi_app.router.routes.append(WebSocketRoute("/ws", endpoint))
    with pytest.raises(AssertionError, match="WebSocketRoute"):
        walk(fastapi_app.routes)
