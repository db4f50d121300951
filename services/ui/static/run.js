"use strict";
// A run's detail page: facts, state timeline, cancellation attempts, a Cancel button; live.

const runId = location.pathname.split("/").pop();
const cancelButton = document.getElementById("cancel-button");
const dialog = document.getElementById("confirm-cancel");
let current = null;

function renderRun(run) {
  current = run;
  document.title = run.name + " · cancelbus";
  document.getElementById("run-name").textContent = run.name;
  document.getElementById("crumb-name").textContent = run.name;
  document.getElementById("run-state").replaceWith(Object.assign(badge(run.state_type), { id: "run-state" }));
  document.getElementById("state-message").textContent = (run.state && run.state.message) || "";
  const terminal = TERMINAL.has(run.state_type);
  cancelButton.hidden = terminal;
  cancelButton.disabled = terminal || run.state_type === "CANCELLING";
  cancelButton.textContent = run.state_type === "CANCELLING" ? "Cancelling…" : "Cancel";
  const facts = [
    ["Flow run ID", el("span", { class: "mono" }, run.id)],
    ["Infrastructure", el("span", { class: "mono" }, run.infrastructure_pid || "none recorded")],
    ["Tags", run.tags.length ? run.tags.map((t) => el("span", { class: "tag" }, t)) : "—"],
    ["Created", when(run.created)],
    ["Started", when(run.start_time)],
    ["Ended", when(run.end_time)],
  ];
  if (run.parent_flow_run_id) facts.push(["Parent run", runName(run.parent_flow_run_id)]);
  if (run.cancellation_worker_alive !== null && run.cancellation_worker_alive !== undefined) {
    facts.push(["Worker for it", run.cancellation_worker_alive ? "alive" : "none alive: the timeout will force it"]);
  }
  document.getElementById("facts").replaceChildren(...facts.map(([label, value]) =>
    el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value))));
}

function renderStates(states) {
  states.sort((a, b) => new Date(a.timestamp) - new Date(b.timestamp));
  document.getElementById("timeline").replaceChildren(...states.map((state) =>
    el("li", { style: "--dot: var(--" + state.type.toLowerCase() + ")" },
      badge(state.type),
      el("span", { class: "time" }, when(state.timestamp)),
      state.message ? el("span", { class: "message" }, state.message) : null)));
}

function renderAttempts(attempts) {
  document.getElementById("attempts").replaceChildren(...attempts.map((a) => el("tr", {},
    el("td", { class: "nowrap" }, a.attempt + (a.final_teardown ? " (teardown)" : "")),
    el("td", {}, when(a.requested_at)),
    el("td", { class: "nowrap" }, requester(a.requested_by)),
    el("td", {}, a.reason || "—"),
    el("td", { class: "mono nowrap" }, a.worker || "—"),
    el("td", { class: "nowrap" }, el("span", { class: "outcome " + (a.outcome || "pending") }, a.outcome || "pending")),
    el("td", { class: "nowrap" }, formatDuration(a.duration_seconds)),
    el("td", { class: "muted" }, a.detail || ""))));
  document.getElementById("no-attempts").hidden = attempts.length > 0;
  const first = attempts.find((a) => a.requested_by);
  const by = document.getElementById("cancelled-by");
  by.hidden = !first;
  if (first) by.replaceChildren("Cancellation asked by ", requester(first.requested_by));
}

async function loadAll() {
  try {
    const [run, states, attempts] = await Promise.all([
      api("GET", "/flow_runs/" + runId),
      api("GET", "/flow_runs/" + runId + "/states"),
      api("GET", "/flow_runs/" + runId + "/cancellation"),
    ]);
    renderRun(run); renderStates(states); renderAttempts(attempts);
    showError(null);
  } catch (error) {
    showError(error.status === 404 ? "Flow run " + runId + " not found." : "Could not load the run: " + error.message);
  }
}

async function loadAttempts() {
  try { renderAttempts(await api("GET", "/flow_runs/" + runId + "/cancellation")); } catch (e) { /* next event retries */ }
}

cancelButton.addEventListener("click", () => {
  document.getElementById("cancel-reason").value = "";
  dialog.showModal();
});

dialog.addEventListener("close", async () => {
  if (dialog.returnValue !== "confirm") return;
  const reason = document.getElementById("cancel-reason").value.trim();
  cancelButton.disabled = true;
  try {
    const answer = await api("POST", "/flow_runs/" + runId + "/set_state", {
      state: { type: "CANCELLING", message: reason || null },
      force: false,
      requested_by: "web ui",
    });
    if (answer.status !== "ACCEPT") showError("Not cancelled: " + (answer.details.reason || answer.status));
    if (answer.state && current) renderRun({ ...current, state: answer.state, state_type: answer.state.type });
  } catch (error) {
    showError("Could not cancel: " + error.message);
  }
  loadAll();
});

loadAll();
const refresh = debounce(loadAll, 150);
follow("/flow_runs/" + runId + "/events", {
  "flow-run": renderRun,
  "state": refresh,
  "cancellation-requested": loadAttempts,
  "cancellation-result": loadAttempts,
});

function formatDuration(seconds) {
  if (seconds === null) return "—";
  return seconds < 1 ? Math.round(seconds * 1000) + " ms" : seconds.toFixed(1) + " s";
}

// `automation:<id>` links to the automation, `cascade:<run id>` to the parent run; names are
// looked up once and filled in when they arrive.
const names = new Map();

function named(path, fallback, node, format) {
  if (!names.has(path)) names.set(path, api("GET", path).then((found) => found.name, () => null));
  names.get(path).then((name) => { node.textContent = format(name || fallback); });
  return node;
}

function runName(runId) {
  const link = el("a", { href: "/runs/flow-run/" + runId, class: "mono", "data-run-id": runId }, runId.slice(0, 8));
  return named("/flow_runs/" + runId, runId.slice(0, 8), link, (name) => name);
}

function requester(requestedBy) {
  if (!requestedBy) return "—";
  const [kind, id] = [requestedBy.split(":", 1)[0], requestedBy.slice(requestedBy.indexOf(":") + 1)];
  if (kind === "automation" && id) {
    const link = el("a", { href: "/automations/" + id, class: "requester", "data-automation-id": id }, "automation " + id.slice(0, 8));
    return named("/automations/" + id, id.slice(0, 8) + " (deleted)", link, (name) => "automation " + name);
  }
  if (kind === "cascade" && id) {
    const link = el("a", { href: "/runs/flow-run/" + id, class: "requester", "data-run-id": id }, "cascade from " + id.slice(0, 8));
    return named("/flow_runs/" + id, id.slice(0, 8), link, (name) => "cascade from " + name);
  }
  return requestedBy;
}
