"use strict";
// One automation: what it matches, what it does, every firing and its outcome.

const automationId = location.pathname.split("/").pop();

function render(automation) {
  document.title = automation.name + " · cancelbus";
  document.getElementById("automation-name").textContent = automation.name;
  document.getElementById("crumb-name").textContent = automation.name;
  document.getElementById("description").textContent = automation.description || "";
  document.getElementById("enabled-switch").replaceChildren(enableSwitch(automation));
  const facts = [
    ["Automation ID", el("span", { class: "mono" }, automation.id)],
    ["Trigger", describeTrigger(automation.trigger)],
    ["Tags", automation.tags.length ? automation.tags.map((t) => el("span", { class: "tag" }, t)) : "—"],
    ["Created", when(automation.created)],
    ["Updated", when(automation.updated)],
  ];
  document.getElementById("facts").replaceChildren(...facts.map(([label, value]) =>
    el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value))));
  document.getElementById("trigger").textContent = JSON.stringify(automation.trigger, null, 2);
  document.getElementById("actions").replaceChildren(...allActions(automation).map((line) => el("li", {}, line)));
}

function renderFirings(firings) {
  document.getElementById("firings").replaceChildren(...firings.map((f) => el("tr", { "data-firing-id": f.firing_id },
    el("td", { class: "nowrap" }, when(f.fired_at)),
    el("td", { class: "nowrap" }, f.action_index + ": " + f.action_type),
    el("td", {}, runLink(f.flow_run_id)),
    el("td", { class: "nowrap" }, outcomeBadge(f.outcome)),
    el("td", { class: "muted" }, f.detail || ""))));
  document.getElementById("no-firings").hidden = firings.length > 0;
}

async function load() {
  try {
    render(await api("GET", "/automations/" + automationId));
    showError(null);
  } catch (error) {
    showError(error.status === 404 ? "Automation " + automationId + " not found." : "Could not load the automation: " + error.message);
    return;
  }
  try {
    renderFirings(await loadFirings(automationId, 100));
  } catch (error) {
    showError("Could not load its firings: " + error.message);
  }
}

load();
