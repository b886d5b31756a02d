// The shell of the web UI: hash router, live updates, toasts and dialogs, keyboard shortcuts.
//
// Views are ES modules loaded on demand. Contract:
//   export async function render(root, params, query) { ...; return cleanup?; }
// root: an empty <main> child, params: route params (decoded), query: URLSearchParams of the hash.
//
// Helpers views may import from here:
//   toast(message, {error, code, timeout})      a polite notification
//   showError(error)                            an ApiError (or any Error) as an error toast
//   confirmDialog({title, message, okLabel, danger})           -> Promise<boolean>
//   formDialog({title, fields, okLabel, submit})               -> Promise<values | null>
//   live(refresh, {interval})                   -> {setActive(bool), refreshNow(), stop()}
//   navigate(hash, {replace})                   go to a route ("#/experiments/1")
//   setQuery(query, {replace})                  rewrite the current route's query without re-rendering
//   replaceRoute(hash)                          rewrite the whole route (same view) without re-rendering
//
// Example (in a view):
//   import { live, showError } from "../app.js";
//   const poller = live(async () => { await reload(); poller.setActive(anyRunning()); });

import { api, ApiError } from "./api.js";

const ROUTES = [
  // [pattern, view module]; ":name" is one path segment, "*name" the rest of the path (slashes included).
  ["/experiments", "./views/experiments.js"],
  ["/experiments/:id", "./views/runs.js"],
  ["/experiments/:id/runs/:runId", "./views/run.js"],
  ["/experiments/:id/runs/:runId/artifacts/*artifactPath", "./views/run.js"],
  ["/compare-runs", "./views/compare.js"],
  ["/metric/*key", "./views/charts.js"],
  ["/models", "./views/registry.js"],
  ["/models/:name", "./views/registry.js"],
  ["/models/:name/versions/:version", "./views/registry.js"],
];
export const LIVE_INTERVAL_MS = 3000;

let current = { token: 0, cleanup: null, pollers: new Set(), path: "", query: "" };
let suppressNextRender = false;

