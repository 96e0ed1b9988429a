// "Why was X (not) synced?": one employee as the sync sees them (`GET
// /integrations/{id}/employees/{personio_id}`, operation `explainEmployee`): the verdict, the
// selection, the fields the LMS receives, the link, the LMS user now, the next run's decision and
// the employee's outcomes in recent runs. A part the answer does not carry is left out; a part
// the console does not know yet is shown as it came.

import { call, fillPath, operation, paths } from "./api.js";
import { changesOf } from "./runs.js";
import { badge, fill, formatTime, h, label, pagedTable, problemCard } from "./ui.js";

const KNOWN = new Set([
  "personio_id", "name", "email", "verdict", "in_personio", "parse_error", "selection", "profile",
  "mapping_error", "fields_sent", "groups", "link", "lms_user", "lms_error", "next_run", "recent_runs",
]);

const NEXT_TONES = { create: "ok", update: "ok", "add to groups": "ok", nothing: "ok", deactivate: "warn", skip: "warn", "hold back": "warn" };

const runLink = (integration, runId) => `#/i/${encodeURIComponent(integration)}/runs/${encodeURIComponent(runId)}`;
export const explainLink = (integration, personioId) => `#/i/${encodeURIComponent(integration)}/explain/${encodeURIComponent(personioId)}`;

/**
 * The API's explanation operation, if this host has one: by its operationId, else any path that
 * names an explanation (an older contract).
 */
export async function explainOperation() {
  const found = await operation("explainEmployee");
  if (found) return found;
  for (const [template, item] of Object.entries(await paths())) {
    if (!template.includes("explain")) continue;
    for (const method of ["get", "post"]) if (item[method]) return { template, method: method.toUpperCase() };
  }
  return null;
}

/** The lookup box: a Personio id, then the explanation page. */
export function explainLookup(integration, value = "", { id = "explain-employee", onSubmit } = {}) {
  const input = h("input", { type: "search", id, name: "personio_id", value, inputmode: "numeric", required: true, autocomplete: "off", "aria-describedby": `${id}-help` });
  const form = h("form", { class: "lookup", role: "search", "aria-label": "Explain an employee", onsubmit: (event) => {
    event.preventDefault();
    const wanted = input.value.trim();
    if (!wanted) return;
    if (onSubmit) onSubmit(wanted);
    else location.hash = explainLink(integration, wanted);
  } }, h("label", { for: id }, "Personio id"), input, h("button", { type: "submit" }, "Explain"));
  return h("div", {}, form, h("p", { class: "help muted", id: `${id}-help` }, "Why one employee has (or has not) the LMS account, status and groups they have: selection, fields sent, link, LMS user, what the next run does, recent outcomes."));
}

/** The Explain tab: the lookup box, and the explanation of the employee in the address. */
export async function explainView(body, record, { explain, rest }) {
  const output = h("div", { id: "explanation" });
  const show = async (employee) => {
    if (location.hash !== explainLink(record.id, employee)) {
      // The address names the employee, so the page can be bookmarked and reloaded.
      history.replaceState(null, "", explainLink(record.id, employee));
    }
    fill(output, h("p", { class: "muted" }, "Asking Personio and the learning platform…"));
    try {
      const parameter = (explain.template.match(/\{([^}]+)\}/g) || []).map((name) => name.slice(1, -1)).find((name) => name !== "id") || "personio_id";
      const target = fillPath(explain.template, { id: record.id, [parameter]: employee });
      const query = explain.template.includes(`{${parameter}}`) ? undefined : { [parameter]: employee };
      const { data } = await call(explain.method, target, { query });
      fill(output, explanation(record.id, data));
      output.querySelector("h2")?.focus();
    } catch (error) {
      fill(output, problemCard(error));
    }
  };
  fill(body, explainLookup(record.id, rest[0] || "", { onSubmit: show }), output);
  if (rest[0]) await show(rest[0]);
}

function yesNo(value) {
  return value ? "yes" : "no";
}

function facts(pairs) {
  const shown = pairs.filter(([, value]) => value !== undefined);
  return h("dl", { class: "facts" }, shown.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? h("span", { class: "muted" }, "—"))]));
}

function chips(values, empty = "none") {
  if (!values?.length) return h("span", { class: "muted" }, empty);
  return h("ul", { class: "chips" }, values.map((value) => h("li", { class: "mono" }, String(value))));
}

