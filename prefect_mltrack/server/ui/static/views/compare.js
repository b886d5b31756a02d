// The compare page: #/compare-runs?runs=<id,id,…>
//
// A table of params and latest metrics side by side (rows = keys, columns = runs) with the rows
// whose values differ highlighted and a "show differences only" switch; a parallel-coordinates
// plot over chosen params and metrics, coloured by a metric; a scatter plot of any two columns.
// Numeric columns get value axes, the others category axes.
//
// Example:
//   location.hash = "#/compare-runs?runs=3f2a…,9c1b…";

import { fetchRuns } from "./charts.js";
import { chartTheme, formatValue, h, loadCss, runData, runHref, runName, select } from "./viewkit.js";

const MAX_DEFAULT_AXES = 8;
const PALETTE = ["#313695", "#4575b4", "#74add1", "#abd9e9", "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026"];

/** Columns over the runs: one per param key and one per metric key, with each run's value. */
export function compareColumns(runs) {
  const data = runs.map(runData);
  const columns = [];
  for (const kind of ["params", "metrics"]) {
    const keys = [...new Set(data.flatMap((d) => Object.keys(d[kind])))].sort();
    for (const key of keys) {
      const values = data.map((d) => d[kind][key]);
      const present = values.filter((v) => v !== undefined);
      const numeric = present.length > 0 && present.every((v) => v !== "" && Number.isFinite(Number(v)));
      const shown = values.map((v) => (v === undefined ? "" : formatValue(v)));
      columns.push({
        id: `${kind}.${key}`,
        kind,
        key,
        label: `${kind === "params" ? "param" : "metric"}: ${key}`,
        values,
        numeric,
        differs: new Set(shown).size > 1,
      });
    }
  }
  return columns;
}

/** HTML-escape a user string for ECharts' HTML tooltips (the one place a string becomes markup). */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function axisFor(column, extra = {}) {
  if (column.numeric) return { type: "value", name: column.key, scale: true, ...extra };
  const categories = [...new Set(column.values.map((v) => (v === undefined ? "(none)" : String(v))))].sort();
  return { type: "category", name: column.key, data: categories, ...extra };
}

function axisValue(column, value) {
  if (value === undefined) return column.numeric ? "-" : "(none)"; // "-" is ECharts' missing value
  return column.numeric ? Number(value) : String(value);
}

function compareTable(runs, columns) {
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "Run"),
    runs.map((run) => h("th", { scope: "col" }, h("a", { href: runHref(run.info.experiment_id, run.info.run_id) }, runName(run)))),
  );
  const body = h("tbody");
  const runIds = runs.map((run) => run.info.run_id).join(",");
  for (const [kind, title] of [
    ["params", "Parameters"],
    ["metrics", "Metrics"],
  ]) {
    const rows = columns.filter((c) => c.kind === kind);
    body.append(h("tr", { class: "mt-group" }, h("th", { colspan: String(runs.length + 1), scope: "rowgroup" }, `${title} (${rows.length})`)));
    for (const column of rows) {
      const label =
        kind === "metrics"
          ? h("a", { href: `#/metric/${encodeURIComponent(column.key)}?runs=${runIds}` }, column.key)
          : column.key;
      body.append(
        h(
          "tr",
          { class: column.differs ? "mt-differs" : "", dataset: { key: column.id } },
          h("th", { scope: "row" }, label),
          column.values.map((v) =>
            h(
              "td",
              { class: column.differs ? "mt-diff" : "", title: v === undefined ? "not logged" : String(v) },
              v === undefined ? "—" : formatValue(v),
            ),
          ),
        ),
      );
    }
  }
  return h("table", { class: "data-table mt-compare-table" }, h("thead", {}, head), body);
}

function parallelOption(runs, columns, axisIds, colorId) {
  const chosen = axisIds.map((id) => columns.find((c) => c.id === id)).filter(Boolean);
  const color = columns.find((c) => c.id === colorId);
  const option = {
    animation: false,
    backgroundColor: "transparent",
    tooltip: { trigger: "item", formatter: (p) => escapeHtml(p.name) },
    parallel: { left: 60, right: 140, top: 40, bottom: 30 },
    parallelAxis: chosen.map((column, dim) => axisFor(column, { dim, nameTruncate: { maxWidth: 110 } })),
    series: [
      {
        type: "parallel",
        lineStyle: { width: 2, opacity: 0.8 },
        data: runs.map((run, i) => ({ name: runName(run), value: chosen.map((column) => axisValue(column, column.values[i])) })),
      },
    ],
  };
  const dim = chosen.indexOf(color);
  if (color?.numeric && dim >= 0) {
    const values = color.values.map(Number).filter(Number.isFinite);
    option.visualMap = {
      type: "continuous",
      dimension: dim,
      min: Math.min(...values),
      max: Math.max(...values),
      calculable: true,
      right: 8,
      top: "middle",
      text: [color.key, ""],
      formatter: (v) => String(Number(Number(v).toPrecision(3))),
      inRange: { color: PALETTE },
    };
  }
  return option;
}

