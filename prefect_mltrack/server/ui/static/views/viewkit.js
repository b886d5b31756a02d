// Small DOM helpers shared by the chart, compare and registry views.
//
// Every user string goes through textContent (never innerHTML): run names, tags and descriptions
// may contain HTML.
//
// Example:
//   import { h, loadCss } from "./viewkit.js";
//   loadCss("views/charts.css");
//   root.append(h("h1", {}, "Loss"), h("a", { href: "#/models" }, "Models"));

/** Create an element: attrs are properties/attributes ({class, dataset, on*: handler}), children strings or nodes. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Add a stylesheet of ours once (the views keep their styles out of the shell's style.css). */
export function loadCss(path) {
  const href = `/static-files/${path}`;
  if (!document.querySelector(`link[data-view-css="${path}"]`)) {
    document.head.append(h("link", { rel: "stylesheet", href, dataset: { viewCss: path } }));
  }
}

/** Epoch milliseconds as a local date-time ("" when missing). */
export function formatTime(ms) {
  const n = Number(ms);
  return Number.isFinite(n) && n > 0 ? new Date(n).toLocaleString() : "";
}

/** A metric or param value for a table cell: numbers shortened, the rest as given. */
export function formatValue(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return String(value);
}

/** A wire value (number or "NaN"/"Infinity"/"-Infinity") as a JS number. */
export function toNumber(value) {
  return typeof value === "number" ? value : Number(value);
}

/** Route a run id to its page (the experiment id is part of MLflow's run route). */
export function runHref(experimentId, runId) {
  return `#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
}

/** A run's display name: its run_name, else the start of its id. */
export function runName(run) {
  return run?.info?.run_name || (run?.info?.run_id || "").slice(0, 8);
}

/** The run's data as plain maps: {params: {k: v}, metrics: {k: v}, tags: {k: v}}. */
export function runData(run) {
  const toMap = (list, read) => Object.fromEntries((list || []).map((item) => [item.key, read(item)]));
  const data = run?.data || {};
  return {
    params: toMap(data.params, (p) => p.value),
    metrics: toMap(data.metrics, (m) => toNumber(m.value)),
    tags: toMap(data.tags, (t) => t.value),
  };
}

/** A labelled <select> whose options are [value, label] pairs or plain strings. */
export function select(label, options, value, onChange, attrs = {}) {
  const control = h("select", { "aria-label": label, ...attrs, onchange: (event) => onChange(event.target.value) });
  for (const option of options) {
    const [v, text] = Array.isArray(option) ? option : [option, option];
    control.append(h("option", { value: v, selected: v === value }, text));
  }
  return h("label", { class: "mt-field" }, h("span", {}, label), control);
}

/** ECharts' theme matching the page (style.css follows prefers-color-scheme). */
export function chartTheme() {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : null;
}

/**
 * A modal confirmation with extra content (e.g. a checkbox), on <dialog> like the shell's dialogs:
 * focus stays inside, Esc cancels, focus returns to the opener. Resolves true on OK.
 * (app.js's confirmDialog takes only a message; this one takes nodes.)
 */
export function confirmWith({ title, body = [], okLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const ok = h("button", { type: "submit", value: "ok", class: danger ? "btn btn-danger" : "btn btn-primary" }, okLabel);
    const cancel = h("button", { type: "submit", value: "cancel", class: "btn", formnovalidate: true }, "Cancel");
    const form = h("form", { method: "dialog" }, h("h2", { id: "mt-dialog-title" }, title), ...body, h("div", { class: "actions" }, cancel, ok));
    const dialog = h("dialog", { class: "modal mt-dialog", "aria-labelledby": "mt-dialog-title" }, form);
    dialog.addEventListener("close", () => {
      dialog.remove();
      opener?.focus?.();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}
