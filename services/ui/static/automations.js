"use strict";
// The automations list: each rule, an enable switch and its last firings.

const LAST_FIRINGS = 3;

function lastFirings(firings) {
  if (firings === null) return el("span", { class: "muted" }, "could not load");
  if (!firings.length) return el("span", { class: "muted" }, "none yet");
  return el("ul", { class: "last-firings" }, firings.slice(0, LAST_FIRINGS).map((f) =>
    el("li", { "data-firing-id": f.firing_id }, outcomeBadge(f.outcome), " ", runLink(f.flow_run_id),
      " ", el("span", { class: "muted", title: when(f.fired_at) }, ago(f.fired_at)))));
}

async function load() {
  try {
    const automations = await api("POST", "/automations/filter", { sort: "NAME_ASC", limit: 200, offset: 0 });
    const firings = await Promise.all(automations.map((a) => loadFirings(a.id, LAST_FIRINGS).catch(() => null)));
    render(automations, firings);
    showError(null);
  } catch (error) {
    showError("Could not load the automations: " + error.message);
  }
}

function render(automations, firings) {
  const rows = automations.map((automation, i) => el("tr", { "data-automation-id": automation.id },
    el("td", {}, el("a", { href: "/automations/" + automation.id }, automation.name),
      automation.description ? el("div", { class: "muted" }, automation.description) : null),
    el("td", {}, enableSwitch(automation)),
    el("td", { class: "trigger-summary" }, describeTrigger(automation.trigger)),
    el("td", {}, allActions(automation).map((line) => el("div", {}, line))),
    el("td", { class: "firings-cell" }, lastFirings(firings[i])),
  ));
  document.getElementById("automations").replaceChildren(...rows);
  document.getElementById("empty").hidden = automations.length > 0;
  document.getElementById("count").textContent = automations.length + " automation(s)";
}

load();
