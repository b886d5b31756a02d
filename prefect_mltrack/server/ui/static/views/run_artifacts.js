// The run page's artifact browser: a lazy tree (artifacts/list) and previews of the chosen file.
//
// The chosen path is part of the route (#/experiments/:id/runs/:runId/artifacts/<path>), so a preview
// can be shared as a link. Previews come from /ajax-api/2.0/mltrack/artifacts/preview (capped at
// 10 MiB). Nothing from an artifact is ever rendered as markup: text (HTML and SVG included) goes into
// <pre> through textContent, CSV into table cells, and images into <img> from a blob: URL only for
// PNG/JPEG/GIF/WebP. MLmodel files get a summary: flavors, signature and how to load the model.
//
// Example:
//   const browser = renderArtifacts(section, { run, experimentId: "1", initialPath: "model/MLmodel" });
//   await browser.ready; ...; browser.cleanup();

import { api, apiUrl, MLTRACK } from "../api.js";
import { replaceRoute } from "../app.js";
import { el } from "./runkit.js";

export const PREVIEW_LIMIT = 10 * 1024 * 1024;
const CSV_ROWS = 500;
const SNIFF_LIMIT = 1024 * 1024;
const IMAGE_TYPES = new Set(["png", "jpg", "jpeg", "gif", "webp"]);
const TEXT_TYPES = new Set(["txt", "log", "py", "md", "markdown", "rst", "yaml", "yml", "toml", "ini", "cfg", "conf",
  "r", "sql", "sh", "jsonl", "ndjson", "html", "htm", "xhtml", "svg", "xml", "js", "mjs", "css", "ts", "ipynb", "out",
  "err", "env"]);
const TEXT_NAMES = new Set(["MLproject", "LICENSE", "README", "Dockerfile", "Makefile"]);
const MARKUP_TYPES = new Set(["html", "htm", "xhtml", "svg", "xml"]);

/** File size as "12 B", "3.4 KiB", "1.2 MiB". */
export function formatBytes(size) {
  const n = Number(size);
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}

/** Parse CSV/TSV text (quotes, doubled quotes, newlines inside quotes) into at most `limit` rows. */
export function parseDelimited(text, delimiter = ",", limit = Infinity) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < limit; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if ((field !== "" || row.length) && rows.length < limit) { row.push(field); rows.push(row); }
  return rows;
}

function extension(path) {
  const name = path.split("/").pop();
  const at = name.lastIndexOf(".");
  return at > 0 ? name.slice(at + 1).toLowerCase() : "";
}

