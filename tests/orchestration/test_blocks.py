"""Blocks: Prefect's standard suite, save/load with secrets, block files, and flows pointed at a block."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from PIL import Image
from prefect import flow
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

import prefect_mltrack as mlflow
from prefect_mltrack.block_documents import expand_env, read_block_file
from prefect_mltrack.blocks import BLOCK_TYPES, ArtifactStorage, ModelServer, TrackingStore
from prefect_mltrack.cli import app
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.flow_tracking import run_id_for_flow_run, track

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("block_class", BLOCK_TYPES, ids=lambda b: b.__name__)
class TestStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class):  # type: ignore[no-untyped-def,override]
        return block_class

    def test_has_a_valid_image(self, block) -> None:  # type: ignore[no-untyped-def,override]
        # The standard check downloads the logo; offline, check the file the URL publishes instead.
        match = re.search(r"/main/(.+)$", str(block._logo_url))
        assert match, block._logo_url
        img = Image.open(ROOT / match.group(1))
        assert img.width == img.height and 1000 > img.width > 45


def test_blocks_are_registered_through_the_prefect_collections_entry_point() -> None:
    (ours,) = [ep for ep in entry_points(group="prefect.collections") if ep.name == "prefect_mltrack"]
    module = ours.load()
    assert all(getattr(module, block.__name__) is block for block in BLOCK_TYPES)
    from prefect.blocks.core import Block

    assert Block.get_block_class_from_key("mltrack-tracking-store") is TrackingStore


def test_save_and_load_keep_secrets_secret(prefect_api: str) -> None:
    TrackingStore(tracking_uri="sqlite:///team.db", token=SecretStr("s3cr3t")).save("roundtrip", overwrite=True)
    loaded = TrackingStore.load("roundtrip")
    assert loaded.tracking_uri.endswith("/team.db") and loaded.tracking_uri.startswith("sqlite:///")
    assert "s3cr3t" not in repr(loaded) and loaded.token is not None
    assert loaded.token.get_secret_value() == "s3cr3t"
    ModelServer(base_url="http://127.0.0.1:8080/", token=SecretStr("t")).save("server", overwrite=True)
    server = ModelServer.load("server")
    assert server.base_url == "http://127.0.0.1:8080"
    with server.http_client() as http:
        assert http.headers["Authorization"] == "Bearer t"


@pytest.mark.parametrize(
    ("block_class", "fields", "message"),
    [
        (TrackingStore, {"tracking_uri": "ftp://x"}, "tracking_uri must be"),
        (ModelServer, {"base_url": "localhost:8080"}, "base_url must start with"),
        (ArtifactStorage, {"root_uri": "  "}, "root_uri must not be empty"),
        (ModelServer, {"base_url": "http://x", "timeout_seconds": 0}, "greater than 0"),
    ],
)
def test_bad_block_fields_are_refused_with_what_to_fix(block_class, fields, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        block_class(**fields)


def test_artifact_storage_gives_fsspec_options() -> None:
    storage = ArtifactStorage(
        root_uri="s3://bucket/runs/",
        endpoint_url="http://127.0.0.1:8333",
        access_key_id="k",
        secret_access_key=SecretStr("s"),
    )
    assert storage.root_uri == "s3://bucket/runs"
    assert storage.storage_options() == {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:8333"},
    }
    assert ArtifactStorage(root_uri="relative/dir").root_uri.startswith("file:///")


def test_flow_pointed_at_a_saved_store_block_logs_there(prefect_api: str, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'block-store.db'}"
    TrackingStore(tracking_uri=uri).save("flow-store", overwrite=True)
    ArtifactStorage(root_uri=str(tmp_path / "block-artifacts")).save("flow-artifacts", overwrite=True)

    @flow
    @track(
        experiment="via-block", store=TrackingStore.load("flow-store"), artifacts=ArtifactStorage.load("flow-artifacts")
    )
    def via_block() -> None:
        mlflow.log_metric("m", 2.0)
        mlflow.log_text("hi", "note.txt")

    state = via_block(return_state=True)
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id_for_flow_run(state.state_details.flow_run_id))
    assert run.data.metrics == {"m": 2.0}
    assert run.info.artifact_uri.startswith((tmp_path / "block-artifacts").as_uri())
    assert (tmp_path / "block-artifacts" / run.info.run_id / "artifacts" / "note.txt").read_text() == "hi"


def test_block_files_in_the_repository_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGUSER", "PGHOST", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    embedded = read_block_file(ROOT / "blocks" / "embedded.yaml")
    assert [(d.type, d.name) for d in embedded] == [
        ("mltrack-tracking-store", "embedded"),
        ("mltrack-artifact-storage", "embedded"),
    ]
    team = read_block_file(ROOT / "blocks" / "postgres.yaml")
    store = next(d for d in team if d.type == "mltrack-tracking-store")
    assert store.data["tracking_uri"] == "postgresql+psycopg://mltrack@127.0.0.1:5432/mltrack"
    storage = next(d for d in team if d.type == "mltrack-artifact-storage")
    assert "secret_access_key" not in storage.data  # unset secret: left out, not saved empty


def test_env_expansion_names_a_missing_variable() -> None:
    assert expand_env(["${A}", {"b": "${B:-dflt}"}], environ={"A": "1"}) == ["1", {"b": "dflt"}]
    with pytest.raises(InvalidParameterError, match="MISSING_TOKEN is not set"):
        expand_env("${MISSING_TOKEN}", environ={})


def test_cli_blocks_apply_saves_every_block_and_masks_secrets(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACK_TEST_TOKEN", "very-secret")
    doc = tmp_path / "blocks.yaml"
    doc.write_text(
        "blocks:\n"
        "  - type: mltrack-tracking-store\n    name: cli-store\n"
        f"    data:\n      tracking_uri: sqlite:///{tmp_path}/cli.db\n      token: ${{MLTRACK_TEST_TOKEN}}\n"
        "  - type: mltrack-model-server\n    name: cli-server\n    data:\n      base_url: http://127.0.0.1:9000\n"
    )
    result = CliRunner().invoke(app, ["blocks", "apply", str(doc)])
    assert result.exit_code == 0, result.output
    assert "very-secret" not in result.output and "cli-store" in result.output
    assert TrackingStore.load("cli-store").token.get_secret_value() == "very-secret"  # type: ignore[union-attr]
    assert ModelServer.load("cli-server").base_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("blocks: [{type: no-such-type, name: x}]", "Unknown block type"),
        ("blocks: [{type: mltrack-model-server, name: x, data: {base_url: nope}}]", "base_url must start"),
        ("blocks: [{type: mltrack-model-server, name: Bad_Name}]", "blocks.0.name: block names use lowercase letters"),
        ("blocks: [unclosed", "not valid YAML at line 1"),
        ("blocks: []", "blocks: List should have at least 1 item"),
    ],
)
def test_cli_blocks_apply_refuses_bad_files_and_saves_nothing(
    prefect_api: str, tmp_path: Path, content: str, message: str
) -> None:
    doc = tmp_path / "bad.yaml"
    doc.write_text(content)
    result = CliRunner().invoke(app, ["blocks", "apply", str(doc)])
    assert result.exit_code == 1
    assert message in result.output


def test_cli_blocks_apply_validates_all_before_saving_any(prefect_api: str, tmp_path: Path) -> None:
    doc = tmp_path / "mixed.yaml"
    doc.write_text(
        "blocks:\n"
        "  - {type: mltrack-model-server, name: good-first, data: {base_url: 'http://a'}}\n"
        "  - {type: mltrack-model-server, name: bad-second, data: {base_url: 'nope'}}\n"
    )
    assert CliRunner().invoke(app, ["blocks", "apply", str(doc)]).exit_code == 1
    with pytest.raises(ValueError, match="Unable to find"):
        ModelServer.load("good-first")
