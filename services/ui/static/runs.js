"use strict";
// The runs list: filter by state and tag (kept in the URL), refreshed live on every change.

const params = new URLSearchParams(location.search);
const selected = new Set(params.getAll("state").map((s) => s.toUpperCase()));
const tagInput = document.getElementById("tag-filter");
tagInput.value = params.getAll("tag").join(", ");

function tags() {
  return tagInput.value.split(",").map((t) => t.trim()).filter(Boolean);
}

function syncUrl() {
  const query = new URLSearchParams();
  for (const state of selected) query.append("state", state);
  for (const tag of tags()) query.append("tag", tag);
  const search = query.toString();
  history.replaceState(null, "", search ? "?" + search : location.pathname);
}

function renderChips() {
  const box = document.getElementById("state-filter");
  box.replaceChildren(...STATES.map((state) => {
    const chip = el("button", { type: "button", class: "chip", "aria-pressed": String(selected.has(state)), "data-state": state }, state);
    chip.addEventListener("click", () => {
      if (selected.has(state)) selected.delete(state); else selected.add(state);
      renderChips(); syncUrl(); load();
    });
    return chip;
  }));
}

async function load() {
  const criteria = {};
  if (selected.size) criteria.state = { type: { any_: [...selected] } };
  if (tags().length) criteria.tags = { all_: tags() };
  try {
    const runs = await api("POST", "/flow_runs/filter", { flow_runs: criteria, limit: 200, sort: "START_TIME_DESC" });
    render(runs);
    showError(null);
  } catch (error) {
    showError("Could not load the runs: " + error.message);
  }
}

function render(runs) {
  const rows = runs.map((run) => el("tr", { "data-run-id": run.id },
    el("td", {}, el("a", { href: "/runs/flow-run/" + run.id }, run.name)),
    el("td", {}, badge(run.state_type)),
    el("td", {}, run.tags.map((t) => el("span", { class: "tag" }, t))),
    el("td", { class: "mono" }, run.infrastructure_pid || "—"),
    el("td", { title: when(run.start_time) }, ago(run.start_time)),
    el("td", { class: "mono muted", title: run.id }, run.id.slice(0, 8)),
  ));
  document.getElementById("runs").replaceChildren(...rows);
  document.getElementById("empty").hidden = runs.length > 0;
  document.getElementById("count").textContent = runs.length === 200 ? "the newest 200" : runs.length + " run(s)";
}

tagInput.addEventListener("input", debounce(() => { syncUrl(); load(); }, 300));
renderChips();
load();
const refresh = debounce(load, 250);
follow("/events", { "state": refresh });
