"""MLproject parsing and parameter checking: every bad input gets an error naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_mltrack.exceptions import InvalidParameterError, ResourceNotFoundError
from prefect_mltrack.projects import ProjectSpecError, load_spec
from prefect_mltrack.projects.spec import Parameter

SEED = """
name: Iris_Classification_Project

conda_env: conda.yaml

entry_points:
  main:
    parameters:
      n_estimators: {type: int, default: 100}
      max_depth: {type: int, default: 5}
    command: "python train.py --n_estimators {n_estimators} --max_depth {max_depth}"
  score:
    parameters:
      alpha: float
      data: path
      model: {type: uri, default: "runs:/abc/model"}
      label: {type: string, default: hello world}
    command: "python score.py {alpha} {data}"
"""


def project(tmp_path: Path, text: str, *files: str, mlproject: str = "MLproject") -> Path:
    (tmp_path / mlproject).write_text(text)
    for name in files:
        (tmp_path / name).write_text("")
    return tmp_path


def test_seed_mlproject_parses(tmp_path: Path):
    spec = load_spec(project(tmp_path, SEED, "conda.yaml"))
    assert spec.name == "Iris_Classification_Project"
    assert (spec.env_type, spec.env) == ("conda_env", "conda.yaml")
    main = spec.entry_point("main")
    assert main.parameters["n_estimators"] == Parameter("n_estimators", "int", 100)
    score = spec.entry_point("score")
    assert score.parameters["alpha"].type == "float" and score.parameters["alpha"].required
    assert [p.type for p in score.parameters.values()] == ["float", "path", "uri", "string"]


def test_file_name_is_matched_case_insensitively(tmp_path: Path):
    assert load_spec(project(tmp_path, SEED, "conda.yaml", mlproject="mlproject")).name == "Iris_Classification_Project"


def test_check_converts_fills_defaults_and_keeps_extras(tmp_path: Path):
    main = load_spec(project(tmp_path, SEED, "conda.yaml")).entry_point("main")
    declared, extras = main.check({"n_estimators": "50", "seed": 7, "learning-rate": "0.1"})
    assert declared == {"n_estimators": 50, "max_depth": 5}
    assert extras == {"seed": "7", "learning-rate": "0.1"}


@pytest.mark.parametrize(
    ("ptype", "value"),
    [("int", "abc"), ("int", "5.5"), ("int", 5.5), ("int", True), ("int", ""), ("float", "x1"), ("float", "")],
)
def test_wrong_type_names_parameter_and_value(ptype: str, value: object):
    with pytest.raises(InvalidParameterError) as info:
        Parameter("depth", ptype, 1).convert(value)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'depth'" in info.value.message and repr(value) in info.value.message


@pytest.mark.parametrize(("ptype", "value", "expected"), [("int", "7", 7), ("int", 7.0, 7), ("float", "1e-3", 0.001)])
def test_good_values_convert(ptype: str, value: object, expected: object):
    assert Parameter("p", ptype).convert(value) == expected


def test_uri_must_look_like_a_uri():
    assert Parameter("m", "uri").convert("s3://bucket/key") == "s3://bucket/key"
    with pytest.raises(InvalidParameterError, match="'m'"):
        Parameter("m", "uri").convert("not a uri")


def test_missing_required_parameter(tmp_path: Path):
    score = load_spec(project(tmp_path, SEED, "conda.yaml")).entry_point("score")
    with pytest.raises(InvalidParameterError, match="No value given for missing parameters: 'alpha', 'data'"):
        score.check({})


def test_missing_entry_point_lists_the_declared_ones(tmp_path: Path):
    spec = load_spec(project(tmp_path, SEED, "conda.yaml"))
    with pytest.raises(ResourceNotFoundError, match=r"'evaluate' not found.*main, score"):
        spec.entry_point("evaluate")


def test_malformed_yaml(tmp_path: Path):
    with pytest.raises(ProjectSpecError, match="not valid YAML"):
        load_spec(project(tmp_path, "name: x\nentry_points: {main: [unclosed\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list", "top level must be a mapping"),
        ("name: x\nentry_points: {main: {parameters: {}}}", "needs a 'command'"),
        ("entry_points: {main: {command: x, parameters: {a: {type: tensor}}}}", "unknown type 'tensor'"),
        ("entry_points: {main: {command: x, parameters: {a: {type: int, default: ten}}}}", "bad default"),
        ("entry_points: {main: {command: x, parameters: {'a b': int}}}", "must be an identifier"),
        ("entry_points: [main]", "must be a mapping"),
        ("python_env: python_env.yaml\nconda_env: conda.yaml", "only one of"),
        ("python_env: missing.yaml", "not found"),
        ("docker_env: {volumes: []}", "needs an 'image'"),
        ("name: x\ncolour: blue", "unknown keys"),
    ],
)
def test_invalid_mlproject(tmp_path: Path, text: str, message: str):
    (tmp_path / "conda.yaml").write_text("")
    (tmp_path / "python_env.yaml").write_text("")
    with pytest.raises(ProjectSpecError, match=message) as info:
        load_spec(project(tmp_path, text))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_folder_without_mlproject_runs_py_and_sh_files(tmp_path: Path):
    (tmp_path / "train.py").write_text("")
    (tmp_path / "prep it.sh").write_text("")
    (tmp_path / "requirements.txt").write_text("")
    spec = load_spec(tmp_path)
    assert not spec.has_mlproject and spec.env_type is None
    assert spec.entry_point("train.py").command == "python train.py"
    assert spec.entry_point("prep it.sh").command == "bash 'prep it.sh'"
    with pytest.raises(ResourceNotFoundError):
        spec.entry_point("main")
    with pytest.raises(ResourceNotFoundError):
        spec.entry_point("../outside.py")


def test_environment_files_are_found_without_a_key(tmp_path: Path):
    (tmp_path / "python_env.yaml").write_text("python: '3.11'\n")
    spec = load_spec(project(tmp_path, "entry_points: {main: {command: 'true'}}"))
    assert (spec.env_type, spec.env) == ("python_env", "python_env.yaml")


def test_missing_folder():
    with pytest.raises(ResourceNotFoundError):
        load_spec("/does/not/exist")


def test_load_project_keeps_git_urls_and_makes_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from prefect_mltrack.projects import load_project

    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "MLproject").write_text("entry_points: {main: {command: 'true'}}")
    monkeypatch.chdir(tmp_path)
    assert load_project("proj").uri == str(tmp_path / "proj")
