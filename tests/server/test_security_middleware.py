"""The security middleware on a real FastAPI app: one test per attack class, a real uvicorn server for the
wire-level ones (Host override, chunked bodies, websockets) and httpx's ASGI transport for the rest."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import SecretStr

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.server.security import (
    OPEN_PATHS,
    SecurityConfig,
    SecurityMiddleware,
    default_allowed_hosts,
    install_security,
)

TOKEN = "tok-3f9a1c77e0d24b6f8a5e"
SECRET = SecretStr(TOKEN)
UI_ORIGIN = "https://ui.example"
CREATE = "/api/2.0/mlflow/experiments/create"
CONTENT_TYPE_ERROR = {
    "error_code": "BAD_REQUEST",
    "message": "Bad Request. Content-Type must be one of ['application/json']",
}


@dataclass
class Recorder:
    """What the routes saw: a route that never ran leaves no trace here."""

    created: list[bytes] = field(default_factory=list)
    deleted: list[bytes] = field(default_factory=list)
    artifacts: dict[str, bytes] = field(default_factory=dict)


def make_app(config: SecurityConfig) -> tuple[FastAPI, Recorder]:
    seen = Recorder()
    app = FastAPI()

    @app.get("/health", response_class=PlainTextResponse)
    def health() -> str:
        return "OK"

    @app.get("/version", response_class=PlainTextResponse)
    def version() -> str:
        return "1.0"

    @app.get("/", response_class=HTMLResponse)
    def ui() -> str:
        return "<html>ui</html>"

    @app.get("/framed")
    def framed() -> Response:
        return Response("own policy", headers={"content-security-policy": "default-src 'none'"})

    @app.get("/api/2.0/mlflow/experiments/get")
    def get_experiment(experiment_id: str) -> dict[str, object]:
        return {"experiment": {"experiment_id": experiment_id}}

    @app.post(CREATE)
    async def create(request: Request) -> dict[str, str]:
        seen.created.append(await request.body())
        return {"experiment_id": str(len(seen.created))}

    @app.delete("/api/2.0/mlflow/experiments/delete")
    @app.patch("/api/2.0/mlflow/experiments/delete")
    async def delete(request: Request) -> dict[str, str]:
        seen.deleted.append(await request.body())
        return {}

    @app.put("/api/2.0/mlflow-artifacts/artifacts/{path:path}")
    async def upload(path: str, request: Request) -> Response:
        seen.artifacts[path] = await request.body()
        return Response(status_code=200)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    install_security(app, config)
    return app, seen


class Client:
    """A synchronous client that drives the app in-process through httpx's ASGI transport."""

    def __init__(self, app: FastAPI, host: str) -> None:
        self.app = app
        self.base_url = f"http://{host}"

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as http:
                return await http.request(method, url, **kwargs)

        return asyncio.run(call())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)


def client(app: FastAPI, host: str = "localhost") -> Client:
    return Client(app, host)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free 127.0.0.1 port; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@dataclass
class Live:
    url: str
    port: int
    seen: Recorder
    http: httpx.Client


@pytest.fixture(scope="module")
def security_server() -> Iterator[tuple[str, Recorder]]:
    """One real server for the wire-level tests: loopback hosts, one CORS origin, token auth on."""
    app, seen = make_app(SecurityConfig.from_cli(host="127.0.0.1", cors_allowed_origins=UI_ORIGIN, auth_token=SECRET))
    with serving(app) as url:
        yield url, seen


@pytest.fixture
def live(security_server: tuple[str, Recorder]) -> Iterator[Live]:
    url, seen = security_server
    seen.created.clear()
    seen.artifacts.clear()
    with httpx.Client(base_url=url, timeout=10) as http:
        yield Live(url, int(url.rsplit(":", 1)[1]), seen, http)


# --- DNS rebinding: the Host allow-list -----------------------------------------------------


