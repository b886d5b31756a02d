"""Loading never reads outside the model directory, and changed files are caught by their checksums."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import prefect_mltrack.pyfunc as pyfunc
import prefect_mltrack.sklearn as mlflow_sklearn
from prefect_mltrack.exceptions import InvalidParameterError, MLTrackError, ModelIntegrityError
from prefect_mltrack.models import Model


@pytest.fixture
def saved(tmp_path: Path, forest: Any) -> Path:
    path = tmp_path / "model"
    mlflow_sklearn.save_model(forest, path)
    return path


def edit_mlmodel(path: Path, change: Any) -> None:
    data = yaml.safe_load((path / "MLmodel").read_text())
    change(data)
    (path / "MLmodel").write_text(yaml.safe_dump(data))


def load_both(path: Path) -> None:
    with pytest.raises(InvalidParameterError) as first:
        mlflow_sklearn.load_model(str(path))
    assert first.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(InvalidParameterError) as second:
        pyfunc.load_model(str(path))
    assert "outside the model directory" in first.value.message + second.value.message


@pytest.mark.parametrize("value", ["../model.pkl", "/etc/passwd", "sub/../../x.pkl", "%2e%2e/x.pkl"])
def test_pickled_model_outside_is_refused(saved: Path, value: str) -> None:
    shutil.copy(saved / "model.pkl", saved.parent / "model.pkl")

    def change(data: dict[str, Any]) -> None:
        data["flavors"]["sklearn"]["pickled_model"] = value
        data["flavors"]["python_function"]["model_path"] = value

    edit_mlmodel(saved, change)
    load_both(saved)


def test_symlink_out_is_refused(saved: Path) -> None:
    outside = saved.parent / "elsewhere.pkl"
    shutil.move(saved / "model.pkl", outside)
    os.symlink(outside, saved / "model.pkl")
    load_both(saved)


def test_code_dir_outside_is_refused(saved: Path, tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["flavors"]["sklearn"]["code"] = "../.."
        data["flavors"]["python_function"]["code"] = "../.."

    edit_mlmodel(saved, change)
    before = list(sys.path)
    load_both(saved)
    assert sys.path == before  # nothing was added


def test_symlink_inside_code_dir_pointing_out_is_refused(tmp_path: Path, forest: Any) -> None:
    helper = tmp_path / "helpers"
    helper.mkdir()
    (helper / "mod.py").write_text("X = 1\n")
    mlflow_sklearn.save_model(forest, tmp_path / "m", code_paths=[str(helper)])
    (tmp_path / "secret.py").write_text("Y = 2\n")
    os.symlink(tmp_path / "secret.py", tmp_path / "m" / "code" / "helpers" / "link.py")
    with pytest.raises(InvalidParameterError, match="symlink"):
        mlflow_sklearn.load_model(str(tmp_path / "m"))


def test_artifact_outside_is_refused(tmp_path: Path) -> None:
    class Model_(pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    (tmp_path / "a.txt").write_text("a")
    pyfunc.save_model(tmp_path / "m", python_model=Model_(), artifacts={"a": str(tmp_path / "a.txt")})
    edit_mlmodel(tmp_path / "m", lambda d: d["flavors"]["python_function"]["artifacts"]["a"].update(path="/etc/hosts"))
    with pytest.raises(InvalidParameterError, match=r"artifacts\.a\.path"):
        pyfunc.load_model(tmp_path / "m")


def test_checksum_mismatch_names_the_file(saved: Path) -> None:
    data = bytearray((saved / "model.pkl").read_bytes())
    data[-5] ^= 0xFF
    (saved / "model.pkl").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError) as err:
        mlflow_sklearn.load_model(str(saved))
    assert "'model.pkl'" in err.value.message and "SHA-256" in err.value.message
    assert err.value.error_code == "DATA_LOSS"
    with pytest.raises(ModelIntegrityError, match=r"model\.pkl"):
        pyfunc.load_model(saved)


def test_missing_and_unrecorded_files(tmp_path: Path, forest: Any) -> None:
    helper = tmp_path / "helpers.py"
    helper.write_text("X = 1\n")
    mlflow_sklearn.save_model(forest, tmp_path / "m", code_paths=[str(helper)])
    (tmp_path / "m" / "code" / "injected.py").write_text("import os\n")
    with pytest.raises(ModelIntegrityError, match=r"injected\.py"):
        mlflow_sklearn.load_model(str(tmp_path / "m"))
    (tmp_path / "m" / "code" / "injected.py").unlink()
    (tmp_path / "m" / "requirements.txt").unlink()
    with pytest.raises(ModelIntegrityError, match=r"requirements\.txt"):
        mlflow_sklearn.load_model(str(tmp_path / "m"))


def test_checksum_file_matches_sha256sum_format(saved: Path) -> None:
    import hashlib

    lines = (saved / "checksums.sha256").read_text().splitlines()
    entries = dict(reversed(line.split("  ", 1)) for line in lines)
    assert "MLmodel" not in entries and "model.pkl" in entries
    assert entries["model.pkl"] == hashlib.sha256((saved / "model.pkl").read_bytes()).hexdigest()


def test_mlmodel_edits_do_not_break_checksums_and_unknown_keys_survive(saved: Path) -> None:
    edit_mlmodel(saved, lambda d: d.update(databricks_runtime="15.4", future_field={"a": [1]}))
    model = Model.load(saved)
    assert model.extra == {"databricks_runtime": "15.4", "future_field": {"a": [1]}}
    assert yaml.safe_load(model.to_yaml())["future_field"] == {"a": [1]}
    pyfunc.load_model(saved)  # MLmodel is not checksummed: tools such as set_signature rewrite it


def test_skops_absent_gives_install_hint(tmp_path: Path, forest: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow_sklearn.save_model(
        forest, tmp_path / "m", serialization_format="skops", skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
    assert mlflow_sklearn.load_model(str(tmp_path / "m")).predict([[5.1, 3.5, 1.4, 0.2]]).shape == (1,)
    for name in [m for m in sys.modules if m == "skops" or m.startswith("skops.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skops", None)  # what an environment without skops looks like
    with pytest.raises(MLTrackError, match="pip install skops"):
        mlflow_sklearn.load_model(str(tmp_path / "m"))


def test_skops_untrusted_types_must_be_named(tmp_path: Path, forest: Any) -> None:
    with pytest.raises(InvalidParameterError, match="skops_trusted_types"):
        mlflow_sklearn.save_model(forest, tmp_path / "m", serialization_format="skops")
