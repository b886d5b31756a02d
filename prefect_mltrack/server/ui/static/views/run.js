// Run page (#/experiments/:id/runs/:runId[/artifacts/<path>]): header, description, params, metrics
// (latest value, history chart, link to the metric chart), tags, lineage and the artifact browser.
// While the run is RUNNING, status and metrics refresh every 3 s.

import { api } from "../api.js";
import { live, showError, toast } from "../app.js";
import { renderArtifacts } from "./run_artifacts.js";
import {
  el, formatDuration, formatTime, formatValue, metricHref, quoteValue, runHref, runMaps, runName, safeUrl, statusBadge,
} from "./runkit.js";

const NOTE_TAG = "mlflow.note.content";
const PARENT_TAG = "mlflow.parentRunId";
const PREFECT_URL_TAG = "prefect.flow_run_url";
const PREFECT_ID_TAG = "prefect.flow_run_id";
const HISTORY_POINTS = 600;

export async function render(root, params) {
  const runId = params.runId;
  let run = (await api("runs/get", { query: { run_id: runId } })).run;
  const experimentId = run.info.experiment_id;
  const experiment = await api("experiments/get", { query: { experiment_id: experimentId } })
    .then((a) => a.experiment).catch(() => null);
  document.title = `${runName(run)} · mltrack`;

  const header = el("div");
  const description = el("section", { class: "card", "aria-label": "Description" });
  const lineage = el("section", { class: "card", "aria-label": "Lineage" });
  const paramsBox = el("section", { "aria-label": "Parameters" });
  const metricsBox = el("section", { "aria-label": "Metrics" });
  const tagsBox = el("section", { "aria-label": "Tags" });
  const artifactsBox = el("section", { "aria-label": "Artifacts" });
  const charts = new Map(); // metric key -> {chart, row}

  root.append(
    el("div", { class: "breadcrumbs" }, el("a", { href: "#/experiments" }, "Experiments"), " › ",
      el("a", { href: `#/experiments/${encodeURIComponent(experimentId)}` }, experiment ? experiment.name : experimentId)),
    header,
    el("div", { class: "grid-2" }, description, lineage),
    el("div", { class: "grid-2" }, paramsBox, metricsBox),
    tagsBox,
    artifactsBox,
  );

  // -- header --------------------------------------------------------------------------------------
  function drawHeader() {
    const info = run.info;
    const user = info.user_id || runMaps(run).tags["mlflow.user"] || "";
    header.replaceChildren(
      el("div", { class: "page-header" }, el("h1", {}, runName(run)), statusBadge(info.status)),
      el("dl", { class: "kv run-summary" },
        el("dt", {}, "Run ID"), el("dd", { class: "mono" }, info.run_id),
        el("dt", {}, "Experiment"), el("dd", {}, el("a", { href: `#/experiments/${encodeURIComponent(experimentId)}` },
          experiment ? `${experiment.name} (${experimentId})` : experimentId)),
        el("dt", {}, "Started"), el("dd", {}, formatTime(info.start_time)),
        el("dt", {}, "Ended"), el("dd", {}, info.end_time ? formatTime(info.end_time) : "—"),
        el("dt", {}, "Duration"), el("dd", { dataset: { field: "duration" } }, formatDuration(info)),
        el("dt", {}, "User"), el("dd", {}, user || "—"),
        el("dt", {}, "Lifecycle"), el("dd", {}, info.lifecycle_stage || "active"),
        el("dt", {}, "Artifact URI"), el("dd", { class: "mono" }, info.artifact_uri || "")));
  }

  // -- description -------------------------------------------------------------------------------
  function drawDescription(editing = false) {
    const text = runMaps(run).tags[NOTE_TAG] || "";
    if (!editing) {
      const edit = el("button", { type: "button", class: "btn btn-small", "aria-label": "Edit description",
        onclick: () => drawDescription(true) }, "Edit");
      description.replaceChildren(el("div", { class: "page-header" }, el("h2", {}, "Description"), edit),
        text ? el("div", { class: "description-text" }, text) : el("p", { class: "muted" }, "No description yet."));
      return;
    }
    const area = el("textarea", { "aria-label": "Description", rows: 6 });
    area.value = text;
    const save = el("button", { type: "submit", class: "btn btn-primary" }, "Save");
    const cancel = el("button", { type: "button", class: "btn", onclick: () => drawDescription(false) }, "Cancel");
    const form = el("form", { onsubmit: async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        await api("runs/set-tag", { method: "POST", body: { run_id: runId, key: NOTE_TAG, value: area.value } });
        run = (await api("runs/get", { query: { run_id: runId } })).run;
        toast("Description saved");
        drawDescription(false);
        drawTags();
      } catch (error) {
        showError(error);
        save.disabled = false;
      }
    } }, area, el("div", { class: "toolbar" }, save, cancel));
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); drawDescription(false); }
    });
    description.replaceChildren(el("h2", {}, "Description"), form);
    area.focus();
  }

  // -- lineage -----------------------------------------------------------------------------------
  async function drawLineage() {
    const tags = runMaps(run).tags;
    const items = [];
    const parentId = tags[PARENT_TAG];
    if (parentId) {
      const parent = await api("runs/get", { query: { run_id: parentId } }).then((a) => a.run).catch(() => null);
      items.push(el("dt", {}, "Parent run"), el("dd", {}, parent
        ? el("a", { href: runHref(parent.info.experiment_id, parentId), "data-lineage": "parent" }, runName(parent))
        : el("span", { class: "mono" }, `${parentId} (not found)`)));
    }
    const children = await api("runs/search", { method: "POST", body: {
      experiment_ids: [experimentId], filter: `tags.\`${PARENT_TAG}\` = ${quoteValue(runId)}`, max_results: 100,
      order_by: ["attributes.start_time ASC"] } }).then((a) => a.runs || []).catch(() => []);
    items.push(el("dt", {}, "Child runs"), el("dd", {}, children.length
      ? el("ul", { class: "plain-list", "aria-label": "Child runs" }, children.map((child) => el("li", {},
        el("a", { href: runHref(child.info.experiment_id, child.info.run_id) }, runName(child)), " ",
        statusBadge(child.info.status))))
      : el("span", { class: "muted" }, "none")));
    const flowUrl = safeUrl(tags[PREFECT_URL_TAG]);
    items.push(el("dt", {}, "Prefect flow run"), el("dd", {}, flowUrl
      ? el("a", { href: flowUrl, target: "_blank", rel: "noopener noreferrer" }, tags[PREFECT_ID_TAG] || "open ↗")
      : el("span", { class: "muted" }, tags[PREFECT_ID_TAG] || "none")));
    const versions = await api("model-versions/search", { query: { filter: `run_id=${quoteValue(runId)}`, max_results: 100 } })
      .then((a) => a.model_versions || []).catch(() => []);
    items.push(el("dt", {}, "Registered models"), el("dd", {}, versions.length
      ? el("ul", { class: "plain-list", "aria-label": "Registered model versions" }, versions.map((v) => el("li", {},
        el("a", { href: `#/models/${encodeURIComponent(v.name)}/versions/${encodeURIComponent(v.version)}` },
          `${v.name} v${v.version}`), v.current_stage && v.current_stage !== "None" ? ` (${v.current_stage})` : "")))
      : el("span", { class: "muted" }, "none")));
    lineage.replaceChildren(el("h2", {}, "Lineage"), el("dl", { class: "kv" }, items));
    return children;
  }

  // -- params / metrics / tags tables -------------------------------------------------------------
  function filteredTable(box, title, rows, columns, emptyText) {
    const previous = box.querySelector("input[type='search']");
    const text = previous ? previous.value : "";
    const filter = el("input", { type: "search", placeholder: `Filter ${title.toLowerCase()}`, value: text,
      "aria-label": `Filter ${title.toLowerCase()}` });
    const tbody = el("tbody");
    const drawRows = () => {
      const needle = filter.value.trim().toLowerCase();
      const shown = rows.filter((row) => !needle || row.search.toLowerCase().includes(needle));
      tbody.replaceChildren(...(shown.length ? shown.map((row) => row.node())
        : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, rows.length ? "No match." : emptyText))]));
    };
    filter.addEventListener("input", drawRows);
    drawRows();
    const hadFocus = previous && document.activeElement === previous;
    box.replaceChildren(el("h2", {}, `${title} (${rows.length})`), el("div", { class: "toolbar" }, filter),
      el("div", { class: "table-wrap" }, el("table", { class: "data-table", "aria-label": title },
        el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
        tbody)));
    if (hadFocus) filter.focus();
    return tbody;
  }

  function drawParams() {
    const rows = (run.data?.params || []).slice().sort((a, b) => a.key.localeCompare(b.key)).map((p) => ({
      search: `${p.key} ${p.value}`,
      node: () => el("tr", {}, el("td", {}, p.key), el("td", { class: "wrap mono" }, p.value)),
    }));
    filteredTable(paramsBox, "Parameters", rows, [{ label: "Name" }, { label: "Value" }], "No parameters logged.");
  }

  function drawTags() {
    const rows = (run.data?.tags || []).slice().sort((a, b) => a.key.localeCompare(b.key)).map((t) => ({
      search: `${t.key} ${t.value}`,
      node: () => el("tr", {}, el("td", {}, t.key), el("td", { class: "wrap mono" }, t.value)),
    }));
    filteredTable(tagsBox, "Tags", rows, [{ label: "Name" }, { label: "Value" }], "No tags.");
  }

  function drawMetrics() {
    const rows = (run.data?.metrics || []).slice().sort((a, b) => a.key.localeCompare(b.key)).map((m) => ({
      search: m.key,
      node: () => {
        const open = charts.has(m.key);
        const toggle = el("button", { type: "button", class: "btn btn-small", "aria-expanded": String(open),
          "aria-label": `History of ${m.key}`, onclick: () => toggleHistory(m.key) }, open ? "Hide" : "History");
        const tr = el("tr", { dataset: { metric: m.key } },
          el("td", {}, el("a", { href: metricHref(m.key, [runId]), title: "Open the chart" }, m.key)),
          el("td", { class: "num", dataset: { field: "value" } }, formatValue(typeof m.value === "number" ? m.value : Number(m.value))),
          el("td", {}, toggle));
        if (!open) return tr;
        const holder = el("div", { class: "history-chart", "aria-label": `History of ${m.key}` });
        const fragment = document.createDocumentFragment();
        fragment.append(tr, el("tr", { class: "history-row" }, el("td", { colspan: 3 }, holder)));
        queueMicrotask(() => drawHistory(m.key, holder));
        return fragment;
      },
    }));
    filteredTable(metricsBox, "Metrics", rows,
      [{ label: "Name" }, { label: "Latest", num: true }, { label: "" }],
      "No metrics logged.");
  }

  async function loadChartModule() {
    try {
      const module = await import("./charts.js");
      return typeof module.lineChart === "function" ? module.lineChart : null;
    } catch {
      return null;
    }
  }

  async function drawHistory(key, holder) {
    const entry = charts.get(key) || {};
    if (entry.instance) entry.instance.dispose();
    try {
      const answer = await api("metrics/get-history-bulk-interval", {
        query: { run_ids: [runId], metric_key: key, max_results: HISTORY_POINTS } });
      const points = answer.metrics || [];
      const lineChart = await loadChartModule();
      if (!lineChart) {
        holder.replaceChildren(el("p", { class: "muted" }, `${points.length} point(s); open the chart for the plot.`));
        return;
      }
      const instance = lineChart(holder, { series: [{ name: key, points, startTime: run.info.start_time }],
        xAxis: "step", height: 200 });
      charts.set(key, { ...entry, instance, holder });
    } catch (error) {
      holder.replaceChildren(el("p", { class: "error-text" }, `Could not load the history: ${error.message}`));
    }
  }

  function toggleHistory(key) {
    if (charts.has(key)) {
      charts.get(key).instance?.dispose();
      charts.delete(key);
    } else {
      charts.set(key, {});
    }
    drawMetrics();
  }

  function disposeCharts() {
    for (const entry of charts.values()) entry.instance?.dispose();
  }

  // -- live ----------------------------------------------------------------------------------------
  async function refresh() {
    const before = JSON.stringify([run.info, run.data?.metrics]);
    run = (await api("runs/get", { query: { run_id: runId } })).run;
    drawHeader();
    if (JSON.stringify([run.info, run.data?.metrics]) !== before) {
      disposeCharts();
      drawMetrics();
      drawLineage().catch(() => {});
    }
    poller.setActive(run.info.status === "RUNNING");
  }
  const poller = live(refresh);

  drawHeader();
  drawDescription();
  drawParams();
  drawMetrics();
  drawTags();
  const lineageReady = drawLineage().catch(showError);
  const artifacts = renderArtifacts(artifactsBox, { run, experimentId, initialPath: params.artifactPath || "" });
  await Promise.all([lineageReady, artifacts.ready]);
  poller.setActive(run.info.status === "RUNNING");
  return () => {
    poller.stop();
    disposeCharts();
    artifacts.cleanup();
  };
}
