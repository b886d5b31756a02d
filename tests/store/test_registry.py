"""Store contract: the model registry, on SQLite, PostgreSQL and through the tracking server (see
conftest.store).

Where a version's source is incidental it is an object-store URI under :data:`SRC`: every flavour
accepts those, while the server refuses local paths outside its artifact root (see
``prefect_mltrack.server.uri_policy``). Searches are in test_registry_search.py, the 0001 -> 0002
upgrade in test_registry_migration.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from prefect_mltrack.entities import ModelVersionStage, ModelVersionTag, RegisteredModelTag
from prefect_mltrack.exceptions import MLTrackError

INVALID = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"
SRC = "s3://bucket/models"  # an incidental source every flavour accepts


def fails(code: str, match: str | None = None):  # type: ignore[no-untyped-def]
    """pytest.raises for an MLTrackError with this error code."""

    class _Check:
        def __enter__(self):  # type: ignore[no-untyped-def]
            self.raises = pytest.raises(MLTrackError, match=match)
            self.info = self.raises.__enter__()
            return self.info

        def __exit__(self, *exc):  # type: ignore[no-untyped-def]
            suppressed = self.raises.__exit__(*exc)
            assert self.info.value.error_code == code, self.info.value
            return suppressed

    return _Check()


def tick() -> None:
    """Let the millisecond clock move, so timestamps differ."""
    time.sleep(0.003)


def make_versions(store, name: str, count: int, source: str = f"{SRC}/m"):  # type: ignore[no-untyped-def]
    store.create_registered_model(name)
    return [store.create_model_version(name, f"{source}{i}") for i in range(count)]


# -- registered models ------------------------------------------------------------------------------


def test_create_and_get_registered_model(store):
    created = store.create_registered_model(
        "iris", tags=[RegisteredModelTag("team", "vision"), RegisteredModelTag("n", 3)], description="flowers"
    )
    assert created.name == "iris"
    assert created.description == "flowers"
    assert created.tags == {"team": "vision", "n": "3"}
    assert created.aliases == {}
    assert created.latest_versions == []
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert store.get_registered_model("iris") == created


def test_duplicate_model_name_is_refused(store):
    store.create_registered_model("dup")
    with fails(EXISTS, "already exists"):
        store.create_registered_model("dup")


@pytest.mark.parametrize("name", ["", "   ", None, 5, "a/b", "a:b", ".", "..x", "x" * 257])
def test_invalid_model_names(store, name):
    with fails(INVALID):
        store.create_registered_model(name)


def test_longest_model_name_is_accepted(store):
    assert store.create_registered_model("x" * 256).name == "x" * 256


def test_unknown_model(store):
    with fails(MISSING, "Registered Model with name=nope not found"):
        store.get_registered_model("nope")
    for call in (
        lambda: store.update_registered_model("nope", "d"),
        lambda: store.delete_registered_model("nope"),
        lambda: store.rename_registered_model("nope", "other"),
        lambda: store.set_registered_model_tag("nope", RegisteredModelTag("k", "v")),
        lambda: store.delete_registered_model_tag("nope", "k"),
        lambda: store.create_model_version("nope", f"{SRC}/m"),
        lambda: store.get_latest_versions("nope"),
        lambda: store.delete_registered_model_alias("nope", "champion"),
        lambda: store.get_model_version_by_alias("nope", "champion"),
    ):
        with fails(MISSING):
            call()


@pytest.mark.parametrize(
    ("key", "value"),
    [("", "v"), ("../up", "v"), ("/abs", "v"), ("bad!", "v"), ("k" * 251, "v"), ("k", "v" * 100_001), ("k", None)],
)
def test_invalid_registered_model_tags(store, key, value):
    tag = RegisteredModelTag.model_construct(key=key, value=value)  # bypass the entity, as a REST body would
    with fails(INVALID):
        store.create_registered_model("tagged", tags=[tag])
    store.create_registered_model("tagged2")
    with fails(INVALID):
        store.set_registered_model_tag("tagged2", tag)


def test_registered_model_tags(store):
    store.create_registered_model("m")
    store.set_registered_model_tag("m", RegisteredModelTag("k", "1"))
    store.set_registered_model_tag("m", RegisteredModelTag("k", "2"))  # overwrites
    store.set_registered_model_tag("m", RegisteredModelTag("big", "x" * 100_000))  # the limit itself is fine
    assert store.get_registered_model("m").tags == {"k": "2", "big": "x" * 100_000}
    store.delete_registered_model_tag("m", "k")
    store.delete_registered_model_tag("m", "k")  # a missing tag is no error (MLflow's rule)
    assert set(store.get_registered_model("m").tags) == {"big"}


def test_update_registered_model_description(store):
    created = store.create_registered_model("m", description="old")
    tick()
    updated = store.update_registered_model("m", "new")
    assert updated.description == "new"
    assert updated.last_updated_timestamp > created.last_updated_timestamp
    assert updated.creation_timestamp == created.creation_timestamp
    assert store.update_registered_model("m", None).description is None


def test_rename_keeps_versions_tags_and_aliases(store):
    store.create_registered_model("old", tags=[RegisteredModelTag("t", "1")])
    store.create_model_version("old", f"{SRC}/1")
    store.create_model_version("old", f"{SRC}/2")
    store.set_registered_model_alias("old", "champion", "2")
    store.transition_model_version_stage("old", "1", "Production")
    renamed = store.rename_registered_model("old", "new")
    assert renamed.name == "new"
    assert renamed.tags == {"t": "1"}
    assert renamed.aliases == {"champion": "2"}
    assert [mv.name for mv in renamed.latest_versions] == ["new", "new"]
    assert store.get_model_version("new", "2").aliases == ["champion"]
    assert store.get_model_version_download_uri("new", "1") == f"{SRC}/1"
    assert [mv.version for mv in store.search_model_versions("name = 'new'")] == ["2", "1"]
    with fails(MISSING):
        store.get_registered_model("old")
    assert store.search_model_versions("name = 'old'") == []
    # The numbering continues under the new name.
    assert store.create_model_version("new", f"{SRC}/3").version == "3"


def test_rename_onto_a_taken_name_or_an_invalid_one(store):
    store.create_registered_model("a")
    store.create_registered_model("b")
    with fails(EXISTS):
        store.rename_registered_model("a", "b")
    with fails(INVALID):
        store.rename_registered_model("a", "x/y")
    with fails(INVALID):
        store.rename_registered_model("a", "")
    assert store.rename_registered_model("a", "a").name == "a"  # renaming to itself is a no-op


def test_delete_registered_model_is_a_hard_delete(store):
    store.create_registered_model("gone", tags=[RegisteredModelTag("t", "1")])
    for i in range(3):
        store.create_model_version("gone", f"{SRC}/{i}", tags=[ModelVersionTag("v", str(i))])
    store.delete_model_version("gone", "3")
    store.set_registered_model_alias("gone", "champion", "1")
    store.delete_registered_model("gone")
    with fails(MISSING):
        store.get_registered_model("gone")
    with fails(MISSING):
        store.get_model_version("gone", "1")
    assert store.search_registered_models("name = 'gone'") == []
    assert store.search_model_versions("name = 'gone'") == []
    # Everything went: the name is free again and numbering restarts at 1, with no old tags.
    again = store.create_registered_model("gone")
    assert again.tags == {} and again.aliases == {}
    mv = store.create_model_version("gone", f"{SRC}/new")
    assert mv.version == "1" and mv.tags == {}
    # Deleting twice: the model is not there.
    store.delete_registered_model("gone")
    with fails(MISSING):
        store.delete_registered_model("gone")


# -- model versions ---------------------------------------------------------------------------------


def test_create_model_version_fields(store):
    created = store.create_registered_model("m")
    tick()
    mv = store.create_model_version(
        "m",
        "s3://bucket/model",
        run_id="abc123",
        tags=[ModelVersionTag("validated", True)],
        run_link="http://ui/runs/abc123",
        description="first",
    )
    assert mv.name == "m" and mv.version == "1"
    assert mv.source == "s3://bucket/model"
    assert mv.run_id == "abc123"
    assert mv.run_link == "http://ui/runs/abc123"
    assert mv.description == "first"
    assert mv.tags == {"validated": "True"}
    assert mv.current_stage == ModelVersionStage.NONE == "None"
    assert mv.status == "READY"
    assert mv.aliases == []
    assert mv.creation_timestamp == mv.last_updated_timestamp
    assert store.get_model_version("m", "1") == mv == store.get_model_version("m", 1)
    assert store.get_model_version_download_uri("m", "1") == "s3://bucket/model"
    model = store.get_registered_model("m")
    assert model.last_updated_timestamp > created.last_updated_timestamp
    assert model.latest_versions == [mv]


def test_versions_count_from_one_per_model(store):
    assert [mv.version for mv in make_versions(store, "a", 3)] == ["1", "2", "3"]
    assert [mv.version for mv in make_versions(store, "b", 2)] == ["1", "2"]


def test_version_numbers_are_never_reused(store):
    make_versions(store, "m", 3)
    store.delete_model_version("m", "3")
    assert store.create_model_version("m", f"{SRC}/4").version == "4"
    store.delete_model_version("m", "4")
    store.delete_model_version("m", "1")
    assert store.create_model_version("m", f"{SRC}/5").version == "5"
    assert [mv.version for mv in store.search_model_versions("name = 'm'")] == ["5", "2"]


def test_runs_source_is_resolved_through_the_run(store):
    run = store.create_run("0")
    store.create_registered_model("m")
    mv = store.create_model_version("m", f"runs:/{run.info.run_id}/model")
    assert mv.source == f"runs:/{run.info.run_id}/model"
    assert mv.run_id == run.info.run_id  # taken from the URI
    assert store.get_model_version_download_uri("m", "1") == f"{run.info.artifact_uri}/model"
    same = store.create_model_version("m", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert same.run_id == run.info.run_id


def test_runs_source_errors(store):
    run = store.create_run("0")
    store.create_registered_model("m")
    with fails(INVALID, "belongs to run"):
        store.create_model_version("m", f"runs:/{run.info.run_id}/model", run_id="other")
    with fails(MISSING, "Run with id=0123abcd not found"):
        store.create_model_version("m", "runs:/0123abcd/model")
    with fails(INVALID):
        store.create_model_version("m", "runs:///model")
    with fails(INVALID):
        store.create_model_version("m", f"runs:/{run.info.run_id}/../../secrets")
    assert store.search_model_versions("name = 'm'") == []  # nothing half-created


def test_models_source_points_at_the_source_versions_files(store):
    store.create_registered_model("src")
    store.create_model_version("src", f"{SRC}/a")
    store.set_registered_model_alias("src", "champion", "1")
    store.create_registered_model("dst")
    for uri in ("models:/src/1", "models:/src@champion", "models:/src/latest"):
        mv = store.create_model_version("dst", uri)
        assert mv.source == uri
        assert store.get_model_version_download_uri("dst", mv.version) == f"{SRC}/a"
    with fails(MISSING):
        store.create_model_version("dst", "models:/src/9")
    with fails(INVALID):
        store.create_model_version("dst", "models:/src")


@pytest.mark.parametrize("source", ["", "  ", None, 7, "/models/../etc", "s3://b/a/../../x", "a/%2E%2E/b"])
def test_invalid_sources(store, source):
    store.create_registered_model("m")
    with fails(INVALID):
        store.create_model_version("m", source)


def test_invalid_run_id_and_version_tags(store):
    store.create_registered_model("m")
    with fails(INVALID):
        store.create_model_version("m", f"{SRC}/m", run_id="not a run id!")
    bad = ModelVersionTag.model_construct(key="../k", value="v")
    with fails(INVALID):
        store.create_model_version("m", f"{SRC}/m", tags=[bad])
    too_long = ModelVersionTag.model_construct(key="k", value="v" * 100_001)
    with fails(INVALID):
        store.create_model_version("m", f"{SRC}/m", tags=[too_long])
    assert store.search_model_versions("name = 'm'") == []


@pytest.mark.parametrize("version", ["abc", "1.5", "", None, True, "-1", 1.0])
def test_invalid_version_arguments(store, version):
    make_versions(store, "m", 1)
    for call in (
        lambda: store.get_model_version("m", version),
        lambda: store.delete_model_version("m", version),
        lambda: store.transition_model_version_stage("m", version, "Staging"),
        lambda: store.set_registered_model_alias("m", "champion", version),
    ):
        with fails(INVALID):
            call()


def test_unknown_versions(store):
    make_versions(store, "m", 1)
    for call in (
        lambda: store.get_model_version("m", "2"),
        lambda: store.get_model_version_download_uri("m", "2"),
        lambda: store.update_model_version("m", "2", "d"),
        lambda: store.delete_model_version("m", "2"),
        lambda: store.transition_model_version_stage("m", "2", "Staging"),
        lambda: store.set_model_version_tag("m", "2", ModelVersionTag("k", "v")),
        lambda: store.delete_model_version_tag("m", "2", "k"),
        lambda: store.set_registered_model_alias("m", "champion", "2"),
    ):
        with fails(MISSING, r"Model Version \(name=m, version=2\) not found"):
            call()
    with fails(MISSING, "Registered Model with name=other not found"):
        store.get_model_version("other", "1")


def test_update_model_version_description(store):
    mv = make_versions(store, "m", 1)[0]
    tick()
    updated = store.update_model_version("m", "1", "better")
    assert updated.description == "better"
    assert updated.last_updated_timestamp > mv.last_updated_timestamp
    assert store.get_model_version("m", "1").description == "better"


def test_delete_model_version_hides_it_everywhere(store):
    make_versions(store, "m", 2)
    store.set_model_version_tag("m", "2", ModelVersionTag("k", "v"))
    store.transition_model_version_stage("m", "2", "Production")
    store.set_registered_model_alias("m", "champion", "2")
    store.set_registered_model_alias("m", "backup", "1")
    store.delete_model_version("m", 2)
    for call in (
        lambda: store.get_model_version("m", "2"),
        lambda: store.get_model_version_download_uri("m", "2"),
        lambda: store.delete_model_version("m", "2"),
        lambda: store.set_model_version_tag("m", "2", ModelVersionTag("k", "v")),
        lambda: store.set_registered_model_alias("m", "champion", "2"),
    ):
        with fails(MISSING):
            call()
    assert [mv.version for mv in store.search_model_versions("name = 'm'")] == ["1"]
    assert store.search_model_versions("tags.k = 'v'") == []
    assert store.get_latest_versions("m", ["Production"]) == []
    model = store.get_registered_model("m")
    assert [mv.version for mv in model.latest_versions] == ["1"]
    # The alias on the deleted version is gone; the other one stays.
    assert model.aliases == {"backup": "1"}
    with fails(MISSING, "alias champion not found"):
        store.get_model_version_by_alias("m", "champion")
    # The name can be reused for another version.
    store.set_registered_model_alias("m", "champion", "1")
    assert store.get_model_version_by_alias("m", "champion").version == "1"


def test_model_version_tags(store):
    make_versions(store, "m", 2)
    store.set_model_version_tag("m", "1", ModelVersionTag("k", "a"))
    store.set_model_version_tag("m", 1, ModelVersionTag("k", "b"))
    store.set_model_version_tag("m", "1", ModelVersionTag("other", 5))
    assert store.get_model_version("m", "1").tags == {"k": "b", "other": "5"}
    assert store.get_model_version("m", "2").tags == {}
    store.delete_model_version_tag("m", "1", "k")
    store.delete_model_version_tag("m", "1", "k")  # missing tag: no error
    assert store.get_model_version("m", "1").tags == {"other": "5"}
    with fails(INVALID):
        store.set_model_version_tag("m", "1", ModelVersionTag.model_construct(key="a//b", value="v"))
    with fails(INVALID):
        store.delete_model_version_tag("m", "1", "")


def test_concurrent_registrations_get_distinct_numbers(store):
    store.create_registered_model("busy")
    versions: list[str] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(3):
                versions.append(store.create_model_version("busy", f"{SRC}/m").version)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(versions, key=int) == [str(i) for i in range(1, 19)]


# -- stages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("production", "Production"), ("STAGING", "Staging"), ("archived", "Archived"), ("none", "None")],
)
def test_stage_names_are_case_insensitive(store, given, canonical):
    make_versions(store, "m", 1)
    mv = store.transition_model_version_stage("m", "1", given)
    assert mv.current_stage == canonical
    assert store.get_model_version("m", "1").current_stage == canonical


def test_invalid_stage(store):
    make_versions(store, "m", 1)
    with fails(INVALID, "Invalid Model Version stage"):
        store.transition_model_version_stage("m", "1", "Prod")
    with fails(INVALID):
        store.get_latest_versions("m", ["Canary"])


@pytest.mark.parametrize("stage", ["None", "Archived", "archived"])
def test_archive_existing_versions_needs_an_active_stage(store, stage):
    make_versions(store, "m", 1)
    with fails(INVALID, "archive_existing_versions"):
        store.transition_model_version_stage("m", "1", stage, archive_existing_versions=True)
    assert store.get_model_version("m", "1").current_stage == "None"


def test_archive_existing_versions_moves_the_others_in_that_stage(store):
    make_versions(store, "m", 4)
    store.transition_model_version_stage("m", "1", "Production")
    store.transition_model_version_stage("m", "2", "Production")
    store.transition_model_version_stage("m", "3", "Staging")
    tick()
    promoted = store.transition_model_version_stage("m", "4", "production", archive_existing_versions=True)
    assert promoted.current_stage == "Production"
    stages = {mv.version: mv.current_stage for mv in store.search_model_versions("name = 'm'")}
    # The other Production versions are archived; the Staging one is left alone.
    assert stages == {"1": "Archived", "2": "Archived", "3": "Staging", "4": "Production"}
    archived = store.get_model_version("m", "1")
    assert archived.last_updated_timestamp == promoted.last_updated_timestamp


def test_without_archiving_several_versions_share_a_stage(store):
    make_versions(store, "m", 2)
    store.transition_model_version_stage("m", "1", "Production")
    store.transition_model_version_stage("m", "2", "Production")
    assert [mv.current_stage for mv in store.search_model_versions("name = 'm'")] == ["Production"] * 2


def test_get_latest_versions(store):
    make_versions(store, "m", 6)
    for version, stage in [("1", "Production"), ("2", "Production"), ("3", "Staging"), ("4", "Archived")]:
        store.transition_model_version_stage("m", version, stage)
    # 5 and 6 stay in None.

    def latest(stages):  # type: ignore[no-untyped-def]
        return {mv.current_stage: mv.version for mv in store.get_latest_versions("m", stages)}

    assert latest(None) == {"Production": "2", "Staging": "3", "Archived": "4", "None": "6"}
    assert latest([]) == latest(None)
    assert latest(["production"]) == {"Production": "2"}
    assert latest(["Staging", "None"]) == {"Staging": "3", "None": "6"}
    assert {mv.version for mv in store.get_registered_model("m").latest_versions} == {"2", "3", "4", "6"}
    store.delete_model_version("m", "2")
    assert latest(["Production"]) == {"Production": "1"}
    make_versions(store, "empty", 0)
    assert store.get_latest_versions("empty") == []


# -- aliases --------------------------------------------------------------------------------------


def test_aliases_set_get_move_delete(store):
    make_versions(store, "m", 2)
    store.set_registered_model_alias("m", "champion", "1")
    store.set_registered_model_alias("m", "Challenger_2-b", 2)
    assert store.get_model_version_by_alias("m", "champion").version == "1"
    assert store.get_model_version_by_alias("m", "champion").aliases == ["champion"]
    assert store.get_registered_model("m").aliases == {"champion": "1", "Challenger_2-b": "2"}
    # Setting an existing alias moves it.
    store.set_registered_model_alias("m", "champion", "2")
    assert store.get_model_version_by_alias("m", "champion").version == "2"
    assert store.get_model_version("m", "2").aliases == ["Challenger_2-b", "champion"]
    assert store.get_model_version("m", "1").aliases == []
    store.delete_registered_model_alias("m", "champion")
    store.delete_registered_model_alias("m", "champion")  # already gone: no error (observed in MLflow)
    assert store.get_registered_model("m").aliases == {"Challenger_2-b": "2"}
    with fails(MISSING, "alias champion not found"):
        store.get_model_version_by_alias("m", "champion")


@pytest.mark.parametrize("alias", ["latest", "LATEST", "Latest", "v1", "V12", "v007"])
def test_reserved_aliases_are_refused(store, alias):
    make_versions(store, "m", 1)
    with fails(INVALID, "reserved"):
        store.set_registered_model_alias("m", alias, "1")


@pytest.mark.parametrize("alias", ["", "a b", "a.b", "a/b", "champion!", "x" * 256, None])
def test_invalid_aliases_are_refused(store, alias):
    make_versions(store, "m", 1)
    with fails(INVALID):
        store.set_registered_model_alias("m", alias, "1")
    with fails(INVALID):
        store.get_model_version_by_alias("m", alias)


def test_names_like_reserved_ones_are_fine(store):
    make_versions(store, "m", 1)
    for alias in ("latest2", "v1a", "version1", "x" * 255):
        store.set_registered_model_alias("m", alias, "1")
        assert store.get_model_version_by_alias("m", alias).version == "1"


def test_latest_alias_lookup_is_the_highest_live_version(store):
    make_versions(store, "m", 3)
    store.transition_model_version_stage("m", "1", "Production")
    assert store.get_model_version_by_alias("m", "latest").version == "3"
    assert store.get_model_version_by_alias("m", "LATEST").version == "3"
    store.delete_model_version("m", "3")
    assert store.get_model_version_by_alias("m", "latest").version == "2"
    make_versions(store, "empty", 0)
    with fails(MISSING, "no versions"):
        store.get_model_version_by_alias("empty", "latest")
