// DOM and formatting helpers of the experiments, runs and run views.
//
// User strings always go through textContent (never innerHTML): names, tags and descriptions may
// contain HTML.
//
// Example:
//   import { el, statusBadge, formatDuration } from "./runkit.js";
//   row.append(el("td", {}, statusBadge(run.info.status)), el("td", {}, formatDuration(run.info)));

/** Create an element; props: class, dataset, aria-* / attributes, on<event> handlers, DOM properties. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Epoch ms as a local date-time; "" when missing. */
export function formatTime(ms) {
  const n = Number(ms);
  return Number.isFinite(n) && n > 0 ? new Date(n).toLocaleString() : "";
}

/** "3 min ago"-style age of an epoch ms time. */
export function formatAge(ms, now = Date.now()) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return "";
  const seconds = Math.max(0, Math.round((now - n) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** A span of milliseconds as "850ms", "12.3s", "4m 05s", "2h 03m". */
export function formatSpan(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** A run's duration (running runs: so far). */
export function formatDuration(info, now = Date.now()) {
  const start = Number(info?.start_time);
  if (!start) return "";
  const end = Number(info?.end_time) || (info?.status === "RUNNING" ? now : 0);
  return end ? formatSpan(end - start) : "";
}

/** A metric/param value for a cell: long floats shortened, the rest as given. */
export function formatValue(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(6)));
  }
  return String(value);
}

export function statusBadge(status) {
  const text = status || "UNKNOWN";
  return el("span", { class: `badge status-${text}`, title: `Status: ${text}` }, text);
}

/** The run's params/metrics/tags as plain maps. */
export function runMaps(run) {
  const data = run?.data || {};
  const toMap = (list, read) => Object.fromEntries((list || []).map((item) => [item.key, read(item)]));
  return {
    params: toMap(data.params, (p) => p.value),
    metrics: toMap(data.metrics, (m) => (typeof m.value === "number" ? m.value : Number(m.value))),
    tags: toMap(data.tags, (t) => t.value),
  };
}

export function runName(run) {
  return run?.info?.run_name || (run?.info?.run_id || "").slice(0, 8);
}

export function runHref(experimentId, runId) {
  return `#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
}

/** A metric key in a route (slashes in keys kept readable: each segment encoded). */
export function metricHref(key, runIds) {
  const path = String(key).split("/").map(encodeURIComponent).join("/");
  return `#/metric/${path}?runs=${runIds.map(encodeURIComponent).join(",")}`;
}

/** A string literal of MLflow's search grammar: single quotes, embedded quotes escaped. */
export function quoteValue(text) {
  return `'${String(text).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** A key in MLflow's search grammar, backtick-quoted unless it is a plain identifier. */
export function quoteKey(key) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `\`${String(key).replace(/`/g, "")}\``;
}

/** An http(s) URL or null (tag values are user input: never make javascript: links). */
export function safeUrl(value) {
  if (typeof value !== "string" || !/^https?:\/\//i.test(value.trim())) return null;
  try {
    const url = new URL(String(value), location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A clickable table row (Enter opens it through app.js): focusable, with its link target. */
export function linkRow(href, ...cells) {
  return el("tr", { tabindex: "0", dataset: { href } }, ...cells);
}