function artifactRoute(experimentId, runId, path) {
  const base = `#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
  return path ? `${base}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}` : base;
}

export function renderArtifacts(box, { run, experimentId, initialPath = "" }) {
  const runId = run.info.run_id;
  const tree = el("ul", { class: "artifact-tree", role: "tree", "aria-label": "Artifact files" });
  const preview = el("div", { class: "artifact-preview", "aria-live": "polite" });
  const blobUrls = [];
  const listings = new Map(); // dir path -> files
  const expanded = new Set();
  let selected = "";
  let previewSeq = 0;
  box.replaceChildren(el("h2", {}, "Artifacts"),
    el("div", { class: "artifact-browser" }, el("nav", { class: "card artifact-nav", "aria-label": "Artifact tree" }, tree),
      el("div", { class: "card" }, preview)));

  async function list(path) {
    if (!listings.has(path)) {
      const answer = await api("artifacts/list", { query: { run_id: runId, path: path || undefined } });
      listings.set(path, (answer.files || []).slice().sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path)));
    }
    return listings.get(path);
  }

  function drawTree() {
    const build = (path, depth) => (listings.get(path) || []).map((file) => {
      const name = file.path.split("/").pop();
      if (file.is_dir) {
        const open = expanded.has(file.path);
        const button = el("button", { type: "button", class: "tree-item", "aria-expanded": String(open),
          style: `padding-left: ${depth * 14 + 4}px`, onclick: () => toggleDir(file.path) }, open ? "▾ " : "▸ ", `${name}/`);
        const item = el("li", { role: "treeitem", "aria-expanded": String(open) }, button);
        if (open) item.append(el("ul", { role: "group" }, build(file.path, depth + 1)));
        return item;
      }
      const button = el("button", { type: "button", class: "tree-item", "aria-current": file.path === selected ? "true" : null,
        style: `padding-left: ${depth * 14 + 18}px`, onclick: () => select(file.path) },
      name, el("span", { class: "muted size" }, ` ${formatBytes(file.file_size)}`));
      return el("li", { role: "treeitem", "aria-selected": String(file.path === selected) }, button);
    });
    const items = build("", 0);
    tree.replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "No artifacts logged.")]));
  }

  async function toggleDir(path) {
    if (expanded.has(path)) expanded.delete(path);
    else {
      await list(path);
      expanded.add(path);
    }
    drawTree();
  }

  function fileInfo(path) {
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    return (listings.get(parent) || []).find((f) => f.path === path);
  }

  async function select(path) {
    selected = path;
    replaceRoute(artifactRoute(experimentId, runId, path));
    drawTree();
    await showPreview(path, fileInfo(path));
  }

  function downloadLink(path) {
    const href = apiUrl("artifacts/download", { base: MLTRACK, query: { run_id: runId, path } });
    return el("a", { class: "btn btn-small", href, download: path.split("/").pop() }, "Download");
  }

  async function showPreview(path, info) {
    const seq = ++previewSeq;
    const size = info?.file_size;
    const body = el("div", { class: "preview-body" }, el("p", { class: "muted" }, "Loading…"));
    preview.replaceChildren(el("div", { class: "page-header" }, el("h3", { class: "mono" }, path),
      el("span", { class: "muted" }, formatBytes(size)), el("span", { class: "spacer" }), downloadLink(path)), body);
    const name = path.split("/").pop();
    const ext = extension(path);
    try {
      if (size > PREVIEW_LIMIT) {
        body.replaceChildren(el("p", {}, `This file is ${formatBytes(size)}: too large to preview (limit ${formatBytes(PREVIEW_LIMIT)}); download it.`));
        return;
      }
      if (name === "MLmodel") {
        const answer = await api("artifacts/mlmodel", { base: MLTRACK, query: { run_id: runId, path } });
        if (seq === previewSeq) body.replaceChildren(modelSummary(answer.mlmodel, path));
        return;
      }
      const response = await fetch(apiUrl("artifacts/preview", { base: MLTRACK, query: { run_id: runId, path } }),
        { credentials: "same-origin" });
      if (!response.ok) {
        const error = await response.json().catch(() => ({}));
        throw new Error(error.message || `HTTP ${response.status}`);
      }
      if (seq !== previewSeq) return;
      if (IMAGE_TYPES.has(ext)) {
        const url = URL.createObjectURL(await response.blob());
        blobUrls.push(url);
        body.replaceChildren(el("img", { class: "artifact-image", src: url, alt: `Image artifact ${name}` }));
        return;
      }
      if (ext === "json") {
        const text = await response.text();
        let pretty = text;
        try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as it is */ }
        body.replaceChildren(el("pre", { class: "artifact-text", dataset: { kind: "json" } }, pretty));
        return;
      }
      if (ext === "csv" || ext === "tsv") {
        body.replaceChildren(csvTable(await response.text(), ext === "tsv" ? "\t" : ","));
        return;
      }
      if (TEXT_TYPES.has(ext) || TEXT_NAMES.has(name) || size === 0) {
        const note = MARKUP_TYPES.has(ext)
          ? el("p", { class: "muted" }, "Shown as source: markup from artifacts is never rendered here.") : null;
        body.replaceChildren(...[note, el("pre", { class: "artifact-text", dataset: { kind: "text" } }, await response.text())].filter(Boolean));
        return;
      }
      if (size !== undefined && size <= SNIFF_LIMIT) {
        const bytes = new Uint8Array(await response.arrayBuffer());
        let text = null;
        try {
          text = bytes.includes(0) ? null : new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch { text = null; }
        if (text !== null) {
          body.replaceChildren(el("pre", { class: "artifact-text", dataset: { kind: "text" } }, text));
          return;
        }
      }
      body.replaceChildren(el("p", { class: "muted" }, "No preview for this kind of file; download it."));
    } catch (error) {
      if (seq === previewSeq) body.replaceChildren(el("p", { class: "error-text" }, `Could not preview: ${error.message}`));
    }
  }

  function csvTable(text, delimiter) {
    const rows = parseDelimited(text, delimiter, CSV_ROWS + 1);
    if (!rows.length) return el("p", { class: "muted" }, "Empty file.");
    const [head, ...rest] = rows;
    const more = rest.length >= CSV_ROWS ? el("p", { class: "muted" }, `Showing the first ${CSV_ROWS} rows; download the file for all of them.`) : null;
    return el("div", {}, more, el("div", { class: "table-wrap csv-wrap" }, el("table", { class: "data-table csv-table", "aria-label": "CSV preview" },
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rest.map((row) => el("tr", {}, row.map((value) => el("td", {}, value))))))));
  }

  function modelSummary(model, path) {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    const uri = dir ? `runs:/${runId}/${dir}` : `runs:/${runId}`;
    const flavors = model.flavors && typeof model.flavors === "object" ? model.flavors : {};
    const scalar = (v) => (v === null || typeof v !== "object" ? String(v) : JSON.stringify(v));
    const flavorCards = Object.entries(flavors).map(([flavor, conf]) => el("div", { class: "flavor" },
      el("h4", {}, flavor), el("dl", { class: "kv" }, Object.entries(conf || {}).filter(([, v]) => v === null || typeof v !== "object" || Array.isArray(v))
        .flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, scalar(v))]))));
    const signature = model.signature || {};
    const info = ["run_id", "model_uuid", "utc_time_created", "artifact_path", "mlflow_version", "model_size_bytes"]
      .filter((k) => model[k] !== undefined).flatMap((k) => [el("dt", {}, k), el("dd", { class: "mono" }, scalar(model[k]))]);
    const code = `import prefect_mltrack.pyfunc\n\nmodel = prefect_mltrack.pyfunc.load_model("${uri}")\npredictions = model.predict(data)`;
    return el("div", { class: "mlmodel-summary" },
      el("h4", {}, "How to load"), el("pre", { class: "load-snippet" }, code),
      el("h4", {}, `Flavors (${Object.keys(flavors).length})`), el("div", { class: "flavors" }, flavorCards),
      el("h4", {}, "Signature"),
      signature.inputs || signature.outputs
        ? el("div", { class: "grid-2" }, schemaTable("Inputs", signature.inputs), schemaTable("Outputs", signature.outputs))
        : el("p", { class: "muted" }, "No signature logged with this model."),
      signature.params ? schemaTable("Params", signature.params) : null,
      model.saved_input_example_info ? el("p", {}, "Input example: ",
        el("span", { class: "mono" }, scalar(model.saved_input_example_info.artifact_path || model.saved_input_example_info))) : null,
      info.length ? el("dl", { class: "kv" }, info) : null);
  }

  function schemaTable(title, schema) {
    if (!Array.isArray(schema)) return el("p", { class: "muted" }, `${title}: none`);
    const typeOf = (col) => col.type === "tensor"
      ? `tensor ${col["tensor-spec"]?.dtype ?? ""} ${JSON.stringify(col["tensor-spec"]?.shape ?? [])}`
      : String(col.type ?? "");
    return el("table", { class: "data-table schema-table", "aria-label": `Signature ${title.toLowerCase()}` },
      el("caption", {}, title),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "Type"),
        el("th", { scope: "col" }, "Required"))),
      el("tbody", {}, schema.map((col) => el("tr", {}, el("td", {}, col.name ?? "(unnamed)"), el("td", { class: "mono" }, typeOf(col)),
        el("td", {}, col.required === false ? "no" : "yes")))));
  }

  async function start() {
    try {
      await list("");
      if (initialPath) {
        const parts = initialPath.split("/").filter(Boolean);
        for (let i = 1; i < parts.length; i += 1) {
          const dir = parts.slice(0, i).join("/");
          await list(dir);
          expanded.add(dir);
        }
        const target = parts.join("/");
        const info = fileInfo(target);
        if (info?.is_dir) {
          await list(target);
          expanded.add(target);
        } else if (info) {
          selected = target;
          drawTree();
          await showPreview(target, info);
          return;
        } else {
          preview.replaceChildren(el("p", { class: "error-text" }, `No artifact at ${target}.`));
        }
      } else {
        preview.replaceChildren(el("p", { class: "muted" }, "Choose a file to preview it."));
      }
      drawTree();
    } catch (error) {
      tree.replaceChildren(el("li", { class: "error-text" }, `Could not list artifacts: ${error.message}`));
    }
  }

  return {
    ready: start(),
    cleanup() {
      previewSeq += 1;
      for (const url of blobUrls) URL.revokeObjectURL(url);
    },
  };
}
