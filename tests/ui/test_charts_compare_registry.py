"""The metric chart, compare and registry pages in headless Chromium, on real seeded data.

Seeded once per module into the server's own SQLite database: three finished runs (params, a 300-step
``loss`` history with one NaN, latest metrics) each logging a scikit-learn model registered as
versions 1-3 of ``IrisClassifier``; version 1 carries the tag the deploy flow writes and the
``champion`` alias, version 2 is in Staging; a RUNNING run; and a run with a million ``loss``
points written straight through the server's store.

Charts are checked through the ECharts instance (``echarts.getInstanceByDom(el).getOption()``);
registry changes made on the page are checked through the REST API.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from seed_runs import screenshot_dir

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MODEL = "IrisClassifier"
DEPLOYED_URL = "http://127.0.0.1:8089"
BIG_POINTS = 1_000_000
SPIKE = 25.0
OPTIMIZER = "<b>adam</b>"  # user strings are shown as text, never parsed as HTML
DOCS_IMG = screenshot_dir()
OPTION = "echarts.getInstanceByDom(document.querySelector({sel!r})).getOption()"


@dataclass
class Seeded:
    run_ids: list[str] = field(default_factory=list)  # lr-0.1, lr-0.01, lr-0.001 → versions 1, 2, 3
    running_run_id: str = ""
    big_run_id: str = ""


def _seed_runs_and_models(tracking_uri: str, out: Seeded) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import prefect_mltrack as mlt
    import prefect_mltrack.sklearn
    from prefect_mltrack.client import MlflowClient
    from prefect_mltrack.deploy import DEPLOYED_TAG
    from prefect_mltrack.entities import Metric

    mlt.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = mlt.set_experiment("ui-charts").experiment_id
    features, labels = load_iris(return_X_y=True)
    base = 1_700_000_000_000
    for lr, depth in [(0.1, 3), (0.01, 3), (0.001, 5)]:
        with mlt.start_run(run_name=f"lr-{lr}") as run:
            mlt.log_params({"lr": lr, "max_depth": depth, "optimizer": OPTIMIZER})
            points = [
                Metric(
                    key="loss",
                    value=math.exp(-lr * 60 * s / 300) + 0.05 * math.sin(s),
                    timestamp=base + s * 1000,
                    step=s,
                )
                for s in range(300)
            ]
            if lr == 0.01:
                points[150] = Metric(
                    key="loss", value=float("nan"), timestamp=base + 150_000, step=150
                )  # must be skipped, not drawn
            client.log_batch(run.info.run_id, points, synchronous=True)
            model = LogisticRegression(C=lr * 10, max_iter=300).fit(features, labels)
            mlt.log_metrics({"accuracy": float(model.score(features, labels)), "val_loss": 1.0 / (1 + lr)})
            prefect_mltrack.sklearn.log_model(
                model, name="model", registered_model_name=MODEL, input_example=features[:3]
            )
            out.run_ids.append(run.info.run_id)
    # Version 1 is deployed the way the deploy flow records it; @champion points at it; v2 is in Staging.
    client.set_model_version_tag(MODEL, "1", DEPLOYED_TAG, DEPLOYED_URL)
    client.set_registered_model_alias(MODEL, "champion", "1")
    client.transition_model_version_stage(MODEL, "2", "Staging")
    live = client.create_run(experiment_id, run_name="live")
    out.running_run_id = live.info.run_id
    client.log_batch(
        out.running_run_id,
        [Metric(key="loss", value=1.0 / (s + 1), timestamp=base + s * 1000, step=s) for s in range(50)],
        synchronous=True,
    )


def _seed_million(store: Any, experiment_id: str, out: Seeded) -> None:
    """A million points through the server's own store: 1000 log_batch calls of 1000 points."""
    from prefect_mltrack.entities import Metric, RunStatus
    from prefect_mltrack.entities._base import trusted_many

    base = 1_700_000_000_000
    run = store.create_run(experiment_id, run_name="million", start_time=base)
    out.big_run_id = run.info.run_id
    spike_at = BIG_POINTS * 7 // 9
    for start in range(0, BIG_POINTS, 1000):
        rows = [
            {
                "key": "loss",
                "value": SPIKE if i == spike_at else math.sin(i / 5000),
                "timestamp": base + i,
                "step": i,
                "run_id": None,
            }
            for i in range(start, start + 1000)
        ]
        store.log_batch(out.big_run_id, trusted_many(Metric, rows))  # entities built unvalidated: seeding speed
    store.update_run_info(out.big_run_id, RunStatus.FINISHED, end_time=base + BIG_POINTS)


