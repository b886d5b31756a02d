// The single-metric page: #/metric/<key>?runs=<id,id>[&x=step|wall|relative&smooth=0.6&log=1]
//
// One line per run, drawn from metrics/get-history-bulk-interval: the server downsamples every
// history to about two points per pixel of chart width (keeping each bucket's first, last, lowest and
// highest point), so a run of a million points costs the browser a few thousand. The controls
// (metric, x-axis, smoothing, log scale) are written back into the URL, so every view is a deep link.
// While any of the runs is RUNNING the chart refreshes every 3 s.
//
// Example:
//   location.hash = "#/metric/loss?runs=3f2a…,9c1b…&x=relative&smooth=0.6&log=1";

import { api } from "../api.js";
import { live, navigate, setQuery } from "../app.js";
import { lineChart } from "./linechart.js";
import { h, loadCss, runData, runHref, runName, select } from "./viewkit.js";

export { lineChart } from "./linechart.js";

const MAX_POINTS = 25000; // the server's cap on max_results per run
const X_AXES = [
  ["step", "Step"],
  ["wall", "Time (wall)"],
  ["relative", "Time (relative)"],
];

/** The chart settings read from the URL query (unknown values fall back to the defaults). */
export function chartSettings(query) {
  const x = query.get("x");
  const smooth = Number(query.get("smooth") ?? 0);
  return {
    runIds: [...new Set((query.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean))],
    xAxis: X_AXES.some(([v]) => v === x) ? x : "step",
    smoothing: Number.isFinite(smooth) ? Math.min(Math.max(smooth, 0), 0.99) : 0,
    logY: query.get("log") === "1" || query.get("log") === "true",
  };
}

/** The deep link of a metric chart with these settings (defaults left out of the URL). */
export function metricHref(key, { runIds, xAxis, smoothing, logY }) {
  const query = new URLSearchParams({ runs: runIds.join(",") });
  if (xAxis && xAxis !== "step") query.set("x", xAxis);
  if (smoothing > 0) query.set("smooth", String(smoothing));
  if (logY) query.set("log", "1");
  return `#/metric/${encodeURIComponent(key)}?${query.toString().replaceAll("%2C", ",")}`;
}

/** Runs by id, fetched in parallel (the page shows at most a few dozen). */
export async function fetchRuns(runIds) {
  const answers = await Promise.all(runIds.map((run_id) => api("runs/get", { query: { run_id } })));
  return answers.map((answer) => answer.run);
}

/** Each run's downsampled history of `key`: Map run_id → points. */
export async function fetchHistories(key, runIds, maxResults) {
  const answer = await api("metrics/get-history-bulk-interval", {
    query: { metric_key: key, run_ids: runIds, max_results: maxResults },
  });
  const byRun = new Map(runIds.map((id) => [id, []]));
  for (const point of answer.metrics || []) byRun.get(point.run_id)?.push(point);
  return byRun;
}

/** Legend names: run names, with the id's start added where two runs share a name. */
function seriesNames(runs) {
  const counts = new Map();
  for (const run of runs) counts.set(runName(run), (counts.get(runName(run)) || 0) + 1);
  return runs.map((run) =>
    counts.get(runName(run)) > 1 ? `${runName(run)} (${run.info.run_id.slice(0, 6)})` : runName(run),
  );
}