def test_dns_rebinding_host_is_refused_before_anything_runs(live: Live) -> None:
    evil = {"Host": f"attacker.example:{live.port}"}
    answer = live.http.post(CREATE, json={"name": "x"}, headers={**evil, **bearer()})
    assert answer.status_code == 403
    body = answer.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert f"attacker.example:{live.port}" in body["message"] and "--allowed-hosts" in body["message"]
    assert "'attacker.example'" in body["message"]  # the value to add, without the port
    assert live.seen.created == []
    # the Host check comes first: a rebinding page cannot even learn that auth is on
    assert live.http.get("/api/2.0/mlflow/experiments/get?experiment_id=1", headers=evil).status_code == 403
    # load balancers may probe the open paths by any name
    assert live.http.get("/health", headers=evil).text == "OK"
    # the same request under the server's real name goes through
    assert live.http.post(CREATE, json={"name": "x"}, headers=bearer()).status_code == 200
    assert live.seen.created == [b'{"name":"x"}']


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LocalHost:5000", True),
        ("localhost.", True),
        ("127.0.0.1:8080", True),
        ("[::1]:5000", True),
        ("[0:0:0:0:0:0:0:1]", True),
        ("localhost.attacker.example", False),
        ("127.0.0.1.nip.io", False),
        ("attacker.example", False),
        ("[::2]", False),
        ("::1", False),  # a bare IPv6 address is not a valid Host header
        ("localhost:abc", False),
        ("", False),
    ],
)
def test_default_host_allow_list(host: str, allowed: bool) -> None:
    app, _ = make_app(SecurityConfig())
    answer = client(app).get("/api/2.0/mlflow/experiments/get?experiment_id=1", headers={"host": host})
    assert answer.status_code == (200 if allowed else 403), answer.text


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("a.corp.example", True),
        ("deep.a.corp.example:443", True),
        ("corp.example", False),  # '*.corp.example' names subdomains only
        ("evilcorp.example", False),
        ("pinned.example:8443", True),
        ("pinned.example:9000", False),
        ("10.1.2.3:5000", True),
        ("11.1.2.3", False),
        ("[fd00::5]", True),
        ("anything.example", False),
    ],
)
def test_host_patterns(host: str, allowed: bool) -> None:
    config = SecurityConfig(allowed_hosts=["*.corp.example", "pinned.example:8443", "10.0.0.0/8", "fd00::/8"])
    app, _ = make_app(config)
    answer = client(app).get("/api/2.0/mlflow/experiments/get?experiment_id=1", headers={"host": host})
    assert answer.status_code == (200 if allowed else 403)


def test_wildcard_bind_accepts_ip_literals_and_the_machine_name_but_not_other_names() -> None:
    hosts = default_allowed_hosts("0.0.0.0")
    app, _ = make_app(SecurityConfig(allowed_hosts=hosts))
    http = client(app)
    for host in ("192.168.1.20:5000", "[2001:db8::1]:5000", "localhost", socket.gethostname()):
        assert http.get("/", headers={"host": host}).status_code == 200, host
    assert http.get("/", headers={"host": "attacker.example"}).status_code == 403
    assert default_allowed_hosts("::1") == default_allowed_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("myhost.lan")[-1] == "myhost.lan"


def test_any_host_with_a_star() -> None:
    app, _ = make_app(SecurityConfig(allowed_hosts=["*"]))
    assert client(app, "whatever.example").get("/").status_code == 200


# --- cross-origin writes ----------------------------------------------------------------------


def test_cross_origin_post_is_refused(live: Live) -> None:
    for origin in ("http://attacker.example", f"http://localhost:{live.port + 1}", "null"):
        answer = live.http.post(CREATE, json={"name": "x"}, headers={"Origin": origin, **bearer()})
        assert answer.status_code == 403, origin
        assert answer.json()["error_code"] == "PERMISSION_DENIED"
        assert "--cors-allowed-origins" in answer.json()["message"]
        assert "access-control-allow-origin" not in answer.headers
    assert live.seen.created == []
    # the server's own pages and the configured UI origin may write
    same = live.http.post(CREATE, json={"name": "a"}, headers={"Origin": live.url, **bearer()})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    cors = live.http.post(CREATE, json={"name": "b"}, headers={"Origin": UI_ORIGIN, **bearer()})
    assert cors.status_code == 200
    assert cors.headers["access-control-allow-origin"] == UI_ORIGIN
    assert cors.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in cors.headers["vary"]
    assert len(live.seen.created) == 2


