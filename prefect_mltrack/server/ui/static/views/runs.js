// Runs table (#/experiments/:id, or several: #/experiments?ids=1,2).
//
// Server-side everything: one runs/search per page (100 runs, page tokens kept in a stack), sorting
// by order_by, filtering with MLflow's grammar. Nested runs form a tree: the page shows top-level runs
// (no mlflow.parentRunId tag) and expanding a row fetches its children, at any depth. While a shown
// run is RUNNING the page refreshes every 3 s, keeping expansion, selection and focus.
// URL query: q (search), sort + dir, p/m/t (columns), view (active|deleted|all), flat=1 (no tree).

import { api, mltrackApi } from "../api.js";
import { confirmDialog, live, navigate, setQuery, showError, toast } from "../app.js";
import {
  el, formatDuration, formatTime, formatValue, metricHref, quoteValue, runHref, runMaps, runName, safeUrl, statusBadge,
} from "./runkit.js";
import {
  FIXED_COLUMNS, chosenColumns, columnChooser, defaultColumns, headerCell, keysOf, orderByClause, readColumns,
  writeColumns,
} from "./runs_columns.js";

const PAGE_SIZE = 100;
const CHILD_PAGE = 100;
const PARENT_FILTER = "tags.`mlflow.parentRunId`";
const PREFECT_URL_TAG = "prefect.flow_run_url";
const GROUP_TITLES = { params: "Parameters", metrics: "Metrics", tags: "Tags" };
const VIEW_TYPES = { active: "ACTIVE_ONLY", deleted: "DELETED_ONLY", all: "ALL" };
// Text with a comparison in it is MLflow filter syntax; anything else searches run names.
const FILTER_SHAPE = /[=<>]|\s(I?LIKE|IS|IN|NOT)\s/i;

/** The filter the user means: their MLflow filter, or a run-name search for plain text. */
export function userFilter(text) {
  const t = (text || "").trim();
  if (!t) return "";
  return FILTER_SHAPE.test(t) ? t : `attributes.run_name ILIKE ${quoteValue(`%${t}%`)}`;
}