export async function render(root, params, query) {
  loadCss("views/charts.css");
  const key = params.key ?? "";
  const settings = chartSettings(query);
  root.classList.add("mt-view");
  document.title = `${key} · mltrack`;
  const heading = h("div", { class: "page-header" }, h("h1", {}, h("span", { class: "muted" }, "Metric "), key));
  if (!settings.runIds.length) {
    root.append(heading, h("p", { class: "empty" }, "No runs chosen: add ?runs=<run id,…> to the address."));
    return undefined;
  }

  let runs = await fetchRuns(settings.runIds);
  const keys = [...new Set(runs.flatMap((run) => Object.keys(runData(run).metrics)))].sort();
  if (key && !keys.includes(key)) keys.unshift(key);

  const chartEl = h("div", { class: "mt-chart", role: "img", "aria-label": `Line chart of ${key}, one line per run` });
  const note = h("p", { class: "mt-chart-note muted" });
  const runLinks = h("ul", { class: "mt-chips", "aria-label": "Runs on this chart" });
  const smoothOut = h("output", { class: "mono" }, settings.smoothing.toFixed(2));
  const controls = h(
    "div",
    { class: "toolbar mt-controls", role: "group", "aria-label": "Chart settings" },
    select("Metric", keys, key, (value) => navigate(metricHref(value, settings)), { name: "metric" }),
    select("X axis", X_AXES, settings.xAxis, (value) => apply({ xAxis: value }), { name: "x-axis" }),
    h(
      "label",
      { class: "mt-field" },
      h("span", {}, "Smoothing"),
      h(
        "span",
        { class: "mt-range" },
        h("input", {
          type: "range",
          min: "0",
          max: "0.99",
          step: "0.01",
          value: String(settings.smoothing),
          name: "smoothing",
          oninput: (event) => {
            smoothOut.textContent = Number(event.target.value).toFixed(2);
            apply({ smoothing: Number(event.target.value) });
          },
        }),
        smoothOut,
      ),
    ),
    h(
      "label",
      { class: "mt-check" },
      h("input", { type: "checkbox", name: "log", checked: settings.logY, onchange: (e) => apply({ logY: e.target.checked }) }),
      h("span", {}, "Log scale"),
    ),
  );
  root.append(heading, controls, runLinks, chartEl, note);

  const fillRunLinks = () => {
    const names = seriesNames(runs);
    runLinks.replaceChildren(
      ...runs.map((run, i) =>
        h(
          "li",
          { class: "mt-chip" },
          h("a", { href: runHref(run.info.experiment_id, run.info.run_id) }, names[i]),
          run.info.status === "RUNNING" ? h("span", { class: "badge status-RUNNING" }, "running") : null,
        ),
      ),
    );
  };
  fillRunLinks();

  // About two points per pixel of the chart's width (the element is laid out by now).
  const maxResults = Math.min(MAX_POINTS, Math.max(200, Math.round((chartEl.clientWidth || 1000) * 2)));
  let histories = new Map();
  const seriesOf = () => {
    const names = seriesNames(runs);
    return runs.map((run, i) => ({
      id: run.info.run_id,
      name: names[i],
      points: histories.get(run.info.run_id) || [],
      startTime: run.info.start_time,
    }));
  };

  // Timings of the first draw, kept on the element (the end-to-end test reads them).
  const started = performance.now();
  histories = await fetchHistories(key, settings.runIds, maxResults);
  const fetched = performance.now();
  chartEl.dataset.fetchMs = String(Math.round(fetched - started));
  chartEl.dataset.maxResults = String(maxResults);
  const chart = lineChart(chartEl, { ...settings, series: seriesOf(), height: 420 });
  chart.chart.on("finished", () => {
    if (chartEl.dataset.finishedAt) return;
    chartEl.dataset.finishedAt = String(performance.now());
    chartEl.dataset.drawMs = String(Math.round(performance.now() - fetched));
  });
  const describe = () => {
    const total = [...histories.values()].reduce((n, points) => n + points.length, 0);
    note.textContent = `${runs.length} run${runs.length === 1 ? "" : "s"}, ${total.toLocaleString()} points drawn (each history downsampled on the server to at most ${maxResults.toLocaleString()} points, keeping its extremes).`;
  };
  describe();

  function apply(change) {
    Object.assign(settings, change);
    // The URL follows the controls (a deep link) without re-rendering the view.
    setQuery(new URLSearchParams(metricHref(key, settings).split("?")[1]));
    chart.update(change);
  }

  const anyRunning = () => runs.some((run) => run.info.status === "RUNNING");
  const poller = live(async () => {
    runs = await fetchRuns(settings.runIds);
    histories = await fetchHistories(key, settings.runIds, maxResults);
    chart.update({ series: seriesOf() });
    fillRunLinks();
    describe();
    poller.setActive(anyRunning());
  });
  poller.setActive(anyRunning());

  return () => {
    poller.stop();
    chart.dispose();
  };
}