def test_cross_origin_put_to_the_artifact_proxy_is_refused(live: Live) -> None:
    answer = live.http.put(
        "/api/2.0/mlflow-artifacts/artifacts/1/r/model.pkl",
        content=b"payload",
        headers={"Origin": "http://attacker.example", **bearer()},
    )
    assert answer.status_code == 403
    assert live.seen.artifacts == {}


def test_sec_fetch_site_cross_site_without_an_allowed_origin_is_refused() -> None:
    app, seen = make_app(SecurityConfig(cors_allowed_origins=[UI_ORIGIN]))
    http = client(app)
    assert http.post(CREATE, json={}, headers={"sec-fetch-site": "cross-site"}).status_code == 403
    cross_site = {"sec-fetch-site": "cross-site"}
    assert http.delete("/api/2.0/mlflow/experiments/delete", headers=cross_site).status_code == 403
    assert seen.created == [] and seen.deleted == []
    # reads stay possible (the browser keeps the answer from the other site anyway)
    assert http.get("/", headers={"sec-fetch-site": "cross-site"}).status_code == 200
    # an allowed origin may write, and so may same-origin pages
    assert http.post(CREATE, json={}, headers={"sec-fetch-site": "cross-site", "origin": UI_ORIGIN}).status_code == 200
    assert http.post(CREATE, json={}, headers={"sec-fetch-site": "same-origin"}).status_code == 200
    assert len(seen.created) == 2


def test_same_origin_matches_default_ports_and_ignores_the_connection_scheme() -> None:
    app, seen = make_app(SecurityConfig(allowed_hosts=["app.example"]))
    http = client(app, "app.example")
    # behind a TLS proxy the app sees http while the browser says https
    assert http.post(CREATE, json={}, headers={"origin": "https://app.example"}).status_code == 200
    assert http.post(CREATE, json={}, headers={"origin": "http://app.example:80"}).status_code == 200
    assert http.post(CREATE, json={}, headers={"origin": "http://app.example:8080"}).status_code == 403
    assert http.post(CREATE, json={}, headers={"origin": "ftp://app.example"}).status_code == 403
    assert len(seen.created) == 2


def test_cross_site_websocket_and_websocket_without_token_are_refused(live: Live) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = live.url.replace("http://", "ws://") + "/ws"
    with connect(url, additional_headers=bearer(), open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "hello"
    for headers in ({"Origin": "http://attacker.example", **bearer()}, {}):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers=headers, open_timeout=10)
        assert refused.value.response.status_code == 403, headers
    # a rebinding page: the socket reaches us, the Host header names the attacker's domain
    sock = socket.create_connection(("127.0.0.1", live.port))
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://attacker.example:{live.port}/ws", sock=sock, additional_headers=bearer(), open_timeout=10)
    assert refused.value.response.status_code == 403


# --- CORS preflight ---------------------------------------------------------------------------


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization, content-type",
    }


def test_preflight_from_a_disallowed_origin_gets_no_cors_headers() -> None:
    app, _ = make_app(SecurityConfig(cors_allowed_origins=[UI_ORIGIN], auth_token=SECRET))
    answer = client(app).options(CREATE, headers=preflight("https://attacker.example"))
    assert answer.status_code == 403
    assert answer.json()["error_code"] == "PERMISSION_DENIED"
    assert not any(name.startswith("access-control-") for name in answer.headers)


def test_preflight_from_an_allowed_origin_is_answered_without_credentials() -> None:
    # browsers never send credentials on a preflight, so it must pass without the token
    app, _ = make_app(SecurityConfig(cors_allowed_origins=[UI_ORIGIN + ":443/"], auth_token=SECRET))
    answer = client(app).options(CREATE, headers=preflight(UI_ORIGIN, "PUT"))
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "PUT" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == "authorization, content-type"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_any_origin_never_comes_with_credentials() -> None:
    app, seen = make_app(SecurityConfig(cors_allowed_origins=["*"], auth_token=SECRET))
    http = client(app)
    answer = http.options(CREATE, headers=preflight("https://any.example"))
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    # the token is still needed for the real request
    assert http.post(CREATE, json={}, headers={"origin": "https://any.example"}).status_code == 401
    write = http.post(CREATE, json={}, headers={"origin": "https://any.example", **bearer()})
    assert write.status_code == 200 and write.headers["access-control-allow-origin"] == "*"
    assert len(seen.created) == 1


