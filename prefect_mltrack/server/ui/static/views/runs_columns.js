// Columns of the runs table: the fixed ones, the chosen params/metrics/tags, sorting, the chooser.
//
// Chosen columns live in the URL (p=<param>&m=<metric>&t=<tag>, repeated), so a deep link shows
// the same table. Sorting is server-side: each sortable column maps to an MLflow order_by clause.
//
// Example:
//   const cols = readColumns(query);                   // {params: [...], metrics: [...], tags: [...], explicit}
//   orderByClause("metrics.val/acc", "DESC")            // "metrics.`val/acc` DESC"

import { el } from "./runkit.js";

export const KINDS = [
  ["params", "p", "Params", "param"],
  ["metrics", "m", "Metrics", "metric"],
  ["tags", "t", "Tags", "tag"],
];
const DEFAULT_PER_KIND = { params: 5, metrics: 5, tags: 0 };
// Tags the table shows in its own columns (or that are internal): not offered as tag columns.
const HIDDEN_TAGS = new Set(["mlflow.runName", "mlflow.parentRunId", "mlflow.user", "mlflow.note.content"]);

export const FIXED_COLUMNS = [
  { id: "name", label: "Run name", sort: "attributes.run_name" },
  { id: "status", label: "Status", sort: "attributes.status" },
  { id: "start", label: "Started", sort: "attributes.start_time" },
  { id: "duration", label: "Duration" },
  { id: "user", label: "User", sort: "attributes.user_id" },
  { id: "experiment", label: "Experiment", sort: "attributes.experiment_id", multiOnly: true },
  { id: "prefect", label: "Prefect" },
];

/** Chosen columns from the URL; `explicit` is false when the URL names none (defaults apply). */
export function readColumns(query) {
  const cols = { explicit: false };
  for (const [kind, letter] of KINDS) {
    if (query.has(letter)) cols.explicit = true;
    cols[kind] = [...new Set(query.getAll(letter).filter(Boolean))];
  }
  return cols;
}

/** Write chosen columns into `query` (an empty marker keeps "none chosen" explicit). */
export function writeColumns(query, cols) {
  for (const [kind, letter] of KINDS) {
    query.delete(letter);
    for (const key of cols[kind]) query.append(letter, key);
  }
  if (cols.explicit && KINDS.every(([kind]) => cols[kind].length === 0)) query.append("m", "");
}

/** The keys seen in `runs`, per kind, sorted. */
export function keysOf(runs) {
  const found = { params: new Set(), metrics: new Set(), tags: new Set() };
  for (const run of runs) {
    for (const [kind] of KINDS) for (const item of run.data?.[kind] || []) found[kind].add(item.key);
  }
  for (const key of HIDDEN_TAGS) found.tags.delete(key);
  return Object.fromEntries(Object.entries(found).map(([kind, keys]) => [kind, [...keys].sort()]));
}

/** Default columns for a first visit: a few params and metrics of the page. */
export function defaultColumns(keys) {
  const cols = { explicit: false };
  for (const [kind] of KINDS) cols[kind] = (keys[kind] || []).slice(0, DEFAULT_PER_KIND[kind]);
  return cols;
}

/** "metrics.acc" -> ["metrics", "acc"] (keys may contain dots). */
export function splitSort(sort) {
  const at = sort.indexOf(".");
  return at < 0 ? ["attributes", sort] : [sort.slice(0, at), sort.slice(at + 1)];
}

/** An order_by clause for MLflow's search: keys backtick-quoted. */
export function orderByClause(sort, direction) {
  const [kind, key] = splitSort(sort);
  const quoted = kind === "attributes" ? key : `\`${key.replace(/`/g, "")}\``;
  return `${kind}.${quoted} ${direction}`;
}

/** The dynamic columns for the chosen keys. */
export function chosenColumns(cols) {
  const out = [];
  for (const [kind, , , singular] of KINDS) {
    for (const key of cols[kind]) {
      out.push({ id: `${kind}:${key}`, kind, key, label: key, sort: `${kind}.${key}`, group: kind, singular });
    }
  }
  return out;
}

/** A header cell; sortable columns get a button that reports clicks to `onSort(sort)`. */
export function headerCell(column, state, onSort) {
  const classes = [column.group ? `group-${column.group}` : "", column.kind === "metrics" ? "num" : ""].join(" ");
  const th = el("th", { scope: "col", class: classes.trim() || null, title: column.singular ? `${column.singular}: ${column.key}` : null });
  if (!column.sort) {
    th.append(column.label);
    return th;
  }
  const active = state.sort === column.sort;
  if (active) th.setAttribute("aria-sort", state.dir === "ASC" ? "ascending" : "descending");
  const what = column.singular ? `${column.singular} ${column.key}` : column.label;
  th.append(el("button", { type: "button", class: "sort", "aria-label": `Sort by ${what}`,
    onclick: () => onSort(column.sort) }, column.label));
  return th;
}

/**
 * The column chooser: a disclosure with a filter box and one checkbox per key.
 * `available` is {params, metrics, tags} of keys; `onChange(cols)` gets the new choice.
 */
export function columnChooser(available, cols, onChange) {
  const details = el("details", { class: "chooser" });
  const summary = el("summary", { class: "btn", "aria-label": "Choose columns" }, "Columns");
  const filter = el("input", { type: "search", placeholder: "Filter keys", "aria-label": "Filter column keys" });
  const groups = el("div", { class: "chooser-groups" });
  const draw = () => {
    const text = filter.value.trim().toLowerCase();
    groups.replaceChildren(...KINDS.map(([kind, , title, singular]) => {
      const keys = [...new Set([...(available[kind] || []), ...cols[kind]])].sort()
        .filter((key) => !text || key.toLowerCase().includes(text));
      return el("fieldset", {}, el("legend", {}, title),
        keys.length ? keys.map((key) => {
          const box = el("input", { type: "checkbox", checked: cols[kind].includes(key), dataset: { kind, key } });
          box.addEventListener("change", () => {
            const next = { ...cols, explicit: true };
            for (const [k] of KINDS) next[k] = [...cols[k]];
            next[kind] = box.checked ? [...next[kind], key] : next[kind].filter((item) => item !== key);
            onChange(next);
          });
          return el("label", { class: "chooser-item", title: `${singular} ${key}` }, box, " ", key);
        }) : el("div", { class: "muted" }, "none"));
    }));
  };
  filter.addEventListener("input", draw);
  details.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && details.open) {
      details.open = false;
      summary.focus();
    }
  });
  draw();
  details.append(summary, el("div", { class: "chooser-panel" }, filter, groups));
  return details;
}