/** Split "#/a/b?x=1" into its path segments (decoded) and query. */
export function parseHash(hash) {
  const raw = (hash || "").replace(/^#/, "") || "/experiments";
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const query = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  return { path: path.startsWith("/") ? path : `/${path}`, query };
}

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The view module and params for a path, or null. */
export function matchRoute(path) {
  const parts = path.split("/").filter(Boolean);
  for (const [pattern, module] of ROUTES) {
    const want = pattern.split("/").filter(Boolean);
    const params = {};
    let ok = true;
    for (let i = 0; i < want.length; i += 1) {
      const piece = want[i];
      if (piece.startsWith("*")) {
        if (i >= parts.length) ok = false;
        else params[piece.slice(1)] = parts.slice(i).map(decode).join("/");
        if (ok) return { module, params };
        break;
      }
      if (i >= parts.length) { ok = false; break; }
      if (piece.startsWith(":")) params[piece.slice(1)] = decode(parts[i]);
      else if (piece !== parts[i]) { ok = false; break; }
    }
    if (ok && want.length === parts.length) return { module, params };
  }
  return null;
}

// -- notifications and dialogs -------------------------------------------------------------------
export function toast(message, { error = false, code = "", timeout = error ? 8000 : 4000 } = {}) {
  const box = document.getElementById("toasts");
  const item = document.createElement("div");
  item.className = error ? "toast toast-error" : "toast";
  item.setAttribute("role", error ? "alert" : "status");
  const text = document.createElement("div");
  text.textContent = message;
  item.append(text);
  if (code) {
    const small = document.createElement("div");
    small.className = "toast-code";
    small.textContent = code;
    item.append(small);
  }
  item.addEventListener("click", () => item.remove());
  box.append(item);
  setTimeout(() => item.remove(), timeout);
  return item;
}

export function showError(error) {
  if (error && error.name === "AbortError") return;
  const message = (error && error.message) || String(error);
  toast(message, { error: true, code: error instanceof ApiError ? error.error_code : "" });
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * A modal dialog with a form (native <dialog>: focus stays inside, Esc cancels, focus returns after).
 * fields: [{name, label, value, required, placeholder, type}]. `submit(values)` may throw: the error is
 * shown inside the dialog, which stays open. Resolves to the values (or submit's result) or null.
 */
export function formDialog({ title, message = "", fields = [], okLabel = "OK", danger = false, submit }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const errorBox = el("div", { class: "dialog-error", role: "alert" });
    const inputs = fields.map((field) => {
      const id = `dlg-${field.name}`;
      const input = el("input", {
        id, name: field.name, type: field.type || "text", value: field.value ?? "", placeholder: field.placeholder || "",
        autocomplete: "off",
      });
      if (field.required) input.required = true;
      return [field, el("label", { for: id }, field.label || field.name), input];
    });
    const ok = el("button", { type: "submit", class: danger ? "btn btn-danger" : "btn btn-primary" }, okLabel);
    const cancel = el("button", { type: "button", class: "btn" }, "Cancel");
    const form = el("form", {}, el("h2", { id: "dlg-title" }, title), message ? el("p", {}, message) : null,
      ...inputs.flatMap(([, label, input]) => [label, input]), errorBox, el("div", { class: "actions" }, cancel, ok));
    const dialog = el("dialog", { class: "modal", "aria-labelledby": "dlg-title" }, form);
    let result = null;
    const close = () => dialog.close();
    cancel.addEventListener("click", close);
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.focus) opener.focus();
      resolve(result);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(inputs.map(([field, , input]) => [field.name, input.value]));
      ok.disabled = true;
      errorBox.textContent = "";
      try {
        result = submit ? (await submit(values)) ?? values : values;
        close();
      } catch (error) {
        errorBox.textContent = (error && error.message) || String(error);
      } finally {
        ok.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    (inputs.length ? inputs[0][2] : danger ? cancel : ok).focus();
  });
}

/** Ask for confirmation; resolves true when confirmed. */
export async function confirmDialog({ title, message = "", okLabel = "Confirm", danger = false }) {
  const answer = await formDialog({ title, message, okLabel, danger, submit: async () => true });
  return answer === true;
}

// -- live updates --------------------------------------------------------------------------------
/**
 * Call `refresh` every LIVE_INTERVAL_MS while active and the tab is visible. Starts inactive; the view
 * calls setActive(true) when it shows running runs. Stopped automatically when the route changes.
 */
export function live(refresh, { interval = LIVE_INTERVAL_MS } = {}) {
  let timer = null;
  let active = false;
  let busy = false;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped || !active) return;
    if (document.visibilityState === "visible" && !busy) {
      busy = true;
      try {
        await refresh();
      } catch (error) {
        if (error && error.name !== "AbortError") console.warn("live update failed:", error.message);
      } finally {
        busy = false;
      }
    }
    schedule();
  };
  const schedule = () => {
    if (!stopped && active && timer === null) timer = setTimeout(tick, interval);
  };
  const poller = {
    setActive(value) {
      active = Boolean(value);
      if (!active && timer !== null) { clearTimeout(timer); timer = null; }
      schedule();
    },
    get active() { return active; },
    async refreshNow() { if (!stopped) await refresh(); },
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      current.pollers.delete(poller);
    },
  };
  current.pollers.add(poller);
  return poller;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    for (const poller of current.pollers) if (poller.active) poller.refreshNow().catch(() => {});
  }
});

// -- navigation ----------------------------------------------------------------------------------
export function navigate(hash, { replace = false } = {}) {
  const target = hash.startsWith("#") ? hash : `#${hash}`;
  if (replace) {
    history.replaceState(null, "", target);
    renderRoute();
  } else {
    location.hash = target;
  }
}

/** Rewrite the current route's query (e.g. chosen columns) without re-rendering the view. */
export function setQuery(query, { replace = true } = {}) {
  const { path } = parseHash(location.hash);
  const text = query.toString();
  const target = `#${path}${text ? `?${text}` : ""}`;
  if (target === location.hash) return;
  if (replace) {
    history.replaceState(null, "", target);
  } else {
    suppressNextRender = true;
    location.hash = target;
  }
  current.query = text;
}

/** Point the address bar at another route of the same view (e.g. an artifact path) without re-rendering. */
export function replaceRoute(hash) {
  const target = hash.startsWith("#") ? hash : `#${hash}`;
  if (target === location.hash) return;
  history.replaceState(null, "", target);
  const { path, query } = parseHash(target);
  current.path = path;
  current.query = query.toString();
}

