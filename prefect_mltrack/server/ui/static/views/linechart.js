// A metric line chart on Apache ECharts (the global `echarts`). ECharts (~1 MB) is loaded here, on
// first use, not by index.html: views without charts (experiments, runs table) paint without waiting
// for it. Every module that imports this one waits (top-level await) until it is ready.
//
// The server has already downsampled each history (keeping every bucket's extremes), so the chart
// draws what it is given; NaN and ±Infinity (sent as strings) are skipped, and with a log scale so
// are values <= 0, which a log axis cannot place.
//
// Example:
//   const chart = lineChart(el, {series: [{name: "run-1", points: [{step: 0, timestamp: 1, value: 0.5}]}],
//                                xAxis: "step", smoothing: 0.6, logY: false, height: 360});
//   chart.update({logY: true});
//   chart.dispose();

import { chartTheme } from "./viewkit.js";

await new Promise((resolve, reject) => {
  if (typeof globalThis.echarts !== "undefined") { resolve(); return; }
  const script = document.createElement("script");
  script.src = "/static-files/vendor/echarts.min.js";
  script.onload = () => resolve();
  script.onerror = () => reject(new Error("ECharts did not load (vendor/echarts.min.js)."));
  document.head.append(script);
});

const X_AXIS_NAMES = { step: "Step", wall: "Time (wall)", relative: "Time (relative)" };

/** TensorBoard's debiased exponential moving average; weight 0 returns the values unchanged. */
export function smooth(values, weight) {
  if (!(weight > 0)) return values.slice();
  const w = Math.min(weight, 0.999);
  let last = 0;
  let count = 0;
  return values.map((v) => {
    last = last * w + (1 - w) * v;
    count += 1;
    return last / (1 - w ** count);
  });
}

/** A duration in seconds as "1h 02m", "3m 05s" or "12.5s" (relative-time axis labels). */
export function formatDuration(seconds) {
  const s = Math.abs(seconds);
  const sign = seconds < 0 ? "-" : "";
  if (s >= 3600) return `${sign}${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${sign}${Math.floor(s / 60)}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${sign}${Number(s.toPrecision(3))}s`;
}

function seriesData(points, { xAxis, smoothing, logY }, startTime) {
  const finite = [];
  for (const p of points) {
    const value = typeof p.value === "number" ? p.value : Number(p.value);
    if (Number.isFinite(value)) finite.push({ step: Number(p.step), timestamp: Number(p.timestamp), value });
  }
  // Relative time counts from the run's start, or from its first point when that came earlier
  // (imported histories): never negative.
  let origin = Number.isFinite(Number(startTime)) && startTime !== null ? Number(startTime) : Infinity;
  for (const p of finite) origin = Math.min(origin, p.timestamp);
  const ys = smooth(
    finite.map((p) => p.value),
    smoothing,
  );
  const data = [];
  finite.forEach((p, i) => {
    if (logY && !(ys[i] > 0)) return;
    const x = xAxis === "wall" ? p.timestamp : xAxis === "relative" ? (p.timestamp - origin) / 1000 : p.step;
    data.push([x, ys[i]]);
  });
  return data;
}

function buildOption(opts) {
  const xAxis = X_AXIS_NAMES[opts.xAxis] ? opts.xAxis : "step";
  const series = (opts.series || []).map((s, i) => ({
    type: "line",
    id: s.id ?? `s${i}`,
    name: s.name,
    data: seriesData(s.points || [], { ...opts, xAxis }, s.startTime),
    showSymbol: false,
    symbolSize: 4,
    // A second, client-side thinning only matters when the chart is narrower than the data.
    sampling: "lttb",
    lineStyle: { width: 1.5 },
    emphasis: { focus: "series" },
  }));
  return {
    animation: false,
    backgroundColor: "transparent",
    grid: { left: 64, right: 28, top: 48, bottom: 72, containLabel: false },
    legend: { type: "scroll", top: 4, left: 8, right: 8 },
    tooltip: {
      trigger: "axis",
      confine: true,
      valueFormatter: (v) => (typeof v === "number" ? String(Number(v.toPrecision(6))) : String(v)),
    },
    xAxis: {
      type: xAxis === "wall" ? "time" : "value",
      name: X_AXIS_NAMES[xAxis],
      nameLocation: "middle",
      nameGap: 28,
      scale: true,
      axisLabel: xAxis === "relative" ? { formatter: (v) => formatDuration(v) } : {},
    },
    yAxis: { type: opts.logY ? "log" : "value", scale: true, name: opts.yName || "", nameTextStyle: { align: "left" } },
    dataZoom: [
      { type: "inside", filterMode: "none" },
      { type: "slider", filterMode: "none", height: 18, bottom: 10 },
    ],
    series,
  };
}

/**
 * Draw a line chart into `el` and keep it sized to the element.
 *
 * options: {series: [{name, points: [{step, timestamp, value}], startTime?}], xAxis: "step"|"wall"|"relative",
 * smoothing: 0..0.99, logY: bool, height: px, yName?}. Returns {chart, update(options), dispose()}.
 */
export function lineChart(el, options) {
  if (typeof echarts === "undefined") throw new Error("ECharts did not load (vendor/echarts.min.js).");
  let current = { xAxis: "step", smoothing: 0, logY: false, height: 360, ...options };
  el.style.height = `${current.height}px`;
  const chart = echarts.init(el, chartTheme(), { renderer: "canvas" });
  chart.setOption(buildOption(current));
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(el);
  return {
    chart,
    update(next) {
      const previous = current;
      current = { ...current, ...next };
      if (current.height !== previous.height) el.style.height = `${current.height}px`;
      const axesChanged = current.xAxis !== previous.xAxis || current.logY !== previous.logY;
      // New axes reset the zoom; new data alone (live refresh, smoothing) keeps what the user zoomed into.
      chart.setOption(buildOption(current), axesChanged ? { notMerge: true } : { replaceMerge: ["series"] });
    },
    dispose() {
      observer.disconnect();
      chart.dispose();
    },
  };
}
