"""The registry through MlflowClient, register_model and model-URI resolution (SQLite, PostgreSQL and
through the tracking server).

Incidental version sources are ``s3://`` URIs, which every flavour accepts; local sources lie under
``tmp_path``, inside the test server's artifact root.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import prefect_mltrack as mlflow
from prefect_mltrack.artifacts import get_artifact_repository
from prefect_mltrack.entities import (
    ModelVersion,
    ModelVersionStage,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
)
from prefect_mltrack.exceptions import MLTrackError
from prefect_mltrack.model_uris import parse_model_uri, resolve_model_uri
from prefect_mltrack.registry_client import register_model


@pytest.fixture
def client(store_uri: str) -> mlflow.MlflowClient:
    mlflow.set_tracking_uri(store_uri)
    return mlflow.MlflowClient()


@pytest.fixture
def run_with_model(client: mlflow.MlflowClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A finished run that logged a model directory at 'model/'."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    run = client.create_run("0")
    client.log_artifacts(run.info.run_id, model_dir, "model")
    client.set_terminated(run.info.run_id)
    return client.get_run(run.info.run_id)


def error_code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(MLTrackError) as caught:
        call()
    return caught.value.error_code


# -- entities ---------------------------------------------------------------------------------------


def test_entities_take_mlflows_positional_order():
    mv = ModelVersion("iris", 2, 1700000000000, 1700000000001, "d", "me", "staging", "/m", "r1", "READY")
    assert (mv.version, mv.current_stage, mv.status, mv.user_id) == ("2", "Staging", "READY", "me")
    assert ModelVersion("iris", "1", 0, tags=[ModelVersionTag("k", 1)]).tags == {"k": "1"}
    model = RegisteredModel("iris", 1, 2, "desc", [mv], {"t": "v"}, [RegisteredModelAlias("champion", 2)])
    assert model.aliases == {"champion": "2"}
    assert model.latest_versions == [mv]


def test_stage_canonicalisation():
    assert ModelVersionStage.from_string("pRoDuCtIoN") is ModelVersionStage.PRODUCTION
    assert ModelVersionStage.PRODUCTION == "Production"
    assert [ModelVersionStage.from_string(s).is_active for s in ("None", "Staging", "Production", "Archived")] == [
        False,
        True,
        True,
        False,
    ]
    with pytest.raises(MLTrackError, match="None, Staging, Production, Archived") as caught:
        ModelVersionStage.from_string("prod")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


# -- client -----------------------------------------------------------------------------------------


def test_client_round_trip(client, run_with_model):
    run_id = run_with_model.info.run_id
    model = client.create_registered_model("iris", tags={"team": "vision"}, description="flowers")
    assert model.tags == {"team": "vision"}
    client.set_registered_model_tag("iris", "owner", "me")
    client.delete_registered_model_tag("iris", "team")
    assert client.update_registered_model("iris", description="irises").description == "irises"
    mv = client.create_model_version("iris", f"runs:/{run_id}/model", run_id, tags={"v": 1}, description="one")
    assert (mv.version, mv.run_id, mv.tags, mv.description) == ("1", run_id, {"v": "1"}, "one")
    client.create_model_version("iris", f"runs:/{run_id}/model")
    client.set_model_version_tag("iris", "2", "validated", "true")
    client.delete_model_version_tag("iris", 2, "validated")
    assert client.update_model_version("iris", 2, "two").description == "two"
    staged = client.transition_model_version_stage("iris", 2, "staging")
    assert staged.current_stage == "Staging"
    client.transition_model_version_stage("iris", 1, "Production")
    assert [v.version for v in client.get_latest_versions("iris", stages=["Production"])] == ["1"]
    client.set_registered_model_alias("iris", "champion", 2)
    assert client.get_model_version_by_alias("iris", "champion").aliases == ["champion"]
    assert client.get_model_version_stages("iris", "1") == ["None", "Staging", "Production", "Archived"]
    got = client.get_registered_model("iris")
    assert got.tags == {"owner": "me"} and got.aliases == {"champion": "2"}
    assert [m.name for m in client.search_registered_models("tags.owner = 'me'")] == ["iris"]
    assert [v.version for v in client.search_model_versions(f"run_id = '{run_id}'", order_by=["version_number"])] == [
        "1",
        "2",
    ]
    renamed = client.rename_registered_model("iris", "iris-v2")
    assert {v.name for v in renamed.latest_versions} == {"iris-v2"}
    client.delete_registered_model_alias("iris-v2", "champion")
    client.delete_model_version("iris-v2", "2")
    assert [v.version for v in client.search_model_versions("name = 'iris-v2'")] == ["1"]
    client.delete_registered_model("iris-v2")
    assert client.search_registered_models() == []


def test_download_uri_is_the_runs_artifact_location(client, run_with_model):
    client.create_registered_model("iris")
    mv = client.create_model_version("iris", f"runs:/{run_with_model.info.run_id}/model")
    uri = client.get_model_version_download_uri("iris", mv.version)
    assert uri == f"{run_with_model.info.artifact_uri}/model"
    # Read through the repository for the URI: a local directory, or the server's artifact proxy.
    assert get_artifact_repository(uri).read_bytes("MLmodel") == b"flavors: {}\n"


def test_copy_model_version(client, run_with_model):
    client.create_registered_model("staging-model")
    src = client.create_model_version(
        "staging-model",
        f"runs:/{run_with_model.info.run_id}/model",
        tags={"k": "v"},
        run_link="http://ui/run",
        description="src",
    )
    client.set_registered_model_alias("staging-model", "champion", src.version)
    copy = client.copy_model_version("models:/staging-model@champion", "prod-model")  # creates prod-model
    assert (copy.name, copy.version, copy.source) == ("prod-model", "1", "models:/staging-model/1")
    assert (copy.run_id, copy.tags, copy.run_link, copy.description) == (src.run_id, {"k": "v"}, "http://ui/run", "src")
    assert client.get_model_version_download_uri("prod-model", "1") == client.get_model_version_download_uri(
        "staging-model", "1"
    )
    again = client.copy_model_version("models:/staging-model/1", "prod-model")  # the model exists: next version
    assert again.version == "2"
    assert error_code(lambda: client.copy_model_version(f"runs:/{src.run_id}/model", "x")) == "INVALID_PARAMETER_VALUE"
    assert error_code(lambda: client.copy_model_version("models:/staging-model/7", "x")) == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(lambda: client.get_registered_model("x")) == "RESOURCE_DOES_NOT_EXIST"  # not half-created


# -- register_model ---------------------------------------------------------------------------------


def test_register_model_from_a_run(client, run_with_model):
    run_id = run_with_model.info.run_id
    mv = mlflow.register_model(f"runs:/{run_id}/model", "iris", tags={"stage": "candidate"})
    assert mlflow.register_model is register_model
    assert (mv.name, mv.version, mv.run_id, mv.current_stage) == ("iris", "1", run_id, "None")
    assert mv.source == f"{run_with_model.info.artifact_uri}/model"  # the resolved artifact location
    assert mv.tags == {"stage": "candidate"}
    assert client.get_registered_model("iris").latest_versions == [mv]
    # The model exists now: the next registration adds version 2.
    assert register_model(f"runs:/{run_id}/model", "iris").version == "2"


def test_register_model_from_other_uris(client, run_with_model, tmp_path):
    local = register_model(str(tmp_path / "some-model"), "local")
    assert (local.source, local.run_id) == (str(tmp_path / "some-model"), None)
    assert register_model("s3://bucket/model", "remote").source == "s3://bucket/model"
    register_model(f"runs:/{run_with_model.info.run_id}/model", "src")
    copied = register_model("models:/src/1", "copied")
    assert copied.source == "models:/src/1"
    assert client.get_model_version_download_uri("copied", "1") == f"{run_with_model.info.artifact_uri}/model"


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("", "INVALID_PARAMETER_VALUE"),
        ("runs:/", "INVALID_PARAMETER_VALUE"),
        ("models:/missing/1", "RESOURCE_DOES_NOT_EXIST"),
        ("models:/bad", "INVALID_PARAMETER_VALUE"),
        ("runs:/0123abcd/model", "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_register_model_errors_create_nothing(client, uri, code):
    assert error_code(lambda: register_model(uri, "never")) == code
    assert client.search_registered_models() == []


def test_register_model_validates_the_name(client, tmp_path):
    assert error_code(lambda: register_model(str(tmp_path), "a/b")) == "INVALID_PARAMETER_VALUE"


# -- URI resolution ---------------------------------------------------------------------------------


def test_resolve_model_uris(client, run_with_model, tmp_path):
    run_id = run_with_model.info.run_id
    artifact_uri = run_with_model.info.artifact_uri
    client.create_registered_model("iris")
    client.create_model_version("iris", f"runs:/{run_id}/model")  # 1
    client.create_model_version("iris", "s3://bucket/models/v2")  # 2
    client.create_model_version("iris", "s3://bucket/models/v3")  # 3
    client.transition_model_version_stage("iris", "1", "Production")
    client.transition_model_version_stage("iris", "2", "Staging")
    client.set_registered_model_alias("iris", "champion", "2")
    expected = {
        "models:/iris/1": f"{artifact_uri}/model",
        "models:/iris/3": "s3://bucket/models/v3",
        "models:/iris/Production": f"{artifact_uri}/model",
        "models:/iris/production": f"{artifact_uri}/model",
        "models:/iris/STAGING": "s3://bucket/models/v2",
        "models:/iris/latest": "s3://bucket/models/v3",
        "models:/iris/Latest": "s3://bucket/models/v3",
        "models:/iris@champion": "s3://bucket/models/v2",
        f"runs:/{run_id}/model": f"{artifact_uri}/model",
        f"runs:/{run_id}/model/": f"{artifact_uri}/model",
        f"runs:/{run_id}": artifact_uri,
        str(tmp_path / "m"): str(tmp_path / "m"),
        "relative/model": "relative/model",
        (tmp_path / "m").as_uri(): (tmp_path / "m").as_uri(),
        "s3://bucket/model": "s3://bucket/model",
        "mltrack-artifacts:/1/abc/artifacts/model": "mltrack-artifacts:/1/abc/artifacts/model",
    }
    for uri, location in expected.items():
        assert resolve_model_uri(uri, client) == location, uri
    # A deleted version no longer answers to its number, stage or "latest".
    client.delete_model_version("iris", "3")
    assert resolve_model_uri("models:/iris/latest", client) == "s3://bucket/models/v2"


@pytest.mark.parametrize(
    "uri",
    [
        "models:/",
        "models:",
        "models:/iris",
        "models:/iris/",
        "models:/iris/1/extra",
        "models:/iris/1@champion",
        "models:/@champion",
        "models:/iris@",
        "models://host/iris/1",
        "models:/iris/1?x=1",
        "runs:/",
        "runs://abc/model",
        "",
    ],
)
def test_malformed_uris_name_the_accepted_forms(client, uri):
    with pytest.raises(MLTrackError) as caught:
        resolve_model_uri(uri, client)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    if uri.startswith("models:"):
        assert "models:/<name>/<version>" in caught.value.message and "models:/<name>@<alias>" in caught.value.message


def test_unresolvable_uris(client, run_with_model):
    client.create_registered_model("iris")
    client.create_model_version("iris", "s3://bucket/models/v1")
    for uri in (
        "models:/iris/2",
        "models:/iris/Production",  # no version in that stage
        "models:/iris@champion",
        "models:/other/1",
        "models:/other/latest",
        "runs:/0123abcd/model",
    ):
        with pytest.raises(MLTrackError) as caught:
            resolve_model_uri(uri, client)
        assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST", uri
    with pytest.raises(MLTrackError) as caught:
        resolve_model_uri("models:/iris/Canary", client)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MLTrackError) as caught:
        resolve_model_uri(f"runs:/{run_with_model.info.run_id}/../../etc", client)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_parse_model_uri():
    assert parse_model_uri("models:/iris/3").version == "3"
    assert parse_model_uri("models:/iris/Staging").stage == "Staging"
    assert parse_model_uri("models:/iris/latest") == parse_model_uri("models:/iris/LATEST")
    assert parse_model_uri("models:/a@b@c").name == "a@b"  # the alias follows the last '@', as in MLflow


# -- the docs example -------------------------------------------------------------------------------


def test_registry_docs_example(tmp_path: Path, isolated_home: Path):
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "docs" / "examples" / "registry_demo.py"
    env = {**os.environ, "MLTRACK_HOME": str(isolated_home)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "models:/iris-classifier@champion -> {'max_depth': 5}" in result.stdout
    assert "models:/iris-classifier/production -> {'max_depth': 3}" in result.stdout
    assert "latest per stage: [('None', '2'), ('Production', '1')]" in result.stdout

    client = mlflow.MlflowClient(f"sqlite:///{isolated_home / 'mltrack.db'}")
    assert client.get_model_version_by_alias("iris-classifier", "champion").description == "deeper tree"
