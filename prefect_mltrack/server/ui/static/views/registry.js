// The model registry pages:
//   #/models                        registered models (search by name, paged on the server)
//   #/models/:name                  one model: description, tags, aliases, versions, where each is deployed
//   #/models/:name/versions/:v      one version (views/registry_version.js)
//
// "Where deployed" is the version tag the deploy flow writes (prefect_mltrack/deploy.py DEPLOYED_TAG)
// with the model server's base URL.
//
// Example:
//   location.hash = "#/models?q=iris";

import { api } from "../api.js";
import { showError } from "../app.js";
import { formatTime, h, loadCss, runHref } from "./viewkit.js";

export const DEPLOYED_TAG = "mltrack.deployment.server";
const PAGE_SIZE = 50;

/** A filter-string literal: quoted with the quote the text does not contain (the grammar has no escapes). */
export function quoteFilter(text) {
  if (!text.includes("'")) return `'${text}'`;
  if (!text.includes('"')) return `"${text}"`;
  return `'${text.replaceAll("'", "")}'`;
}

export function modelHref(name, version) {
  const base = `#/models/${encodeURIComponent(name)}`;
  return version === undefined ? base : `${base}/versions/${encodeURIComponent(version)}`;
}

/** Tags (a wire list of {key, value}) as a Map. */
export function tagMap(tags) {
  return new Map((tags || []).map((t) => [t.key, t.value ?? ""]));
}

/** The "deployed on" cell of a version: the model server's URL and its invocation endpoint. */
export function deployedCell(name, tags) {
  const server = tagMap(tags).get(DEPLOYED_TAG);
  if (!server) return h("span", { class: "muted" }, "—");
  const endpoint = `${server.replace(/\/+$/, "")}/models/${encodeURIComponent(name)}/invocations`;
  const safe = /^https?:\/\//i.test(server);
  return h(
    "span",
    { class: "mt-deployed", dataset: { deployed: server } },
    safe ? h("a", { href: server, rel: "noopener noreferrer", target: "_blank" }, server) : server,
    h("code", { class: "mt-endpoint", title: "Invocation endpoint" }, endpoint),
  );
}

export function chips(items, className = "mt-chip") {
  if (!items.length) return h("span", { class: "muted" }, "—");
  return h("span", { class: "mt-chips" }, items.map((text) => h("span", { class: className }, text)));
}

export function stageBadge(stage) {
  const value = stage || "None";
  return h("span", { class: `mt-stage mt-stage-${value.toLowerCase()}` }, value);
}

/** An editable text (description): shown as text, "Edit" swaps in a textarea, "Save" calls `save`. */
export function editableText(label, value, save) {
  const shown = h("p", { class: "mt-description" }, value || "No description.");
  if (!value) shown.classList.add("muted");
  const area = h("textarea", { rows: "4", "aria-label": label });
  const status = h("span", { class: "mt-status muted", role: "status" });
  const editor = h("div", { class: "mt-editor", hidden: true }, area);
  const edit = h("button", { type: "button", class: "btn btn-small" }, "Edit");
  const saveButton = h("button", { type: "button", class: "btn btn-small btn-primary" }, "Save");
  const cancel = h("button", { type: "button", class: "btn btn-small" }, "Cancel");
  const editActions = h("span", { hidden: true }, saveButton, cancel);
  const close = () => {
    editor.hidden = true;
    editActions.hidden = true;
    edit.hidden = false;
    shown.hidden = false;
  };
  edit.addEventListener("click", () => {
    area.value = value || "";
    editor.hidden = false;
    editActions.hidden = false;
    edit.hidden = true;
    shown.hidden = true;
    area.focus();
  });
  cancel.addEventListener("click", close);
  saveButton.addEventListener("click", async () => {
    try {
      await save(area.value);
      value = area.value;
      shown.textContent = value || "No description.";
      shown.classList.toggle("muted", !value);
      status.textContent = "Saved.";
      close();
    } catch (error) {
      status.textContent = "Not saved.";
      showError(error);
    }
  });
  return h(
    "section",
    { class: "card mt-card", "aria-label": label },
    h("div", { class: "toolbar" }, h("h2", {}, label), h("span", { class: "spacer" }), edit, editActions),
    shown,
    editor,
    status,
  );
}

