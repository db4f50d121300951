"use strict";
// Shared by the automation pages: how a trigger and an action read, the enable switch, a firing.

function seconds(value) {
  return value === null || value === undefined ? "" : value + " s";
}

function spec(labels) {
  return Object.entries(labels || {}).map(([label, value]) =>
    label + "=" + (Array.isArray(value) ? value.join("|") : value)).join(", ");
}

function describeTrigger(trigger) {
  if (trigger.type === "event") {
    const expect = (trigger.expect || []).join(", ") || "any event";
    let text = trigger.posture === "Proactive"
      ? "Proactive: fewer than " + trigger.threshold + " of " + expect
      : "Reactive: " + trigger.threshold + " of " + expect;
    if (trigger.within) text += " within " + seconds(trigger.within);
    if ((trigger.after || []).length) text += " after " + trigger.after.join(", ");
    if (Object.keys(trigger.match || {}).length) text += "; match " + spec(trigger.match);
    const related = Array.isArray(trigger.match_related) ? trigger.match_related : [trigger.match_related];
    for (const one of related) if (one && Object.keys(one).length) text += "; related " + spec(one);
    if ((trigger.for_each || []).length) text += "; for each " + trigger.for_each.join(", ");
    return text;
  }
  const head = trigger.type === "compound"
    ? "Compound: " + trigger.require + " of " + trigger.triggers.length
    : "Sequence of " + trigger.triggers.length;
  const within = trigger.within ? " within " + seconds(trigger.within) : "";
  return head + within + " [" + trigger.triggers.map(describeTrigger).join(" | ") + "]";
}

function describeAction(action) {
  if (action.type === "cancel-flow-run") return "Cancel the flow run";
  if (action.type === "change-flow-run-state") {
    return "Change the flow run's state to " + action.state + (action.force ? " (forced)" : "");
  }
  return action.type;
}

function allActions(automation) {
  return [
    ...automation.actions.map(describeAction),
    ...(automation.actions_on_trigger || []).map((a) => "(on trigger) " + describeAction(a)),
    ...(automation.actions_on_resolve || []).map((a) => "(on resolve) " + describeAction(a)),
  ];
}

// A switch that PATCHes {"enabled": …}; on a refusal it flips back and says why.
function enableSwitch(automation) {
  const input = el("input", { type: "checkbox", role: "switch", class: "switch",
    "aria-label": "enabled", "data-automation-id": automation.id });
  input.checked = automation.enabled;
  const label = el("span", { class: "switch-label" }, automation.enabled ? "enabled" : "paused");
  input.addEventListener("change", async () => {
    const wanted = input.checked;
    input.disabled = true;
    try {
      await api("PATCH", "/automations/" + automation.id, { enabled: wanted });
      automation.enabled = wanted;
      showError(null);
    } catch (error) {
      input.checked = !wanted;
      showError("Could not " + (wanted ? "resume" : "pause") + " " + automation.name + ": " + error.message);
    }
    label.textContent = input.checked ? "enabled" : "paused";
    input.disabled = false;
  });
  return el("label", { class: "switch-box" }, input, label);
}

function outcomeBadge(outcome) {
  return el("span", { class: "outcome firing-" + outcome }, outcome.replaceAll("_", " "));
}

function runLink(flowRunId) {
  if (!flowRunId) return "—";
  return el("a", { class: "mono", href: "/runs/flow-run/" + flowRunId, title: flowRunId }, flowRunId.slice(0, 8));
}

function loadFirings(automationId, limit) {
  return api("GET", "/automations/" + automationId + "/firings?limit=" + limit);
}
