"""Store contract: search_registered_models and search_model_versions (SQLite, PostgreSQL and through the
tracking server).

Sources are proxy and object-store URIs, which every flavour accepts (the server refuses local paths
outside its artifact root). The run ids are well-formed but name no run: no flavour looks a run up for
such sources.
"""

from __future__ import annotations

import time

import pytest

from prefect_mltrack.entities import ModelVersionTag, RegisteredModelTag
from prefect_mltrack.exceptions import MLTrackError

PROMPT_FILTER = "tag.`mlflow.prompt.is_prompt` != 'true'"  # what MLflow 3 clients always send


def tick() -> None:
    time.sleep(0.003)


@pytest.fixture
def models(store):  # type: ignore[no-untyped-def]
    """Five models created in this order (distinct timestamps), some tagged."""
    specs = [
        ("alpha", {"team": "vision", "env": "prod"}),
        ("beta", {"team": "nlp"}),
        ("Gamma", {"team": "vision"}),
        ("delta", {}),
        ("prompt-1", {"mlflow.prompt.is_prompt": "true"}),
    ]
    for name, tags in specs:
        store.create_registered_model(name, tags=[RegisteredModelTag(k, v) for k, v in tags.items()])
        tick()
    return store


def names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [item.name for item in page]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["Gamma", "alpha", "beta", "delta", "prompt-1"]),
        ("", ["Gamma", "alpha", "beta", "delta", "prompt-1"]),
        ("name = 'beta'", ["beta"]),
        ("name != 'beta'", ["Gamma", "alpha", "delta", "prompt-1"]),
        ("name LIKE '%a'", ["Gamma", "alpha", "beta", "delta"]),
        ("name LIKE 'g%'", []),  # LIKE is case-sensitive
        ("name ILIKE 'g%'", ["Gamma"]),
        ("name IN ('alpha', 'delta', 'nope')", ["alpha", "delta"]),
        ("name NOT IN ('alpha', 'delta')", ["Gamma", "beta", "prompt-1"]),
        ("tags.team = 'vision'", ["Gamma", "alpha"]),
        ("tag.team LIKE 'n%'", ["beta"]),
        ("tags.team ILIKE 'VIS%'", ["Gamma", "alpha"]),
        # != also matches models without the tag (MLflow 3's prompt filter depends on it).
        ("tags.team != 'vision'", ["beta", "delta", "prompt-1"]),
        (PROMPT_FILTER, ["Gamma", "alpha", "beta", "delta"]),
        ("tags.team IS NULL", ["delta", "prompt-1"]),
        ("tags.team IS NOT NULL", ["Gamma", "alpha", "beta"]),
        ("tags.team = 'vision' AND tags.env = 'prod'", ["alpha"]),
        (f"name LIKE '%a%' AND {PROMPT_FILTER}", ["Gamma", "alpha", "beta", "delta"]),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", ["prompt-1"]),
    ],
)
def test_search_registered_models_filters(models, filter_string, expected):
    assert names(models.search_registered_models(filter_string)) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (None, ["Gamma", "alpha", "beta", "delta", "prompt-1"]),
        (["name DESC"], ["prompt-1", "delta", "beta", "alpha", "Gamma"]),
        (["creation_timestamp"], ["alpha", "beta", "Gamma", "delta", "prompt-1"]),
        (["creation_timestamp DESC"], ["prompt-1", "delta", "Gamma", "beta", "alpha"]),
        (["last_updated_timestamp DESC"], ["prompt-1", "delta", "Gamma", "beta", "alpha"]),
        (["timestamp ASC"], ["alpha", "beta", "Gamma", "delta", "prompt-1"]),
    ],
)
def test_search_registered_models_order(models, order_by, expected):
    assert names(models.search_registered_models(order_by=order_by)) == expected


def test_updating_a_model_moves_it_in_timestamp_order(models):
    models.update_registered_model("alpha", "touched")
    assert names(models.search_registered_models(order_by=["last_updated_timestamp DESC"]))[0] == "alpha"
    assert names(models.search_registered_models(order_by=["creation_timestamp DESC"]))[-1] == "alpha"


def test_search_registered_models_pages(models):
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = models.search_registered_models(max_results=2, page_token=token)
        seen += names(page)
        pages += 1
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == ["Gamma", "alpha", "beta", "delta", "prompt-1"]
    exact = models.search_registered_models(max_results=5)
    assert len(exact) == 5 and exact.token is None


def test_search_registered_models_include_versions_tags_and_aliases(store):
    store.create_registered_model("m", tags=[RegisteredModelTag("t", "1")])
    store.create_model_version("m", "s3://bucket/a")
    store.create_model_version("m", "s3://bucket/b")
    store.transition_model_version_stage("m", "1", "Production")
    store.set_registered_model_alias("m", "champion", "1")
    (found,) = store.search_registered_models("name = 'm'")
    assert found == store.get_registered_model("m")
    assert found.aliases == {"champion": "1"}
    assert {(mv.version, mv.current_stage) for mv in found.latest_versions} == {("1", "Production"), ("2", "None")}