export async function render(root, params, query) {
  const ids = params.id ? [params.id] : (query.get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const state = {
    ids,
    text: query.get("q") || "",
    sort: query.get("sort") || "attributes.start_time",
    dir: query.get("dir") === "asc" ? "ASC" : "DESC",
    cols: readColumns(query),
    view: VIEW_TYPES[query.get("view")] ? query.get("view") : "active",
    flat: query.get("flat") === "1",
    tokens: [null],
    page: 0,
    runs: [],
    hasNext: false,
    children: new Map(), // run_id -> {runs, token}
    expanded: new Set(),
    counts: {}, // run_id -> number of children
    selected: new Map(), // run_id -> run
    serverKeys: { params: [], metrics: [], tags: [] },
    experiments: {},
    seq: 0,
  };
  if (!ids.length) {
    root.append(el("h1", {}, "No experiment given"), el("a", { href: "#/experiments" }, "Pick experiments"));
    return undefined;
  }

  // -- layout ------------------------------------------------------------------------------------
  const title = el("h1", {}, "Runs");
  const search = el("input", { type: "search", value: state.text, dataset: { search: "" },
    placeholder: "Search run names, or filter: metrics.acc > 0.9 AND params.lr = '0.01'",
    "aria-label": "Search runs (run name text or MLflow filter)", "aria-describedby": "runs-filter-error" });
  const filterError = el("div", { id: "runs-filter-error", class: "error-text", role: "alert" });
  const viewSelect = el("select", { "aria-label": "Which runs" },
    ...Object.keys(VIEW_TYPES).map((v) => el("option", { value: v, selected: v === state.view }, `${v} runs`)));
  const treeBox = el("input", { type: "checkbox", checked: !state.flat, id: "runs-tree" });
  const chooserSlot = el("span");
  const compareButton = el("button", { type: "button", class: "btn", onclick: compareSelected }, "Compare");
  const chartSelect = el("select", { "aria-label": "Chart a metric of the selected runs" });
  const deleteButton = el("button", { type: "button", class: "btn btn-danger", onclick: () => changeLifecycle("delete") },
    "Delete");
  const restoreButton = el("button", { type: "button", class: "btn", onclick: () => changeLifecycle("restore") },
    "Restore");
  const selectionInfo = el("span", { class: "muted", "aria-live": "polite" });
  const thead = el("thead");
  const tbody = el("tbody");
  const table = el("table", { class: "data-table runs-table", "aria-label": "Runs" }, thead, tbody);
  const prev = el("button", { type: "button", class: "btn btn-small", "aria-label": "Previous page",
    onclick: () => turn(-1) }, "‹ Previous");
  const next = el("button", { type: "button", class: "btn btn-small", "aria-label": "Next page",
    onclick: () => turn(1) }, "Next ›");
  const pageInfo = el("span", { class: "muted", "aria-live": "polite" });

  root.append(
    el("div", { class: "breadcrumbs" }, el("a", { href: "#/experiments" }, "Experiments")),
    el("div", { class: "page-header" }, title),
    el("form", { class: "toolbar", role: "search", onsubmit: (event) => { event.preventDefault(); applySearch(); } },
      search, el("button", { type: "submit", class: "btn" }, "Search"), viewSelect,
      el("label", { for: "runs-tree" }, treeBox, " nested tree"), chooserSlot),
    filterError,
    el("div", { class: "toolbar" }, compareButton, chartSelect, deleteButton, restoreButton, selectionInfo),
    el("div", { class: "table-wrap" }, table),
    el("div", { class: "toolbar" }, prev, next, pageInfo),
  );

  viewSelect.addEventListener("change", () => { state.view = viewSelect.value; restart(); });
  treeBox.addEventListener("change", () => { state.flat = !treeBox.checked; restart(); });
  chartSelect.addEventListener("change", () => {
    if (chartSelect.value) navigate(metricHref(chartSelect.value, [...state.selected.keys()]));
  });

  const poller = live(() => load({ quiet: true }));

  // -- URL ---------------------------------------------------------------------------------------
  function syncUrl() {
    const q = new URLSearchParams();
    if (!params.id) q.set("ids", state.ids.join(","));
    if (state.text) q.set("q", state.text);
    if (state.sort !== "attributes.start_time" || state.dir !== "DESC") {
      q.set("sort", state.sort);
      q.set("dir", state.dir.toLowerCase());
    }
    if (state.view !== "active") q.set("view", state.view);
    if (state.flat) q.set("flat", "1");
    if (state.cols.explicit) writeColumns(q, state.cols);
    setQuery(q);
  }

  // -- data --------------------------------------------------------------------------------------
  function topFilter() {
    const filter = userFilter(state.text);
    if (state.flat) return filter;
    return filter ? `${filter} AND ${PARENT_FILTER} IS NULL` : `${PARENT_FILTER} IS NULL`;
  }

  function searchBody(experimentIds, filter, pageToken, maxResults) {
    return {
      experiment_ids: experimentIds, filter, run_view_type: VIEW_TYPES[state.view], max_results: maxResults,
      order_by: [orderByClause(state.sort, state.dir)], page_token: pageToken || undefined,
    };
  }

  async function fetchChildren(run, { more = false } = {}) {
    const previous = state.children.get(run.info.run_id);
    const filter = `${PARENT_FILTER} = ${quoteValue(run.info.run_id)}`;
    const token = more && previous ? previous.token : null;
    const answer = await api("runs/search", { method: "POST",
      body: searchBody([run.info.experiment_id], filter, token, CHILD_PAGE) });
    const runs = [...(more && previous ? previous.runs : []), ...(answer.runs || [])];
    state.children.set(run.info.run_id, { runs, token: answer.next_page_token || null });
    return answer.runs || [];
  }

  async function fetchCounts(runs) {
    if (state.flat || !runs.length) return;
    const answer = await mltrackApi("runs/child-counts", {
      query: { run_ids: runs.map((r) => r.info.run_id).join(","), view_type: VIEW_TYPES[state.view] } });
    Object.assign(state.counts, answer.counts || {});
  }

  /** Load (or refresh) the current page and every expanded subtree, then draw. */
  async function load({ quiet = false } = {}) {
    const seq = ++state.seq;
    if (!quiet) pageInfo.textContent = "Loading…";
    try {
      const answer = await api("runs/search", { method: "POST",
        body: searchBody(state.ids, topFilter(), state.tokens[state.page], PAGE_SIZE) });
      if (seq !== state.seq) return;
      state.runs = answer.runs || [];
      state.tokens[state.page + 1] = answer.next_page_token || null;
      state.hasNext = Boolean(answer.next_page_token);
      const shown = [...state.runs];
      // Re-fetch open subtrees top-down so a refresh keeps them (and shows new children).
      const queue = state.runs.filter((r) => state.expanded.has(r.info.run_id));
      while (queue.length) {
        const batch = queue.splice(0, queue.length);
        const results = await Promise.all(batch.map((run) => fetchChildren(run)));
        for (const children of results) {
          shown.push(...children);
          queue.push(...children.filter((r) => state.expanded.has(r.info.run_id)));
        }
      }
      if (seq !== state.seq) return;
      state.loaded = true;
      // Rows first; the tree toggles follow once the child counts are in (a second, small query).
      draw({ keepChooser: quiet });
      await fetchCounts(shown);
      if (seq !== state.seq) return;
      draw({ keepChooser: true });
      const from = state.page * PAGE_SIZE;
      pageInfo.textContent = state.runs.length
        ? `Page ${state.page + 1} · top-level runs ${from + 1}–${from + state.runs.length}`
        : "";
      poller.setActive(shown.some((r) => r.info.status === "RUNNING"));
    } catch (error) {
      if (seq !== state.seq) return;
      pageInfo.textContent = "";
      if (quiet) throw error;
      showError(error);
    }
  }

  async function restart() {
    state.tokens = [null];
    state.page = 0;
    state.expanded.clear();
    state.children.clear();
    syncUrl();
    await load();
  }

  async function applySearch() {
    const text = search.value.trim();
    filterError.textContent = "";
    const filter = userFilter(text);
    if (filter) {
      try {
        const check = await mltrackApi("runs/check-filter", { query: { filter } });
        if (!check.valid) {
          filterError.textContent = check.message;
          return;
        }
      } catch (error) {
        showError(error);
        return;
      }
    }
    state.text = text;
    await restart();
  }

  function turn(step) {
    const page = state.page + step;
    if (page < 0 || (step > 0 && !state.hasNext)) return;
    state.page = page;
    state.expanded.clear();
    state.children.clear();
    load().then(() => table.scrollIntoView({ block: "start" }));
  }

  function sortBy(sort) {
    if (state.sort === sort) state.dir = state.dir === "DESC" ? "ASC" : "DESC";
    else {
      state.sort = sort;
      state.dir = sort.startsWith("attributes.run_name") || sort.startsWith("params.") ? "ASC" : "DESC";
    }
    restart();
  }

  // -- drawing -----------------------------------------------------------------------------------
  function columns() {
    const all = [...state.runs, ...[...state.children.values()].flatMap((c) => c.runs)];
    const keys = keysOf(all);
    if (!state.cols.explicit) {
      const defaults = defaultColumns(keys);
      for (const kind of ["params", "metrics", "tags"]) state.cols[kind] = defaults[kind];
    }
    const available = {};
    for (const kind of ["params", "metrics", "tags"]) {
      available[kind] = [...new Set([...keys[kind], ...state.serverKeys[kind]])];
    }
    return { available, list: [...FIXED_COLUMNS.filter((c) => !c.multiOnly || state.ids.length > 1),
      ...chosenColumns(state.cols)] };
  }

  function draw({ keepChooser = false } = {}) {
    const focus = rememberFocus();
    const { available, list } = columns();
    const wasOpen = Boolean(chooserSlot.querySelector("details")?.open);
    // A live refresh leaves an open chooser alone (the user may be typing in its filter box).
    if (!(keepChooser && wasOpen)) drawChooser(available, wasOpen);
    drawBody(list, focus);
  }

  function drawChooser(available, open) {
    const chooser = columnChooser(available, state.cols, (cols) => {
      state.cols = cols;
      syncUrl();
      draw();
    });
    chooser.open = open;
    chooserSlot.replaceChildren(chooser);
  }

  function drawBody(list, focus) {
    const all = el("input", { type: "checkbox", "aria-label": "Select all shown runs",
      checked: state.runs.length > 0 && state.runs.every((r) => state.selected.has(r.info.run_id)) });
    all.addEventListener("change", () => {
      for (const run of state.runs) {
        if (all.checked) state.selected.set(run.info.run_id, run); else state.selected.delete(run.info.run_id);
      }
      draw();
    });
    const groups = [];
    for (const column of list) {
      const last = groups[groups.length - 1];
      if (last && last.group === column.group) last.span += 1;
      else groups.push({ group: column.group, span: 1 });
    }
    const groupRow = el("tr", { class: "group-row" }, el("td", { colspan: 1 }),
      groups.map((g) => (g.group
        ? el("th", { scope: "colgroup", colspan: g.span, class: `group-${g.group}` }, GROUP_TITLES[g.group])
        : el("td", { colspan: g.span }))));
    thead.replaceChildren(...(groups.some((g) => g.group) ? [groupRow] : []),
      el("tr", {}, el("th", { scope: "col" }, all), ...list.map((c) => headerCell(c, state, sortBy))));
    const rows = [];
    const addRows = (runs, depth) => {
      for (const run of runs) {
        rows.push(runRow(run, depth, list));
        const id = run.info.run_id;
        if (!state.flat && state.expanded.has(id)) {
          const node = state.children.get(id);
          if (node) {
            addRows(node.runs, depth + 1);
            if (node.token) rows.push(moreRow(run, depth + 1, list.length + 1));
          }
        }
      }
    };
    addRows(state.runs, 0);
    if (!rows.length) {
      rows.push(el("tr", {}, el("td", { colspan: list.length + 1, class: "empty" },
        state.text ? "No runs match this search." : "No runs in this view yet.")));
    }
    tbody.replaceChildren(...rows);
    prev.disabled = state.page === 0;
    next.disabled = !state.hasNext;
    drawSelection();
    restoreFocus(focus);
  }

  function runRow(run, depth, list) {
    const info = run.info;
    const id = info.run_id;
    const maps = runMaps(run);
    const href = runHref(info.experiment_id, id);
    const box = el("input", { type: "checkbox", "aria-label": `Select run ${runName(run)}`, checked: state.selected.has(id) });
    box.addEventListener("change", () => {
      if (box.checked) state.selected.set(id, run); else state.selected.delete(id);
      tr.classList.toggle("selected", box.checked);
      drawSelection();
    });
    const tr = el("tr", { tabindex: "0", class: state.selected.has(id) ? "selected" : null,
      dataset: { href, runId: id, depth: String(depth) } }, el("td", {}, box));
    for (const column of list) tr.append(cell(column, run, maps, depth));
    return tr;
  }

  function cell(column, run, maps, depth) {
    const info = run.info;
    switch (column.id) {
      case "name": {
        const count = state.counts[info.run_id] || 0;
        const open = state.expanded.has(info.run_id);
        const toggle = !state.flat && count
          ? el("button", { type: "button", class: "tree-toggle", "aria-expanded": String(open),
            "aria-label": `${open ? "Collapse" : "Expand"} child runs of ${runName(run)}`,
            onclick: () => toggleRun(run) }, open ? "▾" : "▸")
          : el("span", { class: "tree-spacer", "aria-hidden": "true" });
        const deleted = info.lifecycle_stage === "deleted" ? el("span", { class: "muted" }, " (deleted)") : null;
        return el("td", { class: "run-name", style: `padding-left: ${8 + depth * 20}px` }, toggle,
          el("a", { href: runHref(info.experiment_id, info.run_id) }, runName(run)),
          count ? el("span", { class: "muted child-count" }, ` (${count})`) : null, deleted);
      }
      case "status": return el("td", {}, statusBadge(info.status));
      case "start": return el("td", {}, formatTime(info.start_time));
      case "duration": return el("td", { class: "num" }, formatDuration(info));
      case "user": return el("td", {}, info.user_id || "");
      case "experiment": {
        const experiment = state.experiments[info.experiment_id];
        return el("td", {}, el("a", { href: `#/experiments/${encodeURIComponent(info.experiment_id)}` },
          experiment ? experiment.name : info.experiment_id));
      }
      case "prefect": {
        const url = safeUrl(maps.tags[PREFECT_URL_TAG]);
        return el("td", {}, url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer",
          title: "Open the Prefect flow run" }, "flow run ↗") : "");
      }
      default: {
        const value = maps[column.kind][column.key];
        return el("td", { class: column.kind === "metrics" ? "num" : null, dataset: { col: column.id } },
          column.kind === "metrics" ? formatValue(value) : value ?? "");
      }
    }
  }

  function moreRow(parent, depth, span) {
    const button = el("button", { type: "button", class: "link-button", onclick: async () => {
      try {
        await fetchChildren(parent, { more: true });
        await fetchCounts(state.children.get(parent.info.run_id).runs);
        draw();
      } catch (error) {
        showError(error);
      }
    } }, "Show more child runs…");
    return el("tr", {}, el("td", {}), el("td", { colspan: span - 1, style: `padding-left: ${28 + depth * 20}px` }, button));
  }

  async function toggleRun(run) {
    const id = run.info.run_id;
    if (state.expanded.has(id)) {
      state.expanded.delete(id);
      draw();
      return;
    }
    try {
      const children = await fetchChildren(run);
      state.expanded.add(id);
      await fetchCounts(children);
      draw();
      if (children.some((r) => r.info.status === "RUNNING")) poller.setActive(true);
    } catch (error) {
      showError(error);
    }
  }

  function drawSelection() {
    const selected = [...state.selected.values()];
    const count = selected.length;
    compareButton.disabled = count < 1;
    deleteButton.disabled = count < 1 || state.view === "deleted";
    restoreButton.hidden = state.view === "active";
    restoreButton.disabled = count < 1;
    deleteButton.hidden = state.view === "deleted";
    selectionInfo.textContent = count ? `${count} selected` : "Select runs to compare, chart or delete them";
    const metricKeys = [...new Set(selected.flatMap((r) => (r.data?.metrics || []).map((m) => m.key)))].sort();
    chartSelect.replaceChildren(el("option", { value: "" }, count ? "Chart a metric…" : "Chart (select runs)"),
      ...metricKeys.map((key) => el("option", { value: key }, key)));
    chartSelect.disabled = !metricKeys.length;
  }

  function rememberFocus() {
    const active = document.activeElement;
    if (!active || !tbody.contains(active)) return null;
    const row = active.closest("tr");
    const cellIndex = active === row ? -1 : [...row.children].indexOf(active.closest("td"));
    return { runId: row?.dataset.runId, cellIndex, tag: active.tagName };
  }

  function restoreFocus(focus) {
    if (!focus || !focus.runId) return;
    const row = tbody.querySelector(`tr[data-run-id="${CSS.escape(focus.runId)}"]`);
    if (!row) return;
    if (focus.cellIndex < 0) { row.focus(); return; }
    const target = row.children[focus.cellIndex]?.querySelector("button, a, input") || row;
    target.focus();
  }

  // -- actions -----------------------------------------------------------------------------------
  function compareSelected() {
    const runIds = [...state.selected.keys()];
    if (runIds.length) navigate(`#/compare-runs?runs=${runIds.map(encodeURIComponent).join(",")}`);
  }

  async function changeLifecycle(action) {
    const runs = [...state.selected.values()];
    if (!runs.length) return;
    const ok = await confirmDialog({
      title: `${action === "delete" ? "Delete" : "Restore"} ${runs.length} run(s)?`,
      message: action === "delete" ? "Deleted runs can be restored from the \"deleted runs\" view." : "",
      okLabel: action === "delete" ? "Delete" : "Restore", danger: action === "delete",
    });
    if (!ok) return;
    try {
      for (const run of runs) await api(`runs/${action}`, { method: "POST", body: { run_id: run.info.run_id } });
      toast(`${runs.length} run(s) ${action === "delete" ? "deleted" : "restored"}`);
      state.selected.clear();
      await load();
    } catch (error) {
      showError(error);
      await load();
    }
  }

  // -- start ---------------------------------------------------------------------------------------
  const experimentsReady = Promise.all(state.ids.map((id) => api("experiments/get", { query: { experiment_id: id } })
    .then((a) => a.experiment).catch(() => null))).then((found) => {
    for (const experiment of found) if (experiment) state.experiments[experiment.experiment_id] = experiment;
    const names = state.ids.map((id) => state.experiments[id]?.name || id);
    title.textContent = names.length === 1 ? names[0] : `Runs of ${names.join(", ")}`;
    document.title = `${names.join(", ")} · mltrack`;
  });
  mltrackApi("runs/keys", { query: { experiment_ids: state.ids.join(",") } })
    .then((keys) => {
      state.serverKeys = { params: keys.params || [], metrics: keys.metrics || [], tags: keys.tags || [] };
      if (state.loaded) draw();
    })
    .catch(() => {});
  if (state.text) {
    const check = await mltrackApi("runs/check-filter", { query: { filter: userFilter(state.text) } }).catch(() => null);
    if (check && !check.valid) {
      filterError.textContent = check.message;
      state.text = "";
    }
  }
  await Promise.all([load(), experimentsReady]);
  if (state.ids.length > 1) draw();
  return () => poller.stop();
}