# --- JSON only on API state changes -----------------------------------------------------------


def test_text_plain_form_post_cannot_create_anything(live: Live) -> None:
    forms: list[dict[str, Any]] = [
        {"content": b'{"name": "x"}', "headers": {"Content-Type": "text/plain"}},
        {"data": {"name": "x"}},  # application/x-www-form-urlencoded
        {"files": {"name": ("x.txt", b"x")}},  # multipart/form-data
        {"content": b'{"name": "x"}'},  # no content type at all
    ]
    for form in forms:
        headers = {**form.pop("headers", {}), **bearer()}
        answer = live.http.post(CREATE, **form, headers=headers)
        assert answer.status_code == 400
        assert answer.json() == CONTENT_TYPE_ERROR
    assert live.seen.created == []
    ok = live.http.post(
        CREATE, content=b'{"name": "x"}', headers={"Content-Type": "application/json; charset=utf-8", **bearer()}
    )
    assert ok.status_code == 200
    assert live.seen.created == [b'{"name": "x"}']


def test_a_chunked_body_without_content_length_is_checked_too(live: Live) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name":'
        yield b' "y"}'

    refused = live.http.post(CREATE, content=chunks(), headers={"Content-Type": "text/plain", **bearer()})
    assert refused.status_code == 400 and refused.json() == CONTENT_TYPE_ERROR
    assert live.seen.created == []
    accepted = live.http.post(CREATE, content=chunks(), headers={"Content-Type": "application/json", **bearer()})
    assert accepted.status_code == 200
    assert live.seen.created == [b'{"name": "y"}']  # the app read the whole body, first chunk included


def test_delete_and_patch_follow_the_json_rule_but_an_empty_body_is_fine() -> None:
    app, seen = make_app(SecurityConfig())
    http = client(app)
    path = "/api/2.0/mlflow/experiments/delete"
    assert http.delete(path).status_code == 200
    assert http.request("DELETE", path, json={"name": "m", "alias": "a"}).status_code == 200
    bad = http.request("DELETE", path, content=b"name=m", headers={"content-type": "text/plain"})
    assert bad.status_code == 400 and bad.json() == CONTENT_TYPE_ERROR
    assert http.patch(path, content=b"x", headers={"content-type": "text/plain"}).status_code == 400
    assert seen.deleted == [b"", b'{"name":"m","alias":"a"}']
    # outside the API the rule does not apply: the request reaches the router (which has no such route)
    assert http.post("/not-api", content=b"x", headers={"content-type": "text/plain"}).status_code == 404


