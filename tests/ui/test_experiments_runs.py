"""The experiments list, runs table and run page in headless Chromium, against a real seeded server.

Each test drives the page the way a user would (clicks, typing, keys) and checks the result on the
page and, for changes, through the REST API. Screenshots of the three views go to ``docs/img``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from seed_runs import BULK_RUNS, PREFECT_URL, Seeded, screenshot_dir, seed

if TYPE_CHECKING:
    from conftest import UIServer
    from playwright.sync_api import Locator, Page

expect = pytest.importorskip("playwright.sync_api").expect
DOCS_IMG = screenshot_dir()


@pytest.fixture(scope="module")
def seeded(ui_server: UIServer, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLTRACK_HOME", str(tmp_path_factory.mktemp("seed-home")))
        return seed(ui_server, tmp_path_factory.mktemp("seed-files"))


def rows(page: Page) -> Locator:
    return page.locator("table.runs-table tbody tr[data-run-id]")


def run_names(page: Page) -> list[str]:
    return rows(page).locator("td.run-name a").all_inner_texts()


def metric_cells(page: Page, key: str) -> list[float]:
    texts = page.locator(f'table.runs-table tbody td[data-col="metrics:{key}"]').all_inner_texts()
    return [float(t) for t in texts if t.strip()]


def screenshot(page: Page, name: str) -> None:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / name))


def test_experiments_list_counts_create_rename_delete(
    ui_server: UIServer, seeded: Seeded, page: Page, console_errors: list[str]
) -> None:
    page.goto(ui_server.page_url("#/experiments"))
    main_row = page.locator("tbody tr", has=page.get_by_role("link", name="ui-main", exact=True))
    expect(main_row.locator('td[data-col="runs"]')).to_contain_text(str(BULK_RUNS + 5))  # bulk + tree of 4 + live
    expect(main_row.locator('td[data-col="runs"]')).to_contain_text("1 running")
    other_row = page.locator("tbody tr", has=page.get_by_role("link", name="ui-other", exact=True))
    expect(other_row.locator('td[data-col="runs"]')).to_have_text("3")
    screenshot(page, "ui-experiments.png")

    page.get_by_role("button", name="Create experiment").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("made-in-browser")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("link", name="made-in-browser", exact=True)).to_be_visible()
    created = ui_server.api("experiments/get-by-name", params={"experiment_name": "made-in-browser"})["experiment"]

    # A duplicate name: the server's message shows in the dialog, which stays open.
    page.get_by_role("button", name="Create experiment").click()
    page.get_by_role("dialog").get_by_label("Name").fill("ui-main")
    page.get_by_role("dialog").get_by_role("button", name="Create").click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("ui-main")
    expected_400 = [e for e in console_errors if "status of 400" in e]
    assert len(expected_400) == 1  # the refused create, which the dialog showed
    console_errors.remove(expected_400[0])
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("button", name="Rename experiment made-in-browser").click()
    page.get_by_role("dialog").get_by_label("New name").fill("renamed-in-browser")
    page.get_by_role("dialog").get_by_role("button", name="Rename").click()
    expect(page.get_by_role("link", name="renamed-in-browser", exact=True)).to_be_visible()
    experiment = ui_server.api("experiments/get", params={"experiment_id": created["experiment_id"]})["experiment"]
    assert experiment["name"] == "renamed-in-browser"

    page.get_by_role("button", name="Delete experiment renamed-in-browser").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("link", name="renamed-in-browser", exact=True)).to_have_count(0)
    experiment = ui_server.api("experiments/get", params={"experiment_id": created["experiment_id"]})["experiment"]
    assert experiment["lifecycle_stage"] == "deleted"

    # "/" focuses the search box; the search filters by name.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search experiments by name")
    expect(search).to_be_focused()
    page.keyboard.type("ui-")
    expect(page.locator("tbody tr")).to_have_count(2)

    page.get_by_role("checkbox", name="Select experiment ui-main").check()
    page.get_by_role("checkbox", name="Select experiment ui-other").check()
    page.get_by_role("button", name="Compare runs of selected").click()
    expect(page).to_have_url(re.compile(rf"#/experiments\?ids={seeded.experiment_id},{seeded.other_experiment_id}$"))
    expect(page.get_by_role("heading", name="Runs of ui-main, ui-other")).to_be_visible()
    expect(page.get_by_role("button", name="Sort by Experiment")).to_be_visible()


def test_runs_table_pages_sorts_filters_and_chooses_columns(ui_server: UIServer, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url(f"#/experiments/{seeded.experiment_id}"))
    expect(rows(page)).to_have_count(100)
    first_page = run_names(page)
    assert first_page[:2] == ["live-run", "featured-run"]  # newest first; children stay inside the tree
    assert "child-run" not in first_page

    page.get_by_role("button", name="Next page").click()
    expect(rows(page)).to_have_count(BULK_RUNS + 2 - 100)
    second_page = run_names(page)
    assert not set(first_page) & set(second_page)
    assert second_page[-1] == "bulk-000"
    page.get_by_role("button", name="Previous page").click()
    expect(rows(page).first.locator("td.run-name a")).to_have_text("live-run")

    page.get_by_role("button", name="Sort by metric acc").click()
    expect(page.locator("th[aria-sort='descending']")).to_contain_text("acc")
    best = max(seeded.bulk_acc, key=lambda name: seeded.bulk_acc[name])
    expect(rows(page).first.locator("td.run-name a")).to_have_text(best)
    values = metric_cells(page, "acc")
    assert values == sorted(values, reverse=True) and len(values) == 100
    page.get_by_role("button", name="Sort by metric acc").click()
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("acc")
    values = metric_cells(page, "acc")
    assert values == sorted(values) and values[0] == 0.0

    search = page.get_by_role("searchbox", name=re.compile("Search runs"))
    search.fill("metrics.acc > 0.5")
    search.press("Enter")
    expected = sum(1 for acc in seeded.bulk_acc.values() if acc > 0.5) + 1  # + featured-run (0.8)
    expect(rows(page)).to_have_count(expected)
    assert all(v > 0.5 for v in metric_cells(page, "acc"))
    assert "q=metrics.acc" in page.url

    search.fill("bulk-14")
    search.press("Enter")
    expect(rows(page)).to_have_count(10)
    assert sorted(run_names(page)) == [f"bulk-14{i}" for i in range(10)]

    search.fill("metrics.acc >")
    search.press("Enter")
    expect(page.locator("#runs-filter-error")).to_contain_text("metrics.acc")
    expect(rows(page)).to_have_count(10)  # the last good search stays shown

    page.locator("details.chooser > summary").click()
    page.locator("fieldset", has_text="Tags").get_by_role("checkbox", name="team").check()
    expect(page.get_by_role("button", name="Sort by tag team")).to_be_visible()
    assert "t=team" in page.url
    page.reload()  # a deep link keeps the columns and the search
    expect(page.get_by_role("button", name="Sort by tag team")).to_be_visible()
    expect(rows(page)).to_have_count(10)
    expect(page.locator('td[data-col="tags:team"]').first).to_have_text(re.compile("vision|nlp"))


def test_runs_tree_expands_at_any_depth_and_live_updates(ui_server: UIServer, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url(f"#/experiments/{seeded.experiment_id}"))
    for name in ("featured-run", "child-run", "grandchild-run"):
        page.get_by_role("button", name=f"Expand child runs of {name}").click()
    deepest = page.locator(f'tr[data-run-id="{seeded.chain[-1]}"]')
    expect(deepest).to_have_attribute("data-depth", "3")
    expect(deepest.locator("td.run-name a")).to_have_text("great-grandchild-run")
    page.get_by_role("checkbox", name="Select run child-run").check()
    screenshot(page, "ui-runs.png")

    # The RUNNING run gets a new value through the API: the page shows it without a reload,
    # and keeps the open tree and the selection.
    ui_server.api(
        "runs/log-metric",
        "POST",
        json={"run_id": seeded.running_run_id, "key": "acc", "value": 0.99, "timestamp": 1, "step": 5},
    )
    live_acc = page.locator(f'tr[data-run-id="{seeded.running_run_id}"] td[data-col="metrics:acc"]')
    expect(live_acc).to_have_text("0.99", timeout=8000)
    expect(deepest).to_be_visible()
    expect(page.get_by_role("checkbox", name="Select run child-run")).to_be_checked()

    # Enter on a focused row opens the run; collapse hides the subtree.
    page.get_by_role("button", name="Collapse child runs of featured-run").click()
    expect(deepest).to_have_count(0)
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(rf"#/compare-runs\?runs={seeded.chain[1]}$"))


def test_runs_delete_restore_and_open_with_enter(ui_server: UIServer, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url(f"#/experiments/{seeded.experiment_id}"))
    victim = page.locator("tr[data-run-id]", has=page.get_by_role("link", name="bulk-149", exact=True))
    run_id = victim.get_attribute("data-run-id")
    page.get_by_role("checkbox", name="Select run bulk-149").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(victim).to_have_count(0)
    assert ui_server.api("runs/get", params={"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "deleted"

    page.get_by_role("combobox", name="Which runs").select_option("deleted")
    expect(rows(page)).to_have_count(1)
    page.get_by_role("checkbox", name="Select run bulk-149").check()
    page.get_by_role("button", name="Restore").click()
    page.get_by_role("dialog").get_by_role("button", name="Restore").click()
    expect(rows(page)).to_have_count(0)
    assert ui_server.api("runs/get", params={"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "active"

    page.get_by_role("combobox", name="Which runs").select_option("active")
    first = rows(page).first
    first.focus()
    page.keyboard.press("j")  # next row
    expect(rows(page).nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/runs/{seeded.featured_run_id}$"))
    expect(page.get_by_role("heading", name="featured-run")).to_be_visible()


def test_run_page_shows_data_lineage_and_edits_description(ui_server: UIServer, seeded: Seeded, page: Page) -> None:
    run_url = f"#/experiments/{seeded.experiment_id}/runs/{seeded.featured_run_id}"
    page.goto(ui_server.page_url(run_url))
    expect(page.get_by_role("heading", name="featured-run")).to_be_visible()
    expect(page.get_by_role("table", name="Parameters")).to_contain_text("optimizer")
    expect(page.locator('tr[data-metric="acc"] td[data-field="value"]')).to_have_text("0.8")
    expect(page.get_by_role("link", name="acc", exact=True)).to_have_attribute(
        "href", f"#/metric/acc?runs={seeded.featured_run_id}"
    )
    expect(page.get_by_role("table", name="Tags")).to_contain_text("team")

    page.get_by_role("button", name="Edit description").click()
    page.get_by_role("textbox", name="Description").fill("Tuned <b>depth</b>\nsecond line")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".description-text")).to_have_text("Tuned <b>depth</b>\nsecond line")
    assert page.locator(".description-text b").count() == 0  # shown as text, never as markup
    tags = {
        t["key"]: t["value"]
        for t in ui_server.api("runs/get", params={"run_id": seeded.featured_run_id})["run"]["data"]["tags"]
    }
    assert tags["mlflow.note.content"] == "Tuned <b>depth</b>\nsecond line"

    lineage = page.get_by_role("region", name="Lineage")
    expect(lineage.get_by_role("link", name="child-run")).to_be_visible()
    expect(lineage.get_by_role("link", name=re.compile("5d0c6f0e"))).to_have_attribute("href", PREFECT_URL)
    expect(lineage.get_by_role("link", name="ui-seed-model v1")).to_have_attribute(
        "href", "#/models/ui-seed-model/versions/1"
    )

    page.get_by_role("button", name="History of acc").click()
    expect(page.locator(".history-chart canvas").first).to_be_visible()

    artifacts = page.get_by_role("navigation", name="Artifact tree")
    preview = page.locator(".artifact-preview")
    artifacts.get_by_role("button", name=re.compile("^notes.txt")).click()
    expect(preview.locator("pre")).to_have_text("plain notes about this run\n")
    expect(page).to_have_url(re.compile(r"/artifacts/notes\.txt$"))

    artifacts.get_by_role("button", name=re.compile("^config.json")).click()
    expect(preview.locator("pre[data-kind='json']")).to_contain_text('"seed": 42')
    assert '\n  "model": {' in preview.locator("pre").inner_text()  # pretty-printed

    artifacts.get_by_role("button", name=re.compile("^scores.csv")).click()
    csv = preview.get_by_role("table", name="CSV preview")
    expect(csv.locator("tbody tr")).to_have_count(3)
    expect(csv.locator("tbody tr").nth(2).locator("td").first).to_have_text("gamma, the third")

    artifacts.get_by_role("button", name="plots/").click()
    artifacts.get_by_role("button", name=re.compile("^plot.png")).click()
    image = preview.get_by_role("img", name="Image artifact plot.png")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('.artifact-image')?.naturalWidth === 8")

    artifacts.get_by_role("button", name=re.compile("^report.html")).click()
    expect(preview.locator("pre")).to_contain_text('<iframe src="https://example.com">')
    assert page.locator("iframe").count() == 0 and page.locator("#evil").count() == 0
    artifacts.get_by_role("button", name=re.compile("^figure.svg")).click()
    expect(preview.locator("pre")).to_contain_text('<svg xmlns="http://www.w3.org/2000/svg" id="evil-svg"')
    assert page.locator("#evil-svg").count() == 0 and page.locator(".artifact-preview svg").count() == 0

    download = preview.get_by_role("link", name="Download")
    assert "artifacts/download" in (download.get_attribute("href") or "")

    # Deep link straight to the model's MLmodel file: a structured summary.
    page.goto(ui_server.page_url(f"{run_url}/artifacts/model/MLmodel"))
    summary = page.locator(".mlmodel-summary")
    expect(summary.locator(".load-snippet")).to_contain_text(
        f'prefect_mltrack.pyfunc.load_model("runs:/{seeded.featured_run_id}/model")'
    )
    expect(summary.locator(".flavor h4")).to_have_text(["python_function", "sklearn"])
    expect(summary.get_by_role("table", name="Signature inputs")).to_contain_text("float64")
    expect(artifacts.get_by_role("button", name=re.compile("^MLmodel"))).to_have_attribute("aria-current", "true")
    page.reload()  # a clean page (no toast) for the screenshot
    expect(page.locator(".mlmodel-summary .load-snippet")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "ui-run.png")


def test_child_run_links_parent_and_running_run_updates_live(ui_server: UIServer, seeded: Seeded, page: Page) -> None:
    page.goto(ui_server.page_url(f"#/experiments/{seeded.experiment_id}/runs/{seeded.chain[2]}"))
    lineage = page.get_by_role("region", name="Lineage")
    expect(lineage.locator("a[data-lineage='parent']")).to_have_text("child-run")
    expect(lineage.get_by_role("list", name="Child runs")).to_contain_text("great-grandchild-run")

    page.goto(ui_server.page_url(f"#/experiments/{seeded.experiment_id}/runs/{seeded.running_run_id}"))
    expect(page.get_by_text("RUNNING", exact=True).first).to_be_visible()
    ui_server.api(
        "runs/log-metric",
        "POST",
        json={"run_id": seeded.running_run_id, "key": "live_loss", "value": 0.125, "timestamp": 2, "step": 1},
    )
    expect(page.locator('tr[data-metric="live_loss"] td[data-field="value"]')).to_have_text("0.125", timeout=8000)
    ui_server.api("runs/update", "POST", json={"run_id": seeded.running_run_id, "status": "FINISHED", "end_time": 3})
    expect(page.locator(".page-header .badge")).to_have_text("FINISHED", timeout=8000)


def test_missing_page_and_keyboard_help(ui_server: UIServer, page: Page) -> None:
    page.goto(ui_server.page_url("#/no-such-view"))
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    page.keyboard.press("e")
    expect(page).to_have_url(re.compile(r"#/experiments$"))
    expect(page.get_by_role("link", name="Experiments", exact=True)).to_have_attribute("aria-current", "page")
