"""docs/serving.md's example runs as a user would run it, in a fresh folder and MLTRACK_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "serving_demo.py"


def test_serving_demo(tmp_path: Path, isolated_home: Path) -> None:
    env = {**os.environ, "MLTRACK_HOME": str(isolated_home)}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "version 1 -> {'predictions': [0]}"
    assert lines[1] == "now serving 2 instead of 1"
    assert lines[2] == "10 requests answered by versions ['1', '1', '2', '2', '2', '2', '2', '2', '2', '2']"
    assert 'mltrack_traffic_weight{model="iris",version="1",role="canary"} 0.2' in lines
