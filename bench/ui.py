"""The web UI in a browser: prefect-mltrack's runs table and metric chart vs MLflow's UI, side by side.

Usage::

    python bench/ui.py [--quick] [--runs 10000,100000] [--points N] [--mlflow-runs N] [--skip-mlflow]
                       [--mlflow-chart] [--repeats 3] [--mlflow-python PATH] [--output PATH]

Run it with the project's Python (``playwright`` installed, Debian's Chromium at ``/usr/bin/chromium``,
started with the flags of ``tests/ui/conftest.py``). Each store is seeded before its server starts
(setup, never timed): ours straight into a fresh SQLite file (the schema and experiment through
``SqlStore``, then the rows with plain SQL inserts in one transaction), MLflow's through its own
``SqlAlchemyStore`` in MLflow's virtual environment (``bench/_mlflow_ui_seed.py``: one ``create_run``
+ ``log_batch`` + ``update_run_info`` per run, no HTTP). The data shape is the same on both sides: N
runs in one experiment, each with 3 params, 3 metrics (one point each) and 2 tags, FINISHED, every
tenth run nested under the run before it (so 90% are top-level); plus, for the chart, one run with
P points of ``loss``. Then ``mltrack server`` and ``mlflow server --workers 1`` serve the files on
free loopback ports.

Every measurement opens a fresh browser context (1280x800; empty cache and storage, so the page's
scripts and styles are fetched again), navigates, and reads ``performance.now()`` in the page (time
since the navigation started) the first time the condition holds (polled every animation frame):

* runs table, ours (``#/experiments/<id>``): the first row of ``table.runs-table tbody tr[data-run-id]``,
  and the first page (100 top-level runs); MLflow (``#/experiments/<id>/runs``): the first row of its
  ag-grid (``.ag-center-cols-container [role=row]``) and its first page (MLflow fetches 100 runs and
  shows the 90 top-level ones among them, children folded);
* metric chart, ours (``#/metric/loss?runs=<id>``): the chart element's ``data-finished-at`` (ECharts'
  first ``finished`` event), split into the history request (``data-fetch-ms``) and the draw
  (``data-draw-ms``); MLflow's (``--mlflow-chart``, its ``#/metric/loss`` page): the first plotted
  line (``.js-plotly-plot .scatterlayer path.js-line``).

Best and median of ``--repeats`` (3). Prints a markdown table on stdout ("ours vs MLflow" is MLflow's
time / ours), progress on stderr, and every figure to ``bench/results/ui.json``. No assertions: a
measurement that fails is reported under "Notes".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from server import QUIET_ENV, mlflow_python, server_command, server_version, started_server

BENCH_DIR = Path(__file__).resolve().parent
SEEDER = BENCH_DIR / "_mlflow_ui_seed.py"
DEFAULT_OUTPUT = BENCH_DIR / "results" / "ui.json"
CHROMIUM = os.environ.get("MLTRACK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # the flags of tests/ui/conftest.py
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 300_000
OURS_ROWS = "table.runs-table tbody tr[data-run-id]"
OURS_PAGE = 100
MLFLOW_ROWS = ".ag-center-cols-container [role=row]"
MLFLOW_PAGE = 90  # MLflow loads 100 runs per page; 10 of them are children, folded under their parents
MLFLOW_LINE = ".js-plotly-plot .scatterlayer path.js-line"
CHUNK = 50_000


def log(message: str) -> None:
    print(f"[ui-bench] {message}", file=sys.stderr, flush=True)


# -- seeding ---------------------------------------------------------------------------------------
def seed_ours(db: Path, runs: int, points: int) -> tuple[str, str]:
    """Fill a fresh SQLite store with the bench's runs (see the module docstring); (experiment id, big run id)."""
    from prefect_mltrack.store.sql.store import SqlStore

    store = SqlStore(f"sqlite:///{db}", (db.parent / "artifacts").as_uri())
    experiment_id = store.create_experiment("ui-bench")
    location = store.get_experiment(experiment_id).artifact_location.rstrip("/")
    store.close()
    base = int(time.time() * 1000) - runs * 1000 - 60_000
    run_rows, tag_rows, param_rows, metric_rows = [], [], [], []
    parent = ""
    for i in range(runs):
        run_id, start, name = uuid.uuid4().hex, base + i * 1000, f"run-{i:06d}"
        run_rows.append(
            (run_id, experiment_id, name, "bench", "FINISHED", start, start + 500, f"{location}/{run_id}/artifacts")
        )
        tag_rows += [
            (run_id, "mlflow.runName", name),
            (run_id, "team", "vision" if i % 2 else "nlp"),
            (run_id, "stage", "dev"),
        ]
        if i % 10 == 9 and parent:
            tag_rows.append((run_id, "mlflow.parentRunId", parent))
        else:
            parent = run_id
        param_rows += [
            (run_id, "lr", str(0.001 * (i % 5 + 1))),
            (run_id, "depth", str(i % 7)),
            (run_id, "optimizer", "adam"),
        ]
        acc = ((i * 7919) % 1000) / 1000
        metric_rows += [
            (run_id, "acc", 0, start + 100, acc),
            (run_id, "loss", 0, start + 100, 1 - acc),
            (run_id, "f1", 0, start + 100, acc / 2),
        ]
    big_id = uuid.uuid4().hex if points else ""
    with sqlite3.connect(db) as conn:
        insert_run = "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, NULL)"
        conn.executemany(insert_run, run_rows)
        conn.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", tag_rows)
        conn.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", param_rows)
        for table in ("metrics", "latest_metrics"):
            conn.executemany(
                f"INSERT INTO {table} (run_id, key, step, timestamp, value, special) VALUES (?, ?, ?, ?, ?, 0)",
                metric_rows,
            )
        if points:
            conn.execute(
                insert_run,
                (
                    big_id,
                    experiment_id,
                    "big",
                    "bench",
                    "FINISHED",
                    base - 1000,
                    base,
                    f"{location}/{big_id}/artifacts",
                ),
            )
            conn.execute("INSERT INTO tags VALUES (?, 'mlflow.runName', 'big')", (big_id,))
            for first in range(0, points, CHUNK):
                conn.executemany(
                    "INSERT INTO metrics (run_id, key, step, timestamp, value, special) VALUES (?, 'loss', ?, ?, ?, 0)",
                    ((big_id, s, base + s, 1.0 / (1 + s * 1e-4)) for s in range(first, min(first + CHUNK, points))),
                )
            last = points - 1
            conn.execute(
                "INSERT INTO latest_metrics VALUES (?, 'loss', ?, ?, ?, 0)",
                (big_id, last, base + last, 1.0 / (1 + last * 1e-4)),
            )
    return experiment_id, big_id