def test_artifact_put_takes_raw_bytes_of_any_content_type(live: Live) -> None:
    payload = bytes(range(256)) * 40
    for name, content_type in (("model.pkl", "application/octet-stream"), ("notes.txt", "text/plain"), ("x", None)):
        headers = {**bearer(), **({"Content-Type": content_type} if content_type else {})}
        answer = live.http.put(f"/api/2.0/mlflow-artifacts/artifacts/1/run/{name}", content=payload, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert live.seen.artifacts[f"1/run/{name}"] == payload


# --- token auth -------------------------------------------------------------------------------


def test_missing_and_wrong_tokens_are_refused(live: Live) -> None:
    missing = live.http.get("/api/2.0/mlflow/experiments/get?experiment_id=1")
    assert missing.status_code == 401
    assert missing.json()["error_code"] == "UNAUTHENTICATED"
    assert missing.json()["message"].startswith("Missing credentials")
    challenges = missing.headers.get_list("www-authenticate")
    assert any(value.startswith("Bearer") for value in challenges)
    assert any(value.startswith("Basic") for value in challenges)  # so a browser prompts for the UI
    for headers in (
        bearer("wrong"),
        bearer(TOKEN + "x"),
        bearer(TOKEN[:-1]),
        basic("alice", "wrong"),
        basic(TOKEN, ""),  # the token goes in the password
        {"Authorization": TOKEN},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Digest " + TOKEN},
    ):
        wrong = live.http.get("/api/2.0/mlflow/experiments/get?experiment_id=1", headers=headers)
        assert wrong.status_code == 401, headers
        assert wrong.json()["message"].startswith("Wrong credentials")
    posted = live.http.post(CREATE, json={"name": "x"}, headers=bearer("wrong"))
    assert posted.status_code == 401 and live.seen.created == []


def test_bearer_and_basic_with_the_token_are_accepted(live: Live) -> None:
    for headers in (bearer(), {"Authorization": f"bearer  {TOKEN}"}, basic("alice", TOKEN), basic("", TOKEN)):
        answer = live.http.get("/api/2.0/mlflow/experiments/get?experiment_id=7", headers=headers)
        assert answer.status_code == 200, headers
        assert answer.json() == {"experiment": {"experiment_id": "7"}}
    # what MLFLOW_TRACKING_USERNAME/PASSWORD make the client send
    assert live.http.get("/", auth=("bob", TOKEN)).status_code == 200


def test_every_route_but_the_open_paths_needs_the_token(live: Live) -> None:
    for path in sorted(OPEN_PATHS):
        assert live.http.get(path).status_code == 200, path
    for path in ("/", "/docs", "/openapi.json", "/api/2.0/mlflow-artifacts/artifacts/x", "/no-such-page"):
        assert live.http.get(path).status_code == 401, path
    assert live.http.get("/docs", headers=bearer()).status_code == 200
    assert live.http.get("/openapi.json", headers=bearer()).json()["openapi"]


# --- response headers -------------------------------------------------------------------------


def test_security_headers_on_pages_api_answers_and_refusals() -> None:
    app, _ = make_app(SecurityConfig(auth_token=SECRET))
    http = client(app)
    page = http.get("/", headers=bearer())
    api = http.get("/api/2.0/mlflow/experiments/get?experiment_id=1", headers=bearer())
    refusals = [http.get("/"), http.get("/", headers={"host": "attacker.example"})]
    for answer in (page, api, *refusals):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "content-security-policy" not in api.headers  # JSON is never rendered
    # a route's own policy wins, and no header is sent twice
    framed = http.get("/framed", headers=bearer())
    assert framed.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert framed.headers.get_list("x-frame-options") == ["DENY"]


def test_frame_options_and_csp_are_configurable() -> None:
    app, _ = make_app(SecurityConfig(x_frame_options="sameorigin"))
    page = client(app).get("/")
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    app, _ = make_app(SecurityConfig(x_frame_options="NONE", content_security_policy="default-src *"))
    page = client(app).get("/")
    assert "x-frame-options" not in page.headers
    assert page.headers["content-security-policy"] == "default-src *"
    app, _ = make_app(SecurityConfig(content_security_policy=""))
    assert "content-security-policy" not in client(app).get("/").headers


# --- configuration ----------------------------------------------------------------------------


def test_from_cli_reads_and_strips_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    token_file.chmod(0o600)
    config = SecurityConfig.from_cli(
        host="0.0.0.0",
        allowed_hosts=" a.example, ,*.b.example:*,10.0.0.0/8 ",
        cors_allowed_origins="https://UI.example/,http://localhost:3000",
        auth_token_file=token_file,
        x_frame_options="sameorigin",
    )
    assert config.auth_token is not None and config.auth_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config)
    assert config.allowed_hosts == ["a.example", "*.b.example", "10.0.0.0/8"]
    assert config.cors_allowed_origins == ["https://ui.example", "http://localhost:3000"]
    assert config.x_frame_options == "SAMEORIGIN"
    assert "0.0.0.0/0" in SecurityConfig.from_cli(host="0.0.0.0").allowed_hosts
    assert SecurityConfig.from_cli(host="localhost").allowed_hosts == ["localhost", "127.0.0.1", "[::1]"]
    assert SecurityConfig(allowed_hosts=None).allowed_hosts == ["localhost", "127.0.0.1", "[::1]"]  # type: ignore[arg-type]


