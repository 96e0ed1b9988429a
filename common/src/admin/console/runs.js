// What a run did, for the run page and the plan: its counts, and every employee's outcome in a
// table that filters by action and searches by name, email or Personio id.

import { debounce, fill, h, label, pagedTable } from "./ui.js";

// Shown when the run's counts have them (counts a core adds later appear once named here).
const COUNTS = [
  ["created", "Created"], ["adopted", "Adopted"], ["updated", "Updated"], ["deactivated", "Deactivated"],
  ["unchanged", "Unchanged"], ["groups_added", "Group adds"], ["groups_removed", "Group removals"],
  ["invitations", "Invitations"], ["not_created", "Not created"], ["skipped", "Skipped"],
  ["held_back", "Held back"], ["not_applied", "Not applied"], ["failed", "Failed"],
];

/** What a run's status means, for the statuses that need saying. */
const STATUS_TEXT = {
  running: "The run is in progress.",
  completed_with_failures: "The run finished, but some employees failed or were held back (see below).",
  failed: "The run could not finish as a whole; nothing after the failure was written. The next run tries again.",
  aborted: "The run was stopped from outside (a shutdown, its deadline) and stopped cleanly: what it did is recorded, the rest is left for the next run.",
  abandoned: "The run stopped without recording an end (its host went away): what it wrote is linked, and the next run plans the rest again.",
};

export function statusText(status) {
  return STATUS_TEXT[status] || "";
}

/** "Personio 12 (429: 1) · LMS 40 (429: 2; create 10, read 30)", from the run's `stats`. */
export function requestsText(run) {
  const part = (name, counts) => {
    if (!counts || !counts.requests) return null;
    const kinds = Object.entries(counts.by_kind || {}).map(([kind, count]) => `${kind} ${count}`);
    const extra = [counts.throttled ? `429: ${counts.throttled}` : null, kinds.length ? kinds.join(", ") : null].filter(Boolean);
    return `${name} ${counts.requests}${extra.length ? ` (${extra.join("; ")})` : ""}`;
  };
  return [part("Personio", run.stats?.personio), part("LMS", run.stats?.lms)].filter(Boolean).join(" · ");
}

export function runCounts(run) {
  const counts = run.counts || {};
  return h("ul", { class: "counts", "aria-label": "Counts" }, COUNTS.filter(([key]) => key in counts).map(([key, text]) =>
    h("li", {}, h("b", {}, String(counts[key])), text)));
}

/**
 * The field changes of an outcome where the core gives them (`changes`: {field, from, to}, a
 * missing side being "empty"), the groups the sync took the user out of (`groups_removed`), and
 * the reason; just the reason otherwise.
 */
export function changesOf(outcome) {
  const changes = Array.isArray(outcome.changes) ? outcome.changes : [];
  const removed = Array.isArray(outcome.groups_removed) ? outcome.groups_removed : [];
  if (!changes.length && !removed.length) return outcome.reason || "";
  const empty = () => h("span", { class: "muted" }, "—");
  return h("div", {},
    h("ul", { class: "diff" },
      changes.map((change) => h("li", {},
        h("strong", {}, change.field), ": ",
        change.from === null || change.from === undefined ? empty() : h("del", {}, show(change.from)),
        " → ",
        change.to === null || change.to === undefined ? empty() : h("ins", {}, show(change.to)))),
      removed.map((group) => h("li", {}, h("del", {}, `group ${group}`)))),
    outcome.reason && !changes.length ? h("div", { class: "muted" }, outcome.reason) : null);
}

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

const ACTION_TEXT = { created: "create", adopted: "adopt", updated: "update", deactivated: "deactivate", unchanged: "unchanged", skipped: "skip", held_back: "held back", failed: "failed" };

/**
 * Every employee of a run. `planning`: the outcomes are what a sync would do (the words say so).
 * `explain`: the API's explanation operation, if any, linked from each row.
 */
export function outcomesTable(outcomes, { integration, explain, planning = false }) {
  const actions = [...new Set(outcomes.map((outcome) => outcome.action))];
  const actionSelect = h("select", { id: "outcome-action" }, h("option", { value: "" }, "all"),
    actions.map((action) => h("option", { value: action }, planning ? ACTION_TEXT[action] || label(action) : label(action))),
    outcomes.some((outcome) => outcome.groups_added?.length) ? h("option", { value: "groups" }, "group adds") : null);
  const search = h("input", { type: "search", id: "outcome-search", placeholder: "name, email or Personio id", autocomplete: "off" });
  const output = h("div");
  const render = () => {
    const wanted = actionSelect.value;
    const needle = search.value.trim().toLowerCase();
    const rows = outcomes.filter((outcome) => {
      if (wanted === "groups" && !outcome.groups_added?.length) return false;
      if (wanted && wanted !== "groups" && outcome.action !== wanted) return false;
      if (!needle) return true;
      return [outcome.name, outcome.email, outcome.personio_id].some((value) => value !== null && value !== undefined && String(value).toLowerCase().includes(needle));
    });
    fill(output, pagedTable({
      rows,
      pageSize: 25,
      empty: outcomes.length ? "No employee matches." : "No employee had anything to report.",
      columns: [
        { title: "Employee", cell: (outcome) => h("span", {}, outcome.name || h("span", { class: "muted" }, "(no name)"), outcome.email ? h("div", { class: "muted" }, outcome.email) : null) },
        { title: "Personio id", cell: (outcome) => (outcome.personio_id ?? "—").toString() },
        { title: planning ? "Would" : "Action", cell: (outcome) => h("span", { class: `badge ${outcome.action === "failed" ? "bad" : outcome.action === "skipped" || outcome.action === "held_back" ? "warn" : "ok"}` }, planning ? ACTION_TEXT[outcome.action] || label(outcome.action) : label(outcome.action)) },
        { title: "Changes / reason", cell: changesOf },
        { title: "Groups added", cell: (outcome) => (outcome.groups_added || []).join(", ") },
        explain ? { title: "Why?", cell: (outcome) => (outcome.personio_id === null || outcome.personio_id === undefined ? "" : h("a", { href: `#/i/${encodeURIComponent(integration)}/explain/${encodeURIComponent(outcome.personio_id)}` }, "explain")) } : null,
      ].filter(Boolean),
    }));
  };
  actionSelect.addEventListener("change", render);
  search.addEventListener("input", debounce(render, 150));
  render();
  return h("div", {},
    h("div", { class: "filters" },
      h("label", { for: "outcome-action" }, planning ? "Show " : "Action ", actionSelect),
      h("label", { for: "outcome-search" }, "Search ", search),
      h("span", { class: "muted" }, `${outcomes.length} employees listed`)),
    output);
}