def seed_mlflow(python: Path, db: Path, runs: int, points: int) -> dict[str, Any]:
    """Run ``_mlflow_ui_seed.py`` in MLflow's environment; its JSON answer."""
    command = [str(python), str(SEEDER), str(db), str(db.parent / "artifacts"), str(runs), "--points", str(points)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **QUIET_ENV}, cwd=db.parent)
    if done.returncode != 0:
        raise RuntimeError(f"MLflow seeding failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the browser -----------------------------------------------------------------------------------
@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# Installed before the page's own scripts: every animation frame, records performance.now() (ms since
# the navigation started) the first time each selector matches at least n elements.
WATCH_JS = """
(() => {
  const waits = %s;
  window.__benchTimes = {};
  const tick = () => {
    for (const [name, selector, n] of waits) {
      if (!(name in window.__benchTimes) && document.querySelectorAll(selector).length >= n) {
        window.__benchTimes[name] = performance.now();
      }
    }
    if (Object.keys(window.__benchTimes).length < waits.length) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def page_times(
    browser: Any, url: str, waits: list[tuple[str, str, int]], timeout_ms: int = WAIT_MS
) -> dict[str, float]:
    """Open ``url`` in a fresh context; for each (name, selector, n), ms from navigation to n matches."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(WATCH_JS % json.dumps(waits))
        page = context.new_page()
        page.goto(url, wait_until="commit")
        done = "n => window.__benchTimes && Object.keys(window.__benchTimes).length >= n"
        page.wait_for_function(done, arg=len(waits), timeout=timeout_ms)
        return {k: float(v) for k, v in page.evaluate("() => window.__benchTimes").items()}
    finally:
        context.close()


def chart_times(browser: Any, url: str) -> dict[str, float]:
    """Our metric page: navigation to the chart's first ``finished``, and its fetch/draw split (ms)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_selector(".mt-chart[data-finished-at]", state="attached", timeout=WAIT_MS)
        data = page.eval_on_selector(".mt-chart", "e => ({...e.dataset})")
        return {
            "total": float(data["finishedAt"]),
            "fetch": float(data["fetchMs"]),
            "draw": float(data["drawMs"]),
            "max_results": float(data["maxResults"]),
        }
    finally:
        context.close()


def repeat(measure: Any, repeats: int) -> dict[str, dict[str, Any]]:
    """Run ``measure()`` ``repeats`` times; per figure its best, median and every value."""
    samples = [measure() for _ in range(repeats)]
    return {
        key: {
            "best": min(s[key] for s in samples),
            "median": statistics.median(s[key] for s in samples),
            "all": [s[key] for s in samples],
        }
        for key in samples[0]
    }


# -- sides -------------------------------------------------------------------------------------------
def bench_ours(browser: Any, runs: int, points: int, repeats: int, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    experiment_id, big_id = seed_ours(workdir / "mltrack.db", runs, points)
    result: dict[str, Any] = {"runs": runs, "points": points, "seed_s": time.perf_counter() - started}
    log(f"ours: seeded {runs:,} runs + {points:,} points in {result['seed_s']:.1f} s")
    command, env = server_command("mltrack", Path(), workdir, None)
    with started_server("ours (mltrack)", command, env, workdir) as url:
        result["version"] = server_version(url)
        waits = [("first_row", OURS_ROWS, 1), ("first_page", OURS_ROWS, OURS_PAGE)]
        result["table"] = repeat(lambda: page_times(browser, f"{url}/#/experiments/{experiment_id}", waits), repeats)
        log(f"ours: runs table at {runs:,} runs: {summary(result['table'])}")
        if points:
            chart_url = f"{url}/#/metric/loss?runs={big_id}"
            result["chart"] = repeat(lambda: chart_times(browser, chart_url), repeats)
            log(f"ours: chart of {points:,} points: {summary(result['chart'])}")
    return result


def bench_mlflow(browser: Any, python: Path, runs: int, points: int, repeats: int, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    seeded = seed_mlflow(python, workdir / "mlflow.db", runs, points)
    result: dict[str, Any] = {"runs": runs, "points": points, "seed_s": time.perf_counter() - started, "seed": seeded}
    log(f"MLflow: seeded {runs:,} runs + {points:,} points in {result['seed_s']:.1f} s")
    command, env = server_command("mlflow", python.parent, workdir, 1)
    with started_server("MLflow", command, env, workdir) as url:
        result["version"] = server_version(url)
        waits = [("first_row", MLFLOW_ROWS, 1), ("first_page", MLFLOW_ROWS, min(MLFLOW_PAGE, runs * 9 // 10))]
        table_url = f"{url}/#/experiments/{seeded['experiment_id']}/runs"
        result["table"] = repeat(lambda: page_times(browser, table_url, waits), repeats)
        log(f"MLflow: runs table at {runs:,} runs: {summary(result['table'])}")
        if points:
            query = "&".join(
                f"{k}={quote(v)}"
                for k, v in (
                    ("runs", json.dumps([seeded["big_run_id"]])),
                    ("experiments", json.dumps([seeded["experiment_id"]])),
                    ("plot_metric_keys", json.dumps(["loss"])),
                    ("plot_layout", "{}"),
                    ("x_axis", "step"),
                    ("y_axis_scale", "linear"),
                    ("line_smoothness", "1"),
                    ("show_point", "false"),
                    ("deselected_curves", "[]"),
                    ("last_linear_y_axis_range", "[]"),
                )
            )
            chart_url = f"{url}/#/metric/loss?{query}"
            try:
                result["chart"] = repeat(
                    lambda: page_times(browser, chart_url, [("total", MLFLOW_LINE, 1)], 60_000), repeats
                )
                log(f"MLflow: chart of {points:,} points: {summary(result['chart'])}")
            except Exception as exc:  # optional: report why instead of losing the table's figures
                result["chart_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                log(f"MLflow chart failed: {result['chart_error']}")
    return result


def summary(figures: dict[str, dict[str, Any]]) -> str:
    shown = {k: v for k, v in figures.items() if k != "max_results"}
    return ", ".join(f"{k} best {v['best']:.0f} ms / median {v['median']:.0f} ms" for k, v in shown.items())


# -- report ------------------------------------------------------------------------------------------
def cell(figures: dict[str, Any] | None, part: str, key: str) -> tuple[str, float | None]:
    if not figures or part not in figures or key not in figures[part]:
        return "—", None
    value = figures[part][key]
    return f"{value['best']:,.0f} / {value['median']:,.0f} ms", value["median"]


def table(ours: list[dict[str, Any]], theirs: dict[str, Any] | None) -> list[str]:
    lines = [
        "| measure | prefect-mltrack (best / median) | MLflow (best / median) | ours vs MLflow (median) |",
        "|---|---:|---:|---:|",
    ]
    for result in ours:
        n = result["runs"]
        same = theirs if theirs and theirs["runs"] == n else None
        for key, label in (("first_row", "first row"), ("first_page", "first page (ours 100 rows, MLflow 90)")):
            a, av = cell(result, "table", key)
            b, bv = cell(same, "table", key)
            ratio = f"{bv / av:.1f}x" if av and bv else "—"
            lines.append(f"| runs table, {n:,} runs: {label} | {a} | {b} | {ratio} |")
    for result in ours:
        if "chart" not in result:
            continue
        p = result["points"]
        same = theirs if theirs and theirs.get("points") == p else None
        for key, label in (("total", "navigation to drawn"), ("fetch", "history request"), ("draw", "draw")):
            a, av = cell(result, "chart", key)
            b, bv = cell(same, "chart", key) if key == "total" else ("—", None)
            ratio = f"{bv / av:.1f}x" if av and bv else "—"
            lines.append(f"| metric chart, {p:,} points: {label} | {a} | {b} | {ratio} |")
        break
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 runs, 100,000 points, no MLflow")
    parser.add_argument("--runs", help="comma-separated run counts for our table (default 10000,100000)")
    parser.add_argument("--points", type=int, help="points of the charted run (default 1,000,000)")
    parser.add_argument("--mlflow-runs", type=int, help="runs on MLflow's side (default: the first of --runs)")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-chart", action="store_true", help="also seed and time MLflow's metric page")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mlflow-python", help="interpreter with mlflow installed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.runs or ("1000" if args.quick else "10000,100000")).split(",")]
    points = args.points if args.points is not None else (100_000 if args.quick else 1_000_000)
    skip_mlflow = args.skip_mlflow or args.quick
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "browser": CHROMIUM,
        "viewport": VIEWPORT,
        "repeats": args.repeats,
        "notes": [],
    }
    ours: list[dict[str, Any]] = []
    theirs: dict[str, Any] | None = None
    with ExitStack() as stack:
        browser = stack.enter_context(chromium())
        report["browser_version"] = browser.version
        for k, n in enumerate(sizes):
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mltrack-ui-bench-")))
            # The chart's run rides along with the first size only (its history does not depend on N).
            ours.append(bench_ours(browser, n, points if k == 0 else 0, args.repeats, workdir))
            report["loadavg_after_ours_" + str(n)] = os.getloadavg()
        if not skip_mlflow:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mltrack-ui-bench-mlflow-")))
            n = args.mlflow_runs or sizes[0]
            try:
                python = mlflow_python(args.mlflow_python)
                theirs = bench_mlflow(browser, python, n, points if args.mlflow_chart else 0, args.repeats, workdir)
                if "chart_error" in theirs:
                    report["notes"].append(f"MLflow's metric page: {theirs['chart_error']}")
            except Exception as exc:  # MLflow's figures are optional: keep ours
                report["notes"].append(f"MLflow side failed: {type(exc).__name__}: {str(exc)[:500]}")
                log(report["notes"][-1])
            if theirs and n not in sizes:
                report["notes"].append(f"MLflow ran at {n:,} runs, ours at {sizes}: no ratio for the table")
    report.update(ours=ours, mlflow=theirs, elapsed_s=time.perf_counter() - started)
    report["machine"]["loadavg_end"] = os.getloadavg()
    load = report["machine"]["loadavg_start"][0]
    header = (
        f"prefect-mltrack {ours[0].get('version', '?') if ours else '?'} vs MLflow "
        f"{theirs.get('version', '?') if theirs else '(not run)'}; Chromium {report['browser_version']} headless, "
        f"1280x800, fresh context per measurement, best / median of {args.repeats}; {os.cpu_count()} CPUs, "
        f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )
    print("\n".join([header, "", *table(ours, theirs), "", "Notes: " + ("; ".join(report["notes"]) or "none")]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    log(f"done in {report['elapsed_s']:.0f} s; figures in {args.output}")


if __name__ == "__main__":
    main()