def test_token_file_errors_say_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    with pytest.raises(InvalidParameterError, match="is empty; write the token into it"):
        SecurityConfig.from_cli(auth_token_file=empty)
    with pytest.raises(InvalidParameterError, match="Cannot read the auth token file"):
        SecurityConfig.from_cli(auth_token_file=tmp_path / "missing")
    with pytest.raises(InvalidParameterError, match="not both"):
        SecurityConfig.from_cli(auth_token=TOKEN, auth_token_file=empty)
    with pytest.raises(InvalidParameterError, match="printable ASCII without spaces"):
        SecurityConfig(auth_token="two words")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field_name", "value", "match"),
    [
        ("allowed_hosts", ["foo*.example"], "wildcards must look like"),
        ("allowed_hosts", ["a.*.example"], "wildcards must look like"),
        ("allowed_hosts", ["host:port"], "malformed port"),
        ("allowed_hosts", ["10.0.0.0/99"], "not an IP network"),
        ("allowed_hosts", ["[nothing]"], "not an IPv6 address"),
        ("allowed_hosts", [" "], "--allowed-hosts is empty"),
        ("cors_allowed_origins", ["ui.example"], "scheme://host"),
        ("cors_allowed_origins", ["https://ui.example/path"], "scheme://host"),
        ("cors_allowed_origins", ["https://*.ui.example"], "scheme://host"),
        ("x_frame_options", "ALLOW-FROM x", "DENY, SAMEORIGIN or NONE"),
        ("static_prefix", "mlflow", "must start with '/'"),
    ],
)
def test_bad_options_fail_at_startup(field_name: str, value: object, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        SecurityConfig(**{field_name: value})  # type: ignore[arg-type]


def test_disable_turns_off_the_checks_but_keeps_the_token() -> None:
    app, seen = make_app(SecurityConfig(disable=True, auth_token=SECRET))
    http = client(app, "attacker.example")
    assert http.get("/").status_code == 401
    answer = http.post(CREATE, content=b"x", headers={"origin": "http://evil.example", **bearer()})
    assert answer.status_code == 200 and seen.created == [b"x"]
    assert "x-frame-options" not in answer.headers
    bare = FastAPI()
    install_security(bare, SecurityConfig(disable=True))
    assert bare.user_middleware == []  # nothing to do: no cost at all


def test_static_prefix_moves_the_open_paths_and_the_api_rules() -> None:
    app = FastAPI()
    created: list[bytes] = []

    @app.get("/mlflow/health")
    def health() -> str:
        return "OK"

    @app.post("/mlflow/api/2.0/mlflow/experiments/create")
    async def create(request: Request) -> dict[str, str]:
        created.append(await request.body())
        return {}

    install_security(app, SecurityConfig(static_prefix="/mlflow/", auth_token=SECRET))
    http = client(app)
    assert http.get("/mlflow/health").status_code == 200
    answer = http.post(
        "/mlflow/api/2.0/mlflow/experiments/create", content=b"x", headers={"content-type": "text/plain", **bearer()}
    )
    assert answer.status_code == 400 and created == []


# --- cost ---------------------------------------------------------------------------------------


def test_the_middleware_adds_only_microseconds_per_request() -> None:
    """Checked at the ASGI level, where the overhead is not hidden by sockets (generous bound: CI is noisy)."""

    async def endpoint(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]

    wrapped = SecurityMiddleware(endpoint, config=SecurityConfig(auth_token=SECRET))
    scope = {
        "type": "http",
        "method": "POST",
        "path": CREATE,
        "headers": [
            (b"host", b"localhost:5000"),
            (b"user-agent", b"python-requests/2.32"),
            (b"accept", b"*/*"),
            (b"content-type", b"application/json"),
            (b"content-length", b"20"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
        ],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])  # type: ignore[arg-type]

    async def timed(app: object, n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await app(scope, receive, send)  # type: ignore[operator]
        return (time.perf_counter() - started) / n

    async def measure() -> tuple[float, float]:
        await timed(wrapped, 200)  # warm up
        return await timed(endpoint, 5000), await timed(wrapped, 5000)

    bare, secured = asyncio.run(measure())
    assert set(statuses) == {200}
    assert secured - bare < 50e-6, f"{(secured - bare) * 1e6:.1f} µs per request"
