"""docs/examples/models_demo.py runs as a user would run it, and prints what docs/models.md says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "docs" / "examples" / "models_demo.py"


def test_models_demo(tmp_path: Path, isolated_home: Path) -> None:
    env = {**os.environ, "MLTRACK_HOME": str(isolated_home)}
    result = subprocess.run(
        [sys.executable, str(DEMO)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "model URI: True" in out
    assert "outputs: [long (required)]" in out
    assert "sklearn predictions: [1, 0, 2, 1, 1]" in out
    assert "pyfunc on a DataFrame: [1, 0, 2, 1, 1]" in out
    assert "missing column: INVALID_PARAMETER_VALUE" in out
    assert "custom: [1, 0, 1] [0, 0, 0]" in out
    assert "tensor signature: [Tensor('float32', (-1, 4))]" in out