/** The whole explanation, part by part. */
export function explanation(integration, data) {
  const who = data.name || data.email || (data.personio_id ? `Personio id ${data.personio_id}` : "This employee");
  const next = data.next_run;
  return h("div", { class: "explanation" },
    h("h2", { tabindex: "-1" }, who, data.personio_id ? h("span", { class: "muted" }, ` · Personio id ${data.personio_id}`) : null),
    data.verdict ? h("p", { class: "verdict card" }, h("strong", {}, "In short: "), data.verdict) : null,
    next ? h("section", { class: "card", "aria-labelledby": "explain-next" },
      h("h3", { id: "explain-next" }, "The next run"),
      h("p", {}, h("span", { class: `badge ${NEXT_TONES[next.action] || ""}` }, next.action), " ", next.reason || "")) : null,
    h("section", { class: "card", "aria-labelledby": "explain-personio" },
      h("h3", { id: "explain-personio" }, "In Personio"),
      facts([
        ["Listed by Personio", "in_personio" in data ? yesNo(data.in_personio) : undefined],
        ["Email", data.email ?? undefined],
        ["Record unreadable", data.parse_error ?? undefined],
        ...(data.selection ? [
          ["Selection attribute", h("span", { class: "mono" }, data.selection.attribute)],
          ["Its value", data.selection.value ?? h("span", { class: "muted" }, "not set")],
          ["Selected", [badge(data.selection.selected ? "ok" : "skipped", data.selection.selected ? "selected" : "not selected"),
            h("span", { class: "muted" }, ` (yes values: ${(data.selection.yes_values || []).join(", ")})`)]],
        ] : []),
      ])),
    h("section", { class: "card", "aria-labelledby": "explain-sent" },
      h("h3", { id: "explain-sent" }, "What the learning platform receives"),
      data.mapping_error ? problemCard({ title: "The profile cannot be made", detail: data.mapping_error }) : null,
      facts([
        ["Fields sent", chips(data.fields_sent, "nothing")],
        ["Groups", data.groups ? chips(data.groups) : undefined],
      ]),
      data.profile ? h("details", {}, h("summary", {}, "The profile as mapped"), generic(data.profile)) : null),
    h("section", { class: "card", "aria-labelledby": "explain-link" },
      h("h3", { id: "explain-link" }, "Link and LMS user"),
      data.link ? facts(linkFacts(data.link)) : h("p", { class: "muted" }, "No link: the sync has not written an LMS account for this employee."),
      h("h4", {}, "In the learning platform now"),
      data.lms_error ? problemCard({ title: "The learning platform could not be asked", detail: data.lms_error })
        : data.lms_user ? generic(data.lms_user) : h("p", { class: "muted" }, "The learning platform has no such user.")),
    h("section", { "aria-labelledby": "explain-runs" },
      h("h3", { id: "explain-runs" }, "Recent outcomes"),
      recentRuns(integration, data.recent_runs || [])),
    Object.keys(data).some((key) => !KNOWN.has(key))
      ? h("section", { class: "card" }, h("h3", {}, "More"), generic(Object.fromEntries(Object.entries(data).filter(([key]) => !KNOWN.has(key)))))
      : null);
}

function linkFacts(link) {
  const known = {
    lms_user_id: "LMS user id", email: "Email", active: "Active", groups: "Groups the sync added",
    groups_added: "Groups the sync added", updated_at: "Last write", created_at: "Linked",
  };
  // Bookkeeping that says nothing to an admin.
  const hidden = new Set(["integration_id", "personio_id", "profile_hash", "profile", "version"]);
  const pairs = [];
  for (const [key, value] of Object.entries(link)) {
    if (hidden.has(key)) continue;
    const term = known[key] || label(key);
    if (Array.isArray(value)) pairs.push([term, chips(value)]);
    else if (typeof value === "boolean") pairs.push([term, yesNo(value)]);
    else if (/_at$/.test(key) && typeof value === "string") pairs.push([term, formatTime(value)]);
    else if (key.endsWith("_id")) pairs.push([term, h("span", { class: "mono" }, String(value))]);
    else pairs.push([term, generic(value)]);
  }
  return pairs;
}

function recentRuns(integration, mentions) {
  return pagedTable({
    rows: mentions,
    pageSize: 10,
    empty: "No recent run mentions this employee (unchanged employees are counted, not listed).",
    columns: [
      { title: "Run", cell: (mention) => [h("a", { href: runLink(integration, mention.run_id) }, formatTime(mention.started_at)), mention.dry_run ? " (plan)" : ""] },
      { title: "Run status", cell: (mention) => badge(mention.status) },
      { title: "Outcome", cell: (mention) => badge(mention.outcome?.action) },
      { title: "Changes / reason", cell: (mention) => changesOf(mention.outcome || {}) },
    ],
  });
}

/** Any JSON value, readable: scalars as text, objects as facts, lists of objects as tables. */
export function generic(value) {
  if (Array.isArray(value)) {
    if (value.length && value.every((item) => item && typeof item === "object" && !Array.isArray(item))) {
      const keys = [...new Set(value.flatMap((item) => Object.keys(item)))];
      return pagedTable({ rows: value, columns: keys.map((key) => ({ title: label(key), cell: (row) => scalar(row[key]) })) });
    }
    if (!value.length) return h("span", { class: "muted" }, "none");
    return h("ul", {}, value.map((item) => h("li", {}, generic(item))));
  }
  if (value && typeof value === "object") {
    return h("dl", { class: "facts" }, Object.entries(value).flatMap(([key, inner]) => [h("dt", {}, label(key)), h("dd", {}, generic(inner))]));
  }
  return scalar(value);
}

function scalar(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  if (typeof value === "object") return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
  if (typeof value === "boolean") return yesNo(value);
  return String(value);
}