/** A tags table with add and remove; `set(key, value)` and `remove(key)` call the API. */
export function tagEditor(tags, { set, remove }) {
  const body = h("tbody");
  const draw = () => {
    body.replaceChildren(
      ...[...tags.entries()].map(([key, value]) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, key),
          h("td", { class: "wrap" }, value),
          h(
            "td",
            { class: "num" },
            h(
              "button",
              {
                type: "button",
                class: "btn btn-small",
                "aria-label": `Remove tag ${key}`,
                onclick: async () => {
                  try {
                    await remove(key);
                    tags.delete(key);
                    draw();
                  } catch (error) {
                    showError(error);
                  }
                },
              },
              "Remove",
            ),
          ),
        ),
      ),
    );
    if (!tags.size) body.append(h("tr", {}, h("td", { colspan: "3", class: "muted" }, "No tags.")));
  };
  draw();
  const keyInput = h("input", { name: "tag-key", placeholder: "key", required: true, "aria-label": "Tag key" });
  const valueInput = h("input", { name: "tag-value", placeholder: "value", "aria-label": "Tag value" });
  const form = h(
    "form",
    {
      class: "mt-inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = keyInput.value.trim();
        if (!key) return;
        try {
          await set(key, valueInput.value);
          tags.set(key, valueInput.value);
          keyInput.value = "";
          valueInput.value = "";
          draw();
        } catch (error) {
          showError(error);
        }
      },
    },
    keyInput,
    valueInput,
    h("button", { type: "submit", class: "btn" }, "Add tag"),
  );
  return h(
    "section",
    { class: "card mt-card", "aria-label": "Tags" },
    h("h2", {}, "Tags"),
    h("table", { class: "data-table mt-tags" }, body),
    form,
  );
}

/** Run ids → runs/get answers (missing or deleted runs map to null); used for lineage links. */
export async function fetchRunsById(runIds) {
  const unique = [...new Set(runIds.filter(Boolean))];
  const answers = await Promise.all(unique.map((run_id) => api("runs/get", { query: { run_id } }).then((a) => a.run, () => null)));
  return new Map(unique.map((id, i) => [id, answers[i]]));
}

export function runLink(runId, runs) {
  if (!runId) return h("span", { class: "muted" }, "—");
  const run = runs.get(runId);
  if (!run) return h("span", { title: "The run is deleted or unknown" }, runId.slice(0, 8));
  return h("a", { href: runHref(run.info.experiment_id, runId), class: "mt-run-link" }, run.info.run_name || runId.slice(0, 8));
}

// -- #/models -------------------------------------------------------------------------------------
/** A table row that opens `href` on Enter and takes part in j/k row focus (the shell's keyboard). */
function linkRow(href, dataset, ...cells) {
  return h("tr", { tabindex: "0", "data-href": href, dataset }, ...cells);
}

async function renderList(root, query) {
  document.title = "Models · mltrack";
  const text = query.get("q") || "";
  const search = h("input", {
    type: "search",
    name: "q",
    value: text,
    placeholder: "Search models by name",
    "aria-label": "Search models by name",
    "data-search": "",
  });
  const form = h(
    "form",
    {
      class: "toolbar",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const q = search.value.trim();
        location.hash = q ? `#/models?q=${encodeURIComponent(q)}` : "#/models";
      },
    },
    search,
    h("button", { type: "submit", class: "btn" }, "Search"),
  );
  const body = h("tbody");
  const more = h("button", { type: "button", class: "btn", hidden: true }, "Load more");
  const headers = ["Name", "Latest version", "Aliases", "Tags", "Last modified"];
  const table = h(
    "table",
    { class: "data-table mt-models-table" },
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
  root.append(h("div", { class: "page-header" }, h("h1", {}, "Registered models")), form, h("div", { class: "table-wrap" }, table), more);

  const filter = text ? `name ILIKE ${quoteFilter(`%${text}%`)}` : undefined;
  let token;
  const loadPage = async () => {
    const answer = await api("registered-models/search", {
      query: { filter, max_results: PAGE_SIZE, page_token: token, order_by: "last_updated_timestamp DESC" },
    });
    for (const model of answer.registered_models || []) {
      const latest = Math.max(0, ...(model.latest_versions || []).map((v) => Number(v.version)));
      const tags = (model.tags || []).map((t) => `${t.key}=${t.value ?? ""}`);
      body.append(
        linkRow(
          modelHref(model.name),
          { model: model.name },
          h("td", {}, h("a", { href: modelHref(model.name), tabindex: "-1" }, model.name)),
          h("td", {}, latest ? h("a", { href: modelHref(model.name, latest), tabindex: "-1" }, `Version ${latest}`) : "—"),
          h("td", {}, chips((model.aliases || []).map((a) => `@${a.alias} → v${a.version}`), "mt-chip mt-alias")),
          h("td", { class: "wrap" }, chips(tags, "mt-chip mt-tag")),
          h("td", {}, formatTime(model.last_updated_timestamp)),
        ),
      );
    }
    if (!body.children.length) {
      const message = text ? `No model name contains “${text}”.` : "No registered models yet.";
      body.append(h("tr", {}, h("td", { colspan: String(headers.length), class: "empty" }, message)));
    }
    token = answer.next_page_token;
    more.hidden = !token;
  };
  more.addEventListener("click", () => loadPage().catch(showError));
  await loadPage();
  return undefined;
}