function markNav(path) {
  const section = path.startsWith("/models") ? "models" : "experiments";
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function teardown() {
  for (const poller of [...current.pollers]) poller.stop();
  if (typeof current.cleanup === "function") {
    try {
      current.cleanup();
    } catch (error) {
      console.warn("view cleanup failed:", error);
    }
  }
  current.cleanup = null;
}

async function renderRoute() {
  if (suppressNextRender) {
    suppressNextRender = false;
    return;
  }
  const { path, query } = parseHash(location.hash);
  if (path === "/" || path === "") {
    navigate("#/experiments", { replace: true });
    return;
  }
  const token = current.token + 1;
  teardown();
  current = { token, cleanup: null, pollers: new Set(), path, query: query.toString() };
  markNav(path);
  const main = document.getElementById("app-main");
  const root = document.createElement("div");
  root.className = "view";
  main.replaceChildren(root);
  let match = matchRoute(path);
  if (match && match.module === "./views/experiments.js" && query.get("ids")) {
    match = { module: "./views/runs.js", params: {} };
  }
  if (!match) {
    root.append(el("h1", {}, "Page not found"), el("p", {}, "No page at ", el("code", {}, path), ". "),
      el("a", { href: "#/experiments" }, "Back to experiments"));
    document.title = "Not found · mltrack";
    return;
  }
  try {
    const view = await import(match.module);
    if (current.token !== token) return;
    const cleanup = await view.render(root, match.params, query);
    if (current.token !== token) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    current.cleanup = cleanup;
  } catch (error) {
    if (current.token !== token) return;
    console.warn("view failed:", error);
    root.replaceChildren(el("h1", {}, "Could not show this page"), el("p", { class: "error-text" },
      (error && error.message) || String(error)));
    if (error instanceof ApiError) showError(error);
  }
}

// -- keyboard ------------------------------------------------------------------------------------
const SHORTCUTS = [
  ["/", "Focus the search box"],
  ["g e", "Go to experiments"],
  ["g m", "Go to models"],
  ["Enter", "Open the focused row"],
  ["j / k", "Move focus to the next / previous row"],
  ["?", "Show this help"],
  ["Esc", "Close a dialog"],
];

function showHelp() {
  if (document.querySelector("dialog.modal")) return;
  const table = el("table", { class: "shortcuts" },
    el("tbody", {}, SHORTCUTS.map(([keys, what]) => el("tr", {}, el("td", {}, keys.split(" ").map((k) =>
      [el("kbd", {}, k), " "])), el("td", {}, what)))));
  const close = el("button", { type: "button", class: "btn btn-primary" }, "Close");
  const dialog = el("dialog", { class: "modal", "aria-labelledby": "help-title" },
    el("h2", { id: "help-title" }, "Keyboard shortcuts"), table, el("div", { class: "actions" }, close));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

function isTyping(target) {
  if (!target || !(target instanceof Element)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function moveRowFocus(step) {
  const rows = [...document.querySelectorAll("#app-main [data-href]")];
  if (!rows.length) return;
  const at = rows.indexOf(document.activeElement?.closest?.("[data-href]"));
  const next = rows[Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + step))];
  next.focus();
}

let pendingG = 0;
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const target = event.target;
  if (event.key === "Enter" && target instanceof Element && target.matches("[data-href]")) {
    event.preventDefault();
    navigate(target.getAttribute("data-href"));
    return;
  }
  if (isTyping(target)) return;
  const now = Date.now();
  if (pendingG && now - pendingG < 1200) {
    pendingG = 0;
    if (event.key === "e") { event.preventDefault(); navigate("#/experiments"); return; }
    if (event.key === "m") { event.preventDefault(); navigate("#/models"); return; }
  }
  if (event.key === "g") { pendingG = now; return; }
  if (event.key === "/") {
    const search = document.querySelector("#app-main [data-search], #app-main input[type='search']");
    if (search) { event.preventDefault(); search.focus(); search.select?.(); }
    return;
  }
  if (event.key === "?") { event.preventDefault(); showHelp(); return; }
  if (event.key === "j") { moveRowFocus(1); return; }
  if (event.key === "k") { moveRowFocus(-1); }
});

document.getElementById("help-button")?.addEventListener("click", showHelp);
window.addEventListener("hashchange", renderRoute);
renderRoute();

// For views that want to reach the API without importing api.js twice (same module instance anyway).
export { api };