@pytest.mark.parametrize(
    "bad",
    [
        {"filter_string": "name = 'a' OR name = 'b'"},
        {"filter_string": "run_id = 'x'"},  # a version attribute, not a model one
        {"filter_string": "name > 'a'"},
        {"filter_string": "tags.t"},
        {"order_by": ["version_number"]},
        {"order_by": ["name", "name DESC"]},
        {"order_by": ["tags.t"]},
        {"max_results": 0},
        {"max_results": 1001},
        {"page_token": "not a token"},
    ],
)
def test_search_registered_models_bad_input(models, bad):
    with pytest.raises(MLTrackError) as caught:
        models.search_registered_models(**bad)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


# -- model versions ---------------------------------------------------------------------------------


@pytest.fixture
def versions(store):  # type: ignore[no-untyped-def]
    """a: v1 (run r1, tagged), v2 (run r2), v3 (deleted); b: v1 (run r1), v2 (s3 source, tagged)."""
    store.create_registered_model("a")
    store.create_registered_model("b")
    for name, source, run_id, tags in [
        ("a", "mlflow-artifacts:/models/a1", "r1", {"kind": "rf", "validated": "true"}),
        ("b", "mlflow-artifacts:/models/b1", "r1", {}),
        ("a", "mlflow-artifacts:/models/a2", "r2", {"kind": "svm"}),
        ("b", "s3://bucket/b2", None, {"validated": "false"}),
        ("a", "mlflow-artifacts:/models/a3", "r3", {}),
    ]:
        tags_ = [ModelVersionTag(k, v) for k, v in tags.items()]
        store.create_model_version(name, source, run_id=run_id, tags=tags_)
        tick()
    store.delete_model_version("a", "3")
    return store


def keys(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{mv.name}/{mv.version}" for mv in page]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["b/2", "a/2", "b/1", "a/1"]),  # default: last_updated_timestamp DESC
        ("name = 'a'", ["a/2", "a/1"]),
        ("name IN ('b')", ["b/2", "b/1"]),
        ("name != 'a'", ["b/2", "b/1"]),
        ("run_id = 'r1'", ["b/1", "a/1"]),
        ("run_id IN ('r2', 'r3')", ["a/2"]),  # a/3 is deleted
        ("run_id NOT IN ('r1')", ["a/2"]),
        ("source_path LIKE 's3://%'", ["b/2"]),
        ("source_path = 'mlflow-artifacts:/models/a1'", ["a/1"]),
        ("version_number >= 2", ["b/2", "a/2"]),
        ("version_number = 1 AND name = 'b'", ["b/1"]),
        ("tags.kind = 'rf'", ["a/1"]),
        ("tags.kind ILIKE '%V%'", ["a/2"]),
        ("tags.validated != 'true'", ["b/2", "a/2", "b/1"]),  # untagged versions match !=
        ("tags.kind IS NULL", ["b/2", "b/1"]),
        (PROMPT_FILTER.replace("tag.", "tags."), ["b/2", "a/2", "b/1", "a/1"]),
    ],
)
def test_search_model_versions_filters(versions, filter_string, expected):
    assert keys(versions.search_model_versions(filter_string)) == expected


def test_search_model_versions_timestamps(versions):
    (a1,) = versions.search_model_versions("name = 'a' AND version_number = 1")
    after = versions.search_model_versions(f"creation_timestamp > {a1.creation_timestamp}")
    assert keys(after) == ["b/2", "a/2", "b/1"]
    assert keys(versions.search_model_versions(f"last_updated_timestamp <= {a1.last_updated_timestamp}")) == ["a/1"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["version_number ASC"], ["a/1", "b/1", "a/2", "b/2"]),
        (["name DESC"], ["b/2", "b/1", "a/2", "a/1"]),
        (["name", "version_number"], ["a/1", "a/2", "b/1", "b/2"]),
        (["creation_timestamp"], ["a/1", "b/1", "a/2", "b/2"]),
    ],
)
def test_search_model_versions_order(versions, order_by, expected):
    assert keys(versions.search_model_versions(order_by=order_by)) == expected


def test_search_model_versions_pages_and_fills_tags_and_aliases(versions):
    versions.set_registered_model_alias("a", "champion", "1")
    first = versions.search_model_versions(max_results=3)
    assert keys(first) == ["b/2", "a/2", "b/1"] and first.token
    rest = versions.search_model_versions(max_results=3, page_token=first.token)
    assert keys(rest) == ["a/1"] and rest.token is None
    (a1,) = rest
    assert a1.tags == {"kind": "rf", "validated": "true"}
    assert a1.aliases == ["champion"]
    assert a1 == versions.get_model_version("a", "1")


@pytest.mark.parametrize(
    "bad",
    [
        {"filter_string": "version_number > 1.5"},
        {"filter_string": "version_number = '1'"},
        {"filter_string": "source_path IN ('x')"},
        {"filter_string": "status = 'READY'"},
        {"filter_string": "metrics.acc > 1"},
        {"order_by": ["run_id"]},
        {"max_results": 0},
        {"max_results": 200_001},
        {"page_token": "e30="},  # base64 of {} : no offset
    ],
)
def test_search_model_versions_bad_input(versions, bad):
    with pytest.raises(MLTrackError) as caught:
        versions.search_model_versions(**bad)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
