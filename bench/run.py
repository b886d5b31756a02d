"""Run the benchmark workloads on prefect-mltrack and on MLflow, side by side, and compare them.

Usage::

    python bench/run.py [--quick] [--only log_metric,search] [--mlflow-python PATH]

Each workload runs as its own subprocess per implementation (``bench/workloads.py``), on a fresh
SQLite store in a fresh temporary directory: ours with the Python running this script (where
``prefect_mltrack`` is installed), MLflow with the Python of ``bench/.venv-mlflow`` (created with
``python -m venv`` and ``pip install mlflow`` when missing) or the one given by ``--mlflow-python``.

Prints a markdown table (figures, ratio, target) on stdout, progress on stderr, and writes every
figure to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORKLOADS_PY = BENCH_DIR / "workloads.py"
DEFAULT_MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"
DEFAULT_OUTPUT = BENCH_DIR / "results" / "latest.json"
WORKLOADS = ["log_metric", "log_batch", "search", "history", "import", "concurrency", "models"]
IMPLS = ["mltrack", "mlflow"]
SUBPROCESS_TIMEOUT_S = 3600
# No usage telemetry from MLflow 3 during the measurements (it would also make network calls).
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass(frozen=True)
class Target:
    """A goal for one measure: ours at least ``min_ratio`` x MLflow, or at most ``max_value`` absolute."""

    min_ratio: float | None = None
    max_value: float | None = None

    def describe(self, unit: str) -> str:
        return f"≥ {self.min_ratio:g}x" if self.min_ratio is not None else f"< {self.max_value:g} {unit}"

    def met(self, ours: float, ratio: float | None) -> bool:
        if self.min_ratio is not None:
            return ratio is not None and ratio >= self.min_ratio
        assert self.max_value is not None
        return ours < self.max_value


TARGETS: dict[str, Target] = {
    "log_metric": Target(min_ratio=20),
    "log_batch": Target(min_ratio=20),
    "search_filter_param": Target(min_ratio=10),
    "search_unordered": Target(min_ratio=10),
    "search_order_metric": Target(min_ratio=100),
    "history": Target(min_ratio=25),
    "import": Target(max_value=0.3),
    "model_log": Target(min_ratio=5),
    "model_load_warm": Target(min_ratio=1),
    "model_load_fresh": Target(min_ratio=3),
}


@dataclass(frozen=True)
class Row:
    """One line of the comparison table."""

    workload: str
    measure: str
    unit: str
    ours: float | None
    mlflow: float | None
    ratio: float | None
    target: str
    met: bool | None


# -- environments ----------------------------------------------------------------------------------
def ensure_mlflow_python(requested: str | None, spec: str) -> Path:
    """The MLflow interpreter: ``requested`` if given, else bench/.venv-mlflow (created if missing)."""
    if requested:
        python = Path(requested)
        if not python.exists():
            sys.exit(f"--mlflow-python {requested} does not exist")
        return python
    python = DEFAULT_MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {DEFAULT_MLFLOW_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(DEFAULT_MLFLOW_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import mlflow"], capture_output=True).returncode != 0:
        log(f"installing {spec!r} into {DEFAULT_MLFLOW_VENV} (one-off, takes a few minutes)")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec], check=True)
    return python


def package_version(python: Path, module: str) -> str:
    """``module.__version__`` as seen by ``python``; exits with a clear message if it is not importable."""
    out = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        env={**os.environ, **QUIET_ENV},
    )
    if out.returncode != 0:
        sys.exit(f"{python} cannot import {module}:\n{out.stderr}")
    return out.stdout.strip()


# -- running one workload --------------------------------------------------------------------------
def run_workload(workload: str, impl: str, python: Path, quick: bool) -> dict[str, Any]:
    """Run ``workloads.py workload impl <fresh dir>`` and return its JSON report (or an ``error``)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"mltrack-bench-{workload}-{impl}-"))
    env = {**os.environ, **QUIET_ENV}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLTRACK_TRACKING_URI", None)
    if impl == "mltrack":
        env["MLTRACK_HOME"] = str(workdir)
    command = [str(python), str(WORKLOADS_PY), workload, impl, str(workdir), *(["--quick"] if quick else [])]
    try:
        out = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {SUBPROCESS_TIMEOUT_S} s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = last_json_line(out.stdout)
    if out.returncode != 0 or report is None:
        return {"error": f"exit code {out.returncode}", "stderr_tail": out.stderr.strip().splitlines()[-15:]}
    return report


def last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                report: dict[str, Any] = json.loads(line)
                return report
            except json.JSONDecodeError:
                return None
    return None


