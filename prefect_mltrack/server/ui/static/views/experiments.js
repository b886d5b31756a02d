// Experiments list (#/experiments?q=<name text>): run counts, last activity; create, rename, delete;
// select several to see their runs together (#/experiments?ids=1,2).

import { api, mltrackApi } from "../api.js";
import { confirmDialog, formDialog, navigate, setQuery, showError, toast } from "../app.js";
import { el, formatAge, formatTime, linkRow, quoteValue } from "./runkit.js";

const PAGE_SIZE = 200;

export async function render(root, _params, query) {
  document.title = "Experiments · mltrack";
  const state = { text: query.get("q") || "", tokens: [null], page: 0, selected: new Set(), experiments: [] };

  const search = el("input", {
    type: "search", placeholder: "Search experiments by name", "aria-label": "Search experiments by name",
    value: state.text, dataset: { search: "" },
  });
  const compareButton = el("button", { type: "button", class: "btn", disabled: true,
    onclick: () => navigate(`#/experiments?ids=${[...state.selected].join(",")}`) }, "Compare runs of selected");
  const createButton = el("button", { type: "button", class: "btn btn-primary", onclick: createExperiment },
    "Create experiment");
  const tbody = el("tbody");
  const table = el("table", { class: "data-table", "aria-label": "Experiments" },
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Select")),
      el("th", { scope: "col" }, "Name"),
      el("th", { scope: "col" }, "ID"),
      el("th", { scope: "col", class: "num" }, "Runs"),
      el("th", { scope: "col" }, "Last activity"),
      el("th", { scope: "col" }, "Created"),
      el("th", { scope: "col" }, "Actions"))),
    tbody);
  const prev = el("button", { type: "button", class: "btn btn-small", "aria-label": "Previous page",
    onclick: () => turn(-1) }, "‹ Previous");
  const next = el("button", { type: "button", class: "btn btn-small", "aria-label": "Next page",
    onclick: () => turn(1) }, "Next ›");
  const status = el("span", { class: "muted", "aria-live": "polite" });

  root.append(
    el("div", { class: "page-header" }, el("h1", {}, "Experiments"), el("span", { class: "spacer" }), createButton),
    el("div", { class: "toolbar" }, search, compareButton),
    el("div", { class: "table-wrap" }, table),
    el("div", { class: "toolbar" }, prev, next, status),
  );

  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.text = search.value.trim();
      const q = new URLSearchParams();
      if (state.text) q.set("q", state.text);
      setQuery(q);
      state.tokens = [null];
      state.page = 0;
      load();
    }, 250);
  });

  function turn(step) {
    state.page = Math.max(0, state.page + step);
    load();
  }

  async function load() {
    status.textContent = "Loading…";
    try {
      const filter = state.text ? `name ILIKE ${quoteValue(`%${state.text}%`)}` : undefined;
      const answer = await api("experiments/search", {
        query: { max_results: PAGE_SIZE, filter, page_token: state.tokens[state.page] || undefined,
          order_by: "last_update_time DESC" },
      });
      const experiments = answer.experiments || [];
      state.tokens[state.page + 1] = answer.next_page_token || null;
      const ids = experiments.map((e) => e.experiment_id);
      const summaries = ids.length
        ? (await mltrackApi("experiments/summaries", { query: { experiment_ids: ids.join(",") } })).summaries || []
        : [];
      const byId = Object.fromEntries(summaries.map((s) => [s.experiment_id, s]));
      state.experiments = experiments;
      fill(experiments, byId);
      prev.disabled = state.page === 0;
      next.disabled = !answer.next_page_token;
      status.textContent = experiments.length ? `${experiments.length} experiment(s) on this page` : "";
    } catch (error) {
      status.textContent = "";
      showError(error);
    }
  }

  function fill(experiments, byId) {
    if (!experiments.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" },
        state.text ? "No experiment matches this search." : "No experiments yet. Create one.")));
      return;
    }
    tbody.replaceChildren(...experiments.map((experiment) => {
      const id = experiment.experiment_id;
      const summary = byId[id] || {};
      const href = `#/experiments/${encodeURIComponent(id)}`;
      const box = el("input", { type: "checkbox", "aria-label": `Select experiment ${experiment.name}`,
        checked: state.selected.has(id) });
      box.addEventListener("change", () => {
        if (box.checked) state.selected.add(id); else state.selected.delete(id);
        compareButton.disabled = state.selected.size === 0;
      });
      const running = summary.running_count ? el("span", { class: "badge status-RUNNING", title: "Running runs" },
        `${summary.running_count} running`) : null;
      return linkRow(href,
        el("td", {}, box),
        el("td", { class: "wrap" }, el("a", { href }, experiment.name)),
        el("td", { class: "mono" }, id),
        el("td", { class: "num", dataset: { col: "runs" } }, String(summary.run_count ?? 0), " ", running),
        el("td", { title: formatTime(summary.last_activity) }, formatAge(summary.last_activity)),
        el("td", {}, formatTime(experiment.creation_time)),
        el("td", {},
          el("button", { type: "button", class: "btn btn-small", "aria-label": `Rename experiment ${experiment.name}`,
            onclick: () => renameExperiment(experiment) }, "Rename"), " ",
          el("button", { type: "button", class: "btn btn-small btn-danger",
            "aria-label": `Delete experiment ${experiment.name}`, onclick: () => deleteExperiment(experiment) },
          "Delete")));
    }));
  }

  async function createExperiment() {
    const created = await formDialog({
      title: "Create experiment",
      okLabel: "Create",
      fields: [
        { name: "name", label: "Name", required: true, placeholder: "my-experiment" },
        { name: "artifact_location", label: "Artifact location (optional)", placeholder: "default: the server's" },
      ],
      submit: async ({ name, artifact_location: location }) => {
        const body = { name: name.trim() };
        if (location.trim()) body.artifact_location = location.trim();
        const answer = await api("experiments/create", { method: "POST", body });
        return { id: answer.experiment_id, name: body.name };
      },
    });
    if (created) {
      toast(`Experiment "${created.name}" created`);
      load();
    }
  }

  async function renameExperiment(experiment) {
    const renamed = await formDialog({
      title: `Rename experiment`,
      okLabel: "Rename",
      fields: [{ name: "name", label: "New name", value: experiment.name, required: true }],
      submit: async ({ name }) => {
        await api("experiments/update", { method: "POST",
          body: { experiment_id: experiment.experiment_id, new_name: name.trim() } });
        return name.trim();
      },
    });
    if (renamed) {
      toast(`Renamed to "${renamed}"`);
      load();
    }
  }

  async function deleteExperiment(experiment) {
    const ok = await confirmDialog({
      title: "Delete experiment?",
      message: `"${experiment.name}" and its runs move to the deleted state (restorable with the API).`,
      okLabel: "Delete", danger: true,
    });
    if (!ok) return;
    try {
      await api("experiments/delete", { method: "POST", body: { experiment_id: experiment.experiment_id } });
      state.selected.delete(experiment.experiment_id);
      toast(`Experiment "${experiment.name}" deleted`);
      load();
    } catch (error) {
      showError(error);
    }
  }

  await load();
  return () => clearTimeout(debounce);
}