function scatterOption(runs, columns, xId, yId) {
  const x = columns.find((c) => c.id === xId);
  const y = columns.find((c) => c.id === yId);
  if (!x || !y) return { series: [] };
  const data = [];
  runs.forEach((run, i) => {
    if (x.values[i] === undefined || y.values[i] === undefined) return;
    data.push({ name: runName(run), value: [axisValue(x, x.values[i]), axisValue(y, y.values[i])] });
  });
  return {
    animation: false,
    backgroundColor: "transparent",
    grid: { left: 70, right: 30, top: 30, bottom: 50 },
    tooltip: {
      trigger: "item",
      formatter: (p) => `${escapeHtml(p.name)}<br>${escapeHtml(x.key)}: ${escapeHtml(p.value[0])}<br>${escapeHtml(y.key)}: ${escapeHtml(p.value[1])}`,
    },
    xAxis: axisFor(x, { nameLocation: "middle", nameGap: 30 }),
    yAxis: axisFor(y, { nameLocation: "middle", nameGap: 50 }),
    series: [{ type: "scatter", symbolSize: 10, data }],
  };
}

function chartBox(label) {
  return h("div", { class: "mt-chart", role: "img", "aria-label": label });
}

export async function render(root, params, query) {
  loadCss("views/charts.css");
  const runIds = [...new Set((query.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean))];
  root.classList.add("mt-view");
  document.title = "Compare runs · mltrack";
  root.append(h("div", { class: "page-header" }, h("h1", {}, `Comparing ${runIds.length} run${runIds.length === 1 ? "" : "s"}`)));
  if (!runIds.length) {
    root.append(h("p", { class: "empty" }, "No runs chosen: add ?runs=<run id,…> to the address."));
    return undefined;
  }
  const runs = await fetchRuns(runIds);
  const columns = compareColumns(runs);
  const numericMetrics = columns.filter((c) => c.kind === "metrics" && c.numeric);

  // Table
  const table = compareTable(runs, columns);
  const diffOnly = h("input", {
    type: "checkbox",
    name: "diff-only",
    onchange: () => {
      for (const row of table.querySelectorAll("tbody tr[data-key]")) row.hidden = diffOnly.checked && !row.classList.contains("mt-differs");
    },
  });
  root.append(
    h("section", { "aria-labelledby": "mt-compare-table-title" },
      h("div", { class: "toolbar" },
        h("h2", { id: "mt-compare-table-title" }, "Parameters and metrics"),
        h("span", { class: "spacer" }),
        h("label", { class: "mt-check" }, diffOnly, h("span", {}, "Show differences only")),
      ),
      h("div", { class: "table-wrap" }, table),
    ),
  );

  // Parallel coordinates
  const defaults = [
    ...columns.filter((c) => c.kind === "params" && c.differs),
    ...columns.filter((c) => c.kind === "metrics"),
  ].slice(0, MAX_DEFAULT_AXES);
  const state = {
    axes: defaults.map((c) => c.id),
    color: numericMetrics[0]?.id ?? "",
    x: (columns.find((c) => c.kind === "params" && c.differs) || columns[0])?.id ?? "",
    y: (numericMetrics[0] || columns[1] || columns[0])?.id ?? "",
  };
  const parallelEl = chartBox("Parallel coordinates plot of the chosen params and metrics");
  parallelEl.dataset.chart = "parallel";
  const scatterEl = chartBox("Scatter plot of two columns");
  scatterEl.dataset.chart = "scatter";
  parallelEl.style.height = "380px";
  scatterEl.style.height = "380px";

  const axisPicker = h("fieldset", { class: "mt-axis-picker" }, h("legend", {}, "Axes"));
  for (const column of columns) {
    axisPicker.append(
      h(
        "label",
        { class: "mt-check" },
        h("input", {
          type: "checkbox",
          value: column.id,
          checked: state.axes.includes(column.id),
          onchange: (event) => {
            state.axes = event.target.checked ? [...state.axes, column.id] : state.axes.filter((id) => id !== column.id);
            // Keep the table's order (params, then metrics) whatever the order of clicks.
            state.axes = columns.map((c) => c.id).filter((id) => state.axes.includes(id));
            drawParallel();
          },
        }),
        h("span", {}, column.label),
      ),
    );
  }
  const colorPicker = select(
    "Color by",
    [["", "(none)"], ...numericMetrics.map((c) => [c.id, c.key])],
    state.color,
    (value) => {
      state.color = value;
      if (value && !state.axes.includes(value)) {
        state.axes = columns.map((c) => c.id).filter((id) => id === value || state.axes.includes(id));
        axisPicker.querySelector(`input[value="${CSS.escape(value)}"]`).checked = true;
      }
      drawParallel();
    },
    { name: "color-by" },
  );
  const options = columns.map((c) => [c.id, c.label]);
  const xPicker = select("X", options, state.x, (value) => { state.x = value; drawScatter(); }, { name: "scatter-x" });
  const yPicker = select("Y", options, state.y, (value) => { state.y = value; drawScatter(); }, { name: "scatter-y" });

  root.append(
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, "Parallel coordinates"), h("div", { class: "toolbar mt-controls" }, colorPicker), axisPicker, parallelEl),
      h("section", { class: "card" }, h("h2", {}, "Scatter plot"), h("div", { class: "toolbar mt-controls" }, xPicker, yPicker), scatterEl),
    ),
  );

  const parallel = echarts.init(parallelEl, chartTheme());
  const scatter = echarts.init(scatterEl, chartTheme());
  function drawParallel() {
    parallel.setOption(parallelOption(runs, columns, state.axes, state.color), { notMerge: true });
  }
  function drawScatter() {
    scatter.setOption(scatterOption(runs, columns, state.x, state.y), { notMerge: true });
  }
  drawParallel();
  drawScatter();
  const observer = new ResizeObserver(() => {
    parallel.resize();
    scatter.resize();
  });
  observer.observe(parallelEl);
  observer.observe(scatterEl);
  return () => {
    observer.disconnect();
    parallel.dispose();
    scatter.dispose();
  };
}