# -- comparing -------------------------------------------------------------------------------------
def ratio(ours: float | None, theirs: float | None, better: str) -> float | None:
    """How many times better ours is: ours/MLflow for rates, MLflow/ours for times and sizes."""
    if ours is None or theirs is None or ours == 0 or theirs == 0:
        return None
    return ours / theirs if better == "higher" else theirs / ours


def build_rows(workload: str, reports: dict[str, dict[str, Any]]) -> list[Row]:
    ours, theirs = reports["mltrack"].get("measures", {}), reports["mlflow"].get("measures", {})
    rows = []
    for name in dict.fromkeys([*ours, *theirs]):
        spec = ours.get(name) or theirs[name]
        mine, other = value_of(ours, name), value_of(theirs, name)
        r = ratio(mine, other, spec["better"]) if spec["compare"] else None
        target = TARGETS.get(name)
        rows.append(
            Row(
                workload=workload,
                measure=name,
                unit=spec["unit"],
                ours=mine,
                mlflow=other,
                ratio=r,
                target=target.describe(spec["unit"]) if target else "",
                met=target.met(mine, r) if target and mine is not None else None,
            )
        )
    return rows


def value_of(measures: dict[str, Any], name: str) -> float | None:
    return measures[name]["value"] if name in measures else None


def discrepancies(workload: str, reports: dict[str, dict[str, Any]]) -> list[str]:
    """Failures, and every check on which the two implementations disagree or fall short."""
    found = [
        f"{workload} [{impl}] failed: {report['error']}: {' | '.join(report.get('stderr_tail', [])[-3:])}"
        for impl, report in reports.items()
        if "error" in report
    ]
    ours, theirs = reports["mltrack"].get("checks"), reports["mlflow"].get("checks")
    if ours is not None and theirs is not None:
        for key in dict.fromkeys([*ours, *theirs]):
            if ours.get(key) != theirs.get(key):
                found.append(
                    f"{workload}: check {key!r} differs: mltrack={ours.get(key)!r}, mlflow={theirs.get(key)!r}"
                )
    for impl, report in reports.items():
        checks = report.get("checks", {})
        if "expected_points" in checks and checks["stored_points"] != checks["expected_points"]:
            found.append(f"{workload} [{impl}]: stored {checks['stored_points']} of {checks['expected_points']} points")
    return found


# -- output ----------------------------------------------------------------------------------------
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.3f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit in ("errors", "points"):
        return f"{value:,.0f}"
    return f"{value:,.0f} {unit}"


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| workload | measure | prefect-mltrack | MLflow | ours vs MLflow | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio_text = f"{row.ratio:,.1f}x" if row.ratio is not None else "—"
        met_text = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.workload} | {row.measure} | {fmt(row.ours, row.unit)} | {fmt(row.mlflow, row.unit)} "
            f"| {ratio_text} | {row.target} | {met_text} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="prefect-mltrack vs MLflow, same workloads, one run.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(WORKLOADS)}")
    parser.add_argument("--mlflow-python", help=f"MLflow's interpreter (default {DEFAULT_MLFLOW_VENV}/bin/python)")
    parser.add_argument("--mlflow-spec", default="mlflow", help="what to pip install into a new MLflow venv")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON results")
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.only.split(",") if w.strip()] or WORKLOADS
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {WORKLOADS}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pythons = {"mltrack": Path(sys.executable), "mlflow": ensure_mlflow_python(args.mlflow_python, args.mlflow_spec)}
    versions = {
        "prefect_mltrack": package_version(pythons["mltrack"], "prefect_mltrack"),
        "mlflow": package_version(pythons["mlflow"], "mlflow"),
    }
    log(
        f"prefect_mltrack {versions['prefect_mltrack']} ({pythons['mltrack']}), mlflow {versions['mlflow']} "
        f"({pythons['mlflow']}), {'quick' if args.quick else 'full'} sizes"
    )
    started = dt.datetime.now(dt.UTC)
    results: dict[str, dict[str, Any]] = {}
    rows: list[Row] = []
    problems: list[str] = []
    for workload in args.workloads:
        reports = {}
        for impl in IMPLS:
            log(f"{workload} on {impl} ...")
            reports[impl] = run_workload(workload, impl, pythons[impl], args.quick)
        results[workload] = reports
        rows.extend(build_rows(workload, reports))
        problems.extend(discrepancies(workload, reports))
    table = markdown_table(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "command": shlex.join([Path(sys.executable).name, *sys.argv]),
                "started_utc": started.isoformat(timespec="seconds"),
                "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "quick": args.quick,
                "machine": machine(),
                "versions": versions,
                "rows": [row.__dict__ for row in rows],
                "discrepancies": problems,
                "results": results,
            },
            indent=2,
        )
    )
    print(table)
    if problems:
        print("\nDiscrepancies:\n" + "\n".join(f"- {p}" for p in problems))
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
