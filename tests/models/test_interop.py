"""Interop with real MLflow (3.17.2), run as a separate interpreter without prefect_mltrack installed.

(a) models MLflow logs (cloudpickle and skops) load and predict here exactly as there;
(b) models we save (sklearn, and a custom PythonModel with artifacts and code_paths) load in MLflow
    with ``mlflow.sklearn.load_model`` / ``mlflow.pyfunc.load_model`` and predict identically.

The interpreter is ``$MLTRACK_TEST_MLFLOW_PYTHON`` or ``<repo>/.venv-mlflow/bin/python`` (``make test``
creates it); without one these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import prefect_mltrack.pyfunc as pyfunc
import prefect_mltrack.sklearn as mlflow_sklearn
from prefect_mltrack.models import Model

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600
# Read at import: the suite's autouse fixture clears MLTRACK_* variables before each test.
CONFIGURED_PYTHON = os.environ.get("MLTRACK_TEST_MLFLOW_PYTHON")


@cache
def _interpreter() -> tuple[str | None, str]:
    python = Path(CONFIGURED_PYTHON) if CONFIGURED_PYTHON else REPO / ".venv-mlflow" / "bin" / "python"
    if not python.exists():
        return None, (
            f"no MLflow interpreter at {python}: run `make test` (it creates .venv-mlflow with mlflow==3.17.2 and "
            "skops) or set MLTRACK_TEST_MLFLOW_PYTHON"
        )
    probe = subprocess.run(
        [str(python), "-c", "import mlflow, sklearn, skops; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=TIMEOUT_S,
    )
    if probe.returncode != 0:
        return None, f"{python} cannot import mlflow, sklearn and skops: {probe.stderr.strip()[-300:]}"
    return str(python), probe.stdout.strip()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_", "PYTHON"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    return env


@pytest.fixture(scope="module")
def mlflow_python() -> str:
    python, detail = _interpreter()
    if python is None:
        pytest.skip(detail)
    return python


def run_python(python: str, script: str, cwd: Path, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``python`` in ``cwd``; it prints one JSON object as its last line."""
    path = cwd / "script.py"
    path.write_text(textwrap.dedent(script))
    out = subprocess.run(
        [python, str(path), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert out.returncode == 0, f"{python} {path} failed:\n{out.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x, y


MLFLOW_LOGS = """
    import json, sys
    import mlflow, mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    clf = RandomForestClassifier(n_estimators=25, random_state=0).fit(X, y)
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    out = {"mlflow_version": mlflow.__version__}
    with mlflow.start_run():
        for fmt in ("cloudpickle", "skops"):
            extra = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if fmt == "skops" else {}
            info = mlflow.sklearn.log_model(
                clf, name=f"rf_{fmt}", serialization_format=fmt, input_example=X[:3], **extra
            )
            path = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=f"download_{fmt}")
            loaded = mlflow.pyfunc.load_model(info.model_uri)
            out[fmt] = {
                "path": path,
                "predict": loaded.predict(X).tolist(),
                "proba": mlflow.sklearn.load_model(info.model_uri).predict_proba(X).tolist(),
            }
    print(json.dumps(out))
"""


def test_models_logged_by_mlflow_load_here(mlflow_python: str, tmp_path: Path) -> None:
    result = run_python(mlflow_python, MLFLOW_LOGS, tmp_path)
    assert result["mlflow_version"] == "3.17.2"
    x, _ = iris()
    for fmt, expected_file in (("cloudpickle", "model.pkl"), ("skops", "model.skops")):
        theirs = result[fmt]
        model_dir = Path(theirs["path"])
        assert (model_dir / expected_file).is_file()
        model = pyfunc.load_model(model_dir)
        assert model.predict(x).tolist() == theirs["predict"], fmt
        assert model.metadata.flavors["sklearn"]["serialization_format"] == fmt
        assert model.metadata.mlflow_version == "3.17.2"
        estimator = mlflow_sklearn.load_model(model_dir.as_uri())
        np.testing.assert_array_equal(estimator.predict_proba(x), np.array(theirs["proba"]))
        # MLflow's signature (tensor spec from the numpy example) is enforced here too
        assert model.metadata.get_input_schema().is_tensor_spec()
        assert model.predict(pd.DataFrame(x[:5])).tolist() == theirs["predict"][:5]


OUR_CUSTOM_MODEL = """
    import json, sys
    from pathlib import Path
    import pandas as pd
    import prefect_mltrack.pyfunc as pyfunc

    class Shifted(pyfunc.PythonModel):
        # Defined in __main__, so cloudpickle ships the class by value, as in a training script.
        def load_context(self, context):
            self.shift = float(Path(context.artifacts["shift"]).read_text())

        def predict(self, context, model_input, params=None):
            import interop_helpers  # from the model's code/ directory

            factor = (params or {}).get("factor", 1.0)
            return interop_helpers.combine(model_input, self.shift) * factor

    root = Path(sys.argv[1])
    (root / "shift.txt").write_text("0.25")
    (root / "interop_helpers.py").write_text(
        "def combine(frame, shift):\\n    return frame['a'] * 2 + frame['b'] + shift\\n"
    )
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10, 20, 30]})
    pyfunc.save_model(
        root / "custom",
        python_model=Shifted(),
        artifacts={"shift": str(root / "shift.txt")},
        code_paths=[str(root / "interop_helpers.py")],
        input_example=(frame, {"factor": 1.0}),
    )
    model = pyfunc.load_model(root / "custom")
    print(json.dumps({
        "plain": model.predict(frame).tolist(),
        "params": model.predict(frame, params={"factor": 2.0}).tolist(),
    }))
"""

MLFLOW_LOADS_OURS = """
    import json, sys
    import numpy as np, pandas as pd
    import mlflow, mlflow.pyfunc, mlflow.sklearn
    from mlflow.models import Model

    root = sys.argv[1]
    X = np.array(json.loads(open(f"{root}/x.json").read()))
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    out = {}
    for name in ("sk_cloudpickle", "sk_skops"):
        path = f"{root}/{name}"
        out[name] = {
            "sklearn_predict": mlflow.sklearn.load_model(path).predict(frame).tolist(),
            "pyfunc_predict": mlflow.pyfunc.load_model(path).predict(frame).tolist(),
            "signature": Model.load(path).signature.to_dict(),
            "example": Model.load(path).load_input_example(path).to_dict(orient="split"),
        }
    custom = mlflow.pyfunc.load_model(f"{root}/custom")
    data = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10, 20, 30]})
    out["custom"] = {
        "plain": custom.predict(data).tolist(),
        "params": custom.predict(data, params={"factor": 2.0}).tolist(),
        "signature": Model.load(f"{root}/custom").signature.to_dict(),
        "base": [c.__module__ + "." + c.__name__ for c in type(custom.unwrap_python_model()).__mro__],
    }
    print(json.dumps(out))
"""


def test_models_we_save_load_in_mlflow(mlflow_python: str, tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = iris()
    frame = pd.DataFrame(x, columns=["sl", "sw", "pl", "pw"])
    clf = RandomForestClassifier(n_estimators=25, random_state=0).fit(frame, y)
    mlflow_sklearn.save_model(clf, tmp_path / "sk_cloudpickle", input_example=frame.head(3))
    mlflow_sklearn.save_model(
        clf,
        tmp_path / "sk_skops",
        serialization_format="skops",
        skops_trusted_types=["sklearn.tree._tree.Tree"],
        input_example=frame.head(3),
    )
    (tmp_path / "x.json").write_text(json.dumps(x.tolist()))
    ours_custom = run_python(sys.executable, OUR_CUSTOM_MODEL, tmp_path, str(tmp_path))

    theirs = run_python(mlflow_python, MLFLOW_LOADS_OURS, tmp_path, str(tmp_path))
    expected = clf.predict(frame).tolist()
    for name in ("sk_cloudpickle", "sk_skops"):
        got = theirs[name]
        assert got["sklearn_predict"] == expected, name
        assert got["pyfunc_predict"] == expected, name
        assert got["signature"] == Model.load(tmp_path / name).signature.to_dict()  # type: ignore[union-attr]
        assert got["example"]["data"] == x[:3].tolist()
        assert pyfunc.load_model(tmp_path / name).predict(frame).tolist() == expected
    custom = theirs["custom"]
    assert custom["plain"] == ours_custom["plain"] == [12.25, 24.25, 36.25]
    assert custom["params"] == ours_custom["params"]
    assert custom["signature"] == Model.load(tmp_path / "custom").signature.to_dict()  # type: ignore[union-attr]
    assert "mlflow.pyfunc.model.PythonModel" in custom["base"]  # the portable base resolved to MLflow's class