@pytest.fixture(scope="module")
def seeded(ui_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    from prefect_mltrack import fluent, settings

    out = Seeded()
    with pytest.MonkeyPatch.context() as patch:
        # Module-scoped: runs before the per-test isolated MLTRACK_HOME, so give seeding its own.
        patch.setenv("MLTRACK_HOME", str(tmp_path_factory.mktemp("seed-home")))
        try:
            # The server's own database, shared with it (SQLite in WAL mode): the same rows a client
            # of the REST API would write, without a round trip per call.
            _seed_runs_and_models(ui_server.config.backend_store_uri, out)
            experiment_id = ui_server.store.get_run(out.run_ids[0]).info.experiment_id
            _seed_million(ui_server.store, experiment_id, out)
        finally:
            settings.set_tracking_uri(None)
            fluent._reset_for_tests()
    yield out


# -- helpers ---------------------------------------------------------------------------------------
def _option(page: Page, selector: str = ".mt-chart") -> dict[str, Any]:
    return page.evaluate(f"() => {OPTION.format(sel=selector)}")  # type: ignore[no-any-return]


def _open_chart(page: Page, url: str) -> dict[str, str]:
    """Open a metric chart and wait for its first full render; returns the chart element's timings."""
    page.goto(url)
    page.wait_for_selector(".mt-chart[data-finished-at]", timeout=30_000)
    return page.eval_on_selector(".mt-chart", "el => ({...el.dataset})")  # type: ignore[no-any-return]


def _metric_url(ui_server: Any, run_ids: list[str], extra: str = "", key: str = "loss") -> str:
    return ui_server.page_url(f"#/metric/{key}?runs={','.join(run_ids)}{extra}")


# -- metric chart ----------------------------------------------------------------------------------
def test_metric_chart_draws_one_series_per_run_and_follows_its_controls(
    ui_server: Any, seeded: Seeded, page: Page
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    _open_chart(page, _metric_url(ui_server, seeded.run_ids))
    option = _option(page)
    assert [s["name"] for s in option["series"]] == ["lr-0.1", "lr-0.01", "lr-0.001"]
    assert [len(s["data"]) for s in option["series"]] == [300, 299, 300]  # the NaN point is skipped
    assert option["xAxis"][0]["type"] == "value" and option["xAxis"][0]["name"] == "Step"
    raw = option["series"][0]["data"][40][1]

    page.get_by_label("X axis").select_option("relative")
    option = _option(page)
    assert option["xAxis"][0]["name"] == "Time (relative)"
    assert option["series"][0]["data"][10][0] == pytest.approx(10.0)  # seconds since the run started
    page.get_by_label("X axis").select_option("wall")
    assert _option(page)["xAxis"][0]["type"] == "time"

    page.get_by_label("Log scale").check()
    assert _option(page)["yAxis"][0]["type"] == "log"

    page.locator("input[name=smoothing]").fill("0.9")
    smoothed = _option(page)["series"][0]["data"][40][1]
    assert smoothed != pytest.approx(raw, abs=1e-6)
    assert "x=wall" in page.url and "log=1" in page.url and "smooth=0.9" in page.url

    # The URL is a deep link: opened afresh, the page comes back with the same settings.
    deep_link = page.url
    page.goto("about:blank")
    _open_chart(page, deep_link)
    assert page.get_by_label("X axis").input_value() == "wall"
    assert page.locator("input[name=smoothing]").input_value() == "0.9"

    _open_chart(page, _metric_url(ui_server, seeded.run_ids, "&x=relative&log=1&smooth=0.6"))
    assert page.get_by_label("X axis").input_value() == "relative"
    assert page.get_by_label("Log scale").is_checked()
    option = _option(page)
    assert option["yAxis"][0]["type"] == "log" and option["xAxis"][0]["name"] == "Time (relative)"
    page.get_by_label("Log scale").uncheck()
    assert _option(page)["yAxis"][0]["type"] == "value" and "log=" not in page.url
    page.screenshot(path=str(_docs_img("ui-chart.png")))
    # Everything, ECharts included, came from our server: the page works with no internet.
    assert f"{ui_server.url}/static-files/vendor/echarts.min.js" in requests
    assert [url for url in requests if not url.startswith((ui_server.url, "about:", "data:", "blob:"))] == []


def test_metric_picker_lists_the_runs_metrics(ui_server: Any, seeded: Seeded, page: Page) -> None:
    _open_chart(page, _metric_url(ui_server, seeded.run_ids))
    choices = page.locator("select[name=metric] option").all_inner_texts()
    assert {"loss", "accuracy", "val_loss"} <= set(choices)
    page.get_by_label("Metric").select_option("accuracy")
    page.wait_for_url("**/#/metric/accuracy?**")
    page.wait_for_selector(".mt-chart[data-finished-at]")
    assert [len(s["data"]) for s in _option(page)["series"]] == [1, 1, 1]


def test_a_million_point_history_renders_downsampled_with_its_spike(
    ui_server: Any, seeded: Seeded, page: Page, record_property: Any
) -> None:
    started = time.perf_counter()
    timings = _open_chart(page, _metric_url(ui_server, [seeded.big_run_id]))
    seconds = time.perf_counter() - started
    record_property("million_points_open_to_finished_s", round(seconds, 3))
    record_property("million_points_fetch_ms", timings["fetchMs"])
    record_property("million_points_draw_ms", timings["drawMs"])
    print(
        f"1,000,000 points: page open → chart finished {seconds:.2f} s "
        f"(bulk-interval fetch {timings['fetchMs']} ms, draw {timings['drawMs']} ms)"
    )
    data = _option(page)["series"][0]["data"]
    assert 100 < len(data) <= int(timings["maxResults"]) + 1
    assert max(y for _, y in data) == SPIKE  # the one extreme point survives downsampling
    assert seconds < 10, f"the million-point chart took {seconds:.1f} s"


def test_running_runs_refresh_live(ui_server: Any, seeded: Seeded, page: Page) -> None:
    from prefect_mltrack.entities import Metric

    _open_chart(page, _metric_url(ui_server, [seeded.running_run_id]))
    assert len(_option(page)["series"][0]["data"]) == 50
    ui_server.store.log_batch(
        seeded.running_run_id,
        [Metric(key="loss", value=0.001, timestamp=1_700_000_100_000 + s, step=50 + s) for s in range(25)],
    )
    page.wait_for_function(f"() => {OPTION.format(sel='.mt-chart')}.series[0].data.length === 75", timeout=10_000)


# -- compare ---------------------------------------------------------------------------------------
def test_compare_highlights_differences_and_draws_parallel_and_scatter(
    ui_server: Any, seeded: Seeded, page: Page
) -> None:
    page.goto(ui_server.page_url(f"#/compare-runs?runs={','.join(seeded.run_ids)}"))
    table = page.locator(".mt-compare-table")
    table.wait_for()
    assert table.locator("tr[data-key='params.lr'] td.mt-diff").count() == 3
    optimizer = table.locator("tr[data-key='params.optimizer']")
    assert optimizer.locator("td.mt-diff").count() == 0
    assert optimizer.locator("td").first.inner_text() == OPTIMIZER and table.locator("b").count() == 0
    for run_id in seeded.run_ids:
        assert table.locator(f"thead a[href*='{run_id}']").count() == 1
    page.get_by_label("Show differences only").check()
    assert table.locator("tr[data-key='params.optimizer']").is_hidden()
    assert table.locator("tr[data-key='params.lr']").is_visible()

    page.wait_for_function(f"() => {OPTION.format(sel='[data-chart=parallel]')}.parallelAxis.length > 0")
    parallel = _option(page, "[data-chart=parallel]")
    axes = {a["name"]: a["type"] for a in parallel["parallelAxis"]}
    assert axes["lr"] == "value" and axes["max_depth"] == "value" and axes["accuracy"] == "value"
    assert "optimizer" not in axes  # the same in every run: not an axis by default
    assert len(parallel["series"][0]["data"]) == 3
    assert parallel["visualMap"][0]["dimension"] == list(axes).index("accuracy")
    page.get_by_role("checkbox", name="param: optimizer").check()  # a text column becomes a category axis
    axes = {a["name"]: a for a in _option(page, "[data-chart=parallel]")["parallelAxis"]}
    assert axes["optimizer"]["type"] == "category" and axes["optimizer"]["data"] == [OPTIMIZER]

    scatter = _option(page, "[data-chart=scatter]")
    assert (scatter["xAxis"][0]["name"], scatter["yAxis"][0]["name"]) == ("lr", "accuracy")
    page.get_by_label("Y", exact=True).select_option("metrics.val_loss")
    scatter = _option(page, "[data-chart=scatter]")
    assert scatter["yAxis"][0]["name"] == "val_loss" and len(scatter["series"][0]["data"]) == 3
    page.get_by_label("Show differences only").uncheck()
    page.screenshot(path=str(_docs_img("ui-compare.png")))


# -- registry --------------------------------------------------------------------------------------
def test_registry_list_search_and_model_page(ui_server: Any, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url("#/models"))
    row = page.locator(f"tr[data-model='{MODEL}']")
    row.wait_for()
    assert "Version 3" in row.inner_text() and "@champion" in row.inner_text()
    page.get_by_label("Search models by name").fill("nothing-like-this")
    page.keyboard.press("Enter")
    page.get_by_text("No model name contains").wait_for()
    page.get_by_label("Search models by name").fill("iris")
    page.keyboard.press("Enter")
    row.wait_for()

    row.focus()
    page.keyboard.press("Enter")  # the shell opens the focused row
    versions = page.locator(".mt-versions-table tbody tr")
    versions.first.wait_for()
    assert versions.count() == 3
    v1 = page.locator(".mt-versions-table tr[data-version='1']")
    assert DEPLOYED_URL in v1.inner_text() and f"/models/{MODEL}/invocations" in v1.inner_text()
    assert "@champion" in v1.inner_text()
    assert "Staging" in page.locator(".mt-versions-table tr[data-version='2']").inner_text()
    source = v1.locator("a.mt-run-link")
    assert source.inner_text() == "lr-0.1" and seeded.run_ids[0] in (source.get_attribute("href") or "")
    page.screenshot(path=str(_docs_img("ui-registry.png")))


def test_stage_transition_from_the_page_is_visible_through_the_api(ui_server: Any, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url(f"#/models/{MODEL}/versions/3"))
    page.get_by_label("New stage").select_option("Staging")
    page.get_by_role("button", name="Transition…").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    page.keyboard.press("Escape")  # cancelled: nothing changes
    dialog.wait_for(state="detached")
    assert _version(ui_server, "3")["current_stage"] == "None"

    page.get_by_role("button", name="Transition…").click()
    dialog.get_by_label("Archive the versions now in Staging").check()
    dialog.get_by_role("button", name="Move to Staging").click()
    page.locator(".mt-details .mt-stage-staging").wait_for()
    assert _version(ui_server, "3")["current_stage"] == "Staging"
    assert _version(ui_server, "2")["current_stage"] == "Archived"  # archive_existing_versions was sent
    # The signature comes from the MLmodel file in the source run's artifacts.
    page.locator("[aria-label=Signature]").get_by_text("tensor float64 [-1,4]").wait_for()


def test_alias_changes_from_the_page_are_visible_through_the_api(ui_server: Any, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url(f"#/models/{MODEL}/versions/2"))
    page.get_by_label("Alias", exact=True).fill("champion")
    page.get_by_role("button", name="Set alias").click()
    dialog = page.get_by_role("dialog")
    assert "moves from version 1 to version 2" in dialog.inner_text()
    dialog.get_by_role("button", name="Move alias").click()
    page.get_by_role("button", name="Remove alias champion").wait_for()
    assert _alias_version(ui_server, "champion") == "2"

    page.get_by_role("button", name="Remove alias champion").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove alias").click()
    page.get_by_text("No aliases.").wait_for()
    assert _alias_version(ui_server, "champion") is None


# -- API checks ------------------------------------------------------------------------------------
def _version(ui_server: Any, version: str) -> dict[str, Any]:
    return ui_server.api("model-versions/get", params={"name": MODEL, "version": version})["model_version"]  # type: ignore[no-any-return]


def _alias_version(ui_server: Any, alias: str) -> str | None:
    aliases = ui_server.api("registered-models/get", params={"name": MODEL})["registered_model"].get("aliases", [])
    return next((a["version"] for a in aliases if a["alias"] == alias), None)


def _docs_img(name: str) -> Path:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    return DOCS_IMG / name