// -- #/models/:name -------------------------------------------------------------------------------
async function allVersions(name) {
  const versions = [];
  let token;
  do {
    const answer = await api("model-versions/search", {
      query: { filter: `name=${quoteFilter(name)}`, max_results: 1000, page_token: token, order_by: "version_number DESC" },
    });
    versions.push(...(answer.model_versions || []));
    token = answer.next_page_token;
  } while (token);
  return versions;
}

async function renderModel(root, name) {
  document.title = `${name} · mltrack`;
  const [{ registered_model: model }, versions] = await Promise.all([
    api("registered-models/get", { query: { name } }),
    allVersions(name),
  ]);
  const runs = await fetchRunsById(versions.map((v) => v.run_id));
  // Search answers may leave aliases out (MLflow's do); the model's own alias list is the truth.
  const aliasesOf = new Map();
  for (const { alias, version } of model.aliases || []) {
    aliasesOf.set(String(version), [...(aliasesOf.get(String(version)) || []), alias]);
  }
  const headers = ["Version", "Stage", "Aliases", "Source run", "Created", "Deployed on"];
  const body = h("tbody");
  for (const v of versions) {
    body.append(
      linkRow(
        modelHref(name, v.version),
        { version: v.version },
        h("td", {}, h("a", { href: modelHref(name, v.version), tabindex: "-1" }, `Version ${v.version}`)),
        h("td", {}, stageBadge(v.current_stage)),
        h("td", {}, chips((aliasesOf.get(String(v.version)) || []).map((a) => `@${a}`), "mt-chip mt-alias")),
        h("td", {}, runLink(v.run_id, runs)),
        h("td", {}, formatTime(v.creation_timestamp)),
        h("td", {}, deployedCell(name, v.tags)),
      ),
    );
  }
  if (!versions.length) body.append(h("tr", {}, h("td", { colspan: String(headers.length), class: "empty" }, "No versions yet.")));

  root.append(
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" }, h("a", { href: "#/models" }, "Registered models"), " / ", name),
    h("div", { class: "page-header" }, h("h1", {}, name),
      h("span", { class: "muted" }, `created ${formatTime(model.creation_timestamp)} · last modified ${formatTime(model.last_updated_timestamp)}`)),
    editableText("Description", model.description || "", (description) =>
      api("registered-models/update", { method: "PATCH", body: { name, description } }),
    ),
    h("section", { "aria-label": "Versions" },
      h("h2", {}, `Versions (${versions.length})`),
      h("div", { class: "table-wrap" }, h("table", { class: "data-table mt-versions-table" },
        h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
        body))),
    h("div", { class: "grid-2" },
      h("section", { class: "card mt-card", "aria-label": "Aliases" }, h("h2", {}, "Aliases"),
        chips((model.aliases || []).map((a) => `@${a.alias} → v${a.version}`), "mt-chip mt-alias")),
      tagEditor(tagMap(model.tags), {
        set: (key, value) => api("registered-models/set-tag", { method: "POST", body: { name, key, value } }),
        remove: (key) => api("registered-models/delete-tag", { method: "DELETE", body: { name, key } }),
      }),
    ),
  );
  return undefined;
}

export async function render(root, params, query) {
  loadCss("views/charts.css");
  root.classList.add("mt-view");
  if (params.name && params.version !== undefined) {
    const { renderVersion } = await import("./registry_version.js");
    return renderVersion(root, params.name, params.version);
  }
  if (params.name) return renderModel(root, params.name);
  return renderList(root, query);
}
