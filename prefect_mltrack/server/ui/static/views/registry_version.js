// One model version: #/models/:name/versions/:v
//
// Lineage (the source run), the stage with a transition control, the alias editor (add, move,
// remove), where the version is deployed, tags, description and the model's signature when its
// MLmodel file can be read. Stage and alias changes ask for confirmation in a modal dialog first.
//
// Example:
//   location.hash = "#/models/IrisClassifier/versions/2";

import { api, apiUrl, MLTRACK } from "../api.js";
import { confirmDialog, showError, toast } from "../app.js";
import {
  chips,
  deployedCell,
  editableText,
  fetchRunsById,
  modelHref,
  runLink,
  stageBadge,
  tagEditor,
  tagMap,
} from "./registry.js";
import { confirmWith, formatTime, h } from "./viewkit.js";

export const STAGES = ["None", "Staging", "Production", "Archived"];
// MLflow reserves these alias names (they would shadow version numbers and "latest").
const RESERVED_ALIAS = /^(latest|v\d+)$/i;

function field(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function stageControl(name, version, onChanged) {
  const target = h("select", { name: "stage", "aria-label": "New stage" },
    STAGES.filter((s) => s !== (version.current_stage || "None")).map((s) => h("option", { value: s }, s)));
  const status = h("span", { class: "mt-status muted", role: "status" });
  const button = h("button", {
    type: "button",
    class: "btn btn-small btn-primary",
    onclick: async () => {
      const stage = target.value;
      const archivable = stage === "Staging" || stage === "Production";
      const archive = h("input", { type: "checkbox", name: "archive-existing", disabled: !archivable });
      const ok = await confirmWith({
        title: `Transition version ${version.version} to ${stage}?`,
        body: [
          h("p", {}, `${name} version ${version.version} moves from ${version.current_stage || "None"} to ${stage}.`),
          h("label", { class: "mt-check" }, archive, h("span", {}, archivable ? `Archive the versions now in ${stage}` : "Archive existing versions (only for Staging or Production)")),
        ],
        okLabel: `Move to ${stage}`,
      });
      if (!ok) return;
      try {
        await api("model-versions/transition-stage", {
          method: "POST",
          body: { name, version: String(version.version), stage, archive_existing_versions: archivable && archive.checked },
        });
        toast(`${name} version ${version.version} is now in ${stage}.`);
        await onChanged();
      } catch (error) {
        status.textContent = "Not moved.";
        showError(error);
      }
    },
  }, "Transition…");
  return h("span", { class: "mt-inline-form" }, target, button, status);
}

function aliasEditor(name, version, modelAliases, onChanged) {
  const mine = modelAliases.filter((a) => String(a.version) === String(version.version)).map((a) => a.alias);
  const status = h("span", { class: "mt-status muted", role: "status" });
  const list = h("ul", { class: "mt-chips", "aria-label": "Aliases of this version" });
  for (const alias of mine) {
    list.append(
      h("li", { class: "mt-chip mt-alias" }, `@${alias}`,
        h("button", {
          type: "button",
          class: "mt-chip-remove",
          "aria-label": `Remove alias ${alias}`,
          onclick: async () => {
            const ok = await confirmDialog({
              title: `Remove alias @${alias}?`,
              message: `models:/${name}@${alias} will no longer resolve.`,
              okLabel: "Remove alias",
              danger: true,
            });
            if (!ok) return;
            try {
              await api("registered-models/alias", { method: "DELETE", body: { name, alias } });
              toast(`Alias @${alias} removed.`);
              await onChanged();
            } catch (error) {
              showError(error);
            }
          },
        }, "×")),
    );
  }
  if (!mine.length) list.append(h("li", { class: "muted" }, "No aliases."));
  const input = h("input", { name: "alias", placeholder: "champion", "aria-label": "Alias", required: true, pattern: "[A-Za-z0-9_\\-]+" });
  const form = h("form", {
    class: "mt-inline-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const alias = input.value.trim();
      if (!alias) return;
      if (RESERVED_ALIAS.test(alias)) {
        status.textContent = `“${alias}” is reserved (latest and v<number> name versions); choose another alias.`;
        return;
      }
      const current = modelAliases.find((a) => a.alias === alias);
      if (current && String(current.version) === String(version.version)) {
        status.textContent = `@${alias} already points to this version.`;
        return;
      }
      const ok = await confirmDialog({
        title: current ? `Move alias @${alias}?` : `Set alias @${alias}?`,
        message: current
          ? `@${alias} moves from version ${current.version} to version ${version.version}: models:/${name}@${alias} will load version ${version.version}.`
          : `models:/${name}@${alias} will load version ${version.version}.`,
        okLabel: current ? "Move alias" : "Set alias",
      });
      if (!ok) return;
      try {
        await api("registered-models/alias", { method: "POST", body: { name, alias, version: String(version.version) } });
        toast(`@${alias} now points to version ${version.version}.`);
        await onChanged();
      } catch (error) {
        showError(error);
      }
    },
  }, input, h("button", { type: "submit", class: "btn" }, "Set alias"), status);
  return h("section", { class: "card mt-card", "aria-label": "Aliases" }, h("h2", {}, "Aliases"), list, form);
}

/** The inputs/outputs JSON strings of an MLmodel file's signature (YAML single-quoted scalars). */
export function parseSignature(text) {
  const block = text.match(/^signature:\s*\n((?:[ \t]+.*\n?)*)/m);
  if (!block) return null;
  const read = (name) => {
    const m = block[1].match(new RegExp(`^[ \\t]+${name}:\\s*'((?:[^']|'')*)'`, "m"));
    if (!m) return null;
    try {
      return JSON.parse(m[1].replaceAll("''", "'"));
    } catch {
      return null;
    }
  };
  const signature = { inputs: read("inputs"), outputs: read("outputs") };
  return signature.inputs || signature.outputs ? signature : null;
}

function schemaTable(title, schema) {
  if (!Array.isArray(schema)) return null;
  return h("table", { class: "data-table mt-schema" },
    h("caption", {}, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Type"))),
    h("tbody", {}, schema.map((col) => h("tr", {}, h("td", {}, col.name ?? "(unnamed)"), h("td", {}, col.type === "tensor" ? `tensor ${col["tensor-spec"]?.dtype ?? ""} ${JSON.stringify(col["tensor-spec"]?.shape ?? [])}` : String(col.type ?? ""))))));
}

/** Where the version's model lies inside its run's artifacts ("model"), or null when elsewhere. */
export function modelPathInRun(version, run) {
  const source = version.source || "";
  const fromRunsUri = /^runs:\/([^/]+)\/(.+)$/.exec(source);
  if (fromRunsUri) return fromRunsUri[1] === version.run_id ? fromRunsUri[2].replace(/\/+$/, "") : null;
  const root = (run?.info?.artifact_uri || "").replace(/\/+$/, "");
  if (root && source.startsWith(`${root}/`)) return source.slice(root.length + 1).replace(/\/+$/, "");
  return null;
}

/** The version's signature, from the MLmodel file in its run's artifacts (left out when unreachable). */
async function signatureSection(version, run) {
  const modelPath = modelPathInRun(version, run);
  if (!version.run_id || !modelPath) return null;
  try {
    const url = apiUrl("artifacts/preview", { base: MLTRACK, query: { run_id: version.run_id, path: `${modelPath}/MLmodel` } });
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return null;
    const signature = parseSignature(await response.text());
    if (!signature) return null;
    return h("section", { class: "card mt-card", "aria-label": "Signature" }, h("h2", {}, "Signature"),
      h("div", { class: "grid-2" }, schemaTable("Inputs", signature.inputs), schemaTable("Outputs", signature.outputs)));
  } catch {
    return null; // the signature is extra information; the page stands without it
  }
}

export async function renderVersion(root, name, versionNumber) {
  const draw = async () => {
    const [{ model_version: version }, { registered_model: model }] = await Promise.all([
      api("model-versions/get", { query: { name, version: versionNumber } }),
      api("registered-models/get", { query: { name } }),
    ]);
    const runs = await fetchRunsById([version.run_id]);
    const tags = tagMap(version.tags);
    const details = h("dl", { class: "kv mt-details" },
      ...field("Stage", stageBadge(version.current_stage), " ", stageControl(name, version, redraw)),
      ...field("Source run", runLink(version.run_id, runs)),
      ...field("Source", h("code", {}, version.source || "")),
      ...field("Status", version.status || ""),
      ...field("Created", formatTime(version.creation_timestamp)),
      ...field("Last modified", formatTime(version.last_updated_timestamp)),
      ...field("Deployed on", deployedCell(name, version.tags)),
      ...field("Other aliases", chips((model.aliases || []).filter((a) => String(a.version) !== String(version.version)).map((a) => `@${a.alias} → v${a.version}`))),
    );
    const parts = [
      h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
        h("a", { href: "#/models" }, "Registered models"), " / ", h("a", { href: modelHref(name) }, name), " / ", `Version ${version.version}`),
      h("div", { class: "page-header" }, h("h1", {}, `${name} `, h("span", { class: "muted" }, `version ${version.version}`))),
      h("section", { class: "card mt-card", "aria-label": "Details" }, details),
      aliasEditor(name, version, model.aliases || [], redraw),
      editableText("Description", version.description || "", (description) =>
        api("model-versions/update", { method: "PATCH", body: { name, version: String(version.version), description } })),
      tagEditor(tags, {
        set: (key, value) => api("model-versions/set-tag", { method: "POST", body: { name, version: String(version.version), key, value } }),
        remove: (key) => api("model-versions/delete-tag", { method: "DELETE", body: { name, version: String(version.version), key } }),
      }),
    ];
    root.replaceChildren(...parts);
    const signature = await signatureSection(version, runs.get(version.run_id));
    if (signature) root.append(signature);
  };
  async function redraw() {
    const focusedName = document.activeElement?.getAttribute?.("name");
    await draw();
    // Keep the keyboard where it was after the page is rebuilt.
    if (focusedName) root.querySelector(`[name="${CSS.escape(focusedName)}"]`)?.focus();
  }
  await draw();
  return undefined;
}
