// The audit trail of one integration (`GET /integrations/{id}/audit`, operation `listAudit`):
// every state-changing admin action, newest first, a page at a time (the API's cursor): when,
// who, what, the fields it changed (names, never values), the answer, the request id.

import { get, operation } from "./api.js";
import { badge, fill, h, label, pagedTable, time } from "./ui.js";

const PAGE_SIZE = 25;

/** The audit operation, if this host's API has one. */
export function auditOperation() {
  return operation("listAudit");
}

const ACTION_TEXT = {
  create: "Created the integration",
  update: "Changed settings",
  rotate_credentials: "Rotated credentials",
  delete: "Deleted the integration",
  sync_now: "Asked for a sync",
  submit_certificate: "Submitted a certificate",
  submit_certificate_batch: "Submitted certificates",
};

const RESULT_TONE = { succeeded: "ok", refused: "warning", failed: "failed" };

export async function auditView(body, record) {
  const output = h("div");
  const cursors = [null];
  const load = async (index) => {
    const { entries, next_cursor: next } = await get(`/integrations/${encodeURIComponent(record.id)}/audit`, { limit: PAGE_SIZE, cursor: cursors[index] || undefined });
    if (next) cursors[index + 1] = next;
    const previous = h("button", { type: "button", class: "secondary", disabled: index === 0, onclick: () => load(index - 1) }, "← Newer");
    const following = h("button", { type: "button", class: "secondary", disabled: !next, onclick: () => load(index + 1) }, "Older →");
    fill(output, auditTable(entries), h("nav", { class: "pager", "aria-label": "Pages" }, previous, h("span", { "aria-live": "polite" }, `Page ${index + 1}`), following));
  };
  fill(body,
    h("p", {}, "Every change made to this integration through the API or this console: who made it, when, what it changed (the names of the fields, never their values) and how it was answered. Reads, checks and plans are not recorded."),
    output);
  await load(0);
}

function auditTable(entries) {
  return pagedTable({
    rows: entries,
    pageSize: PAGE_SIZE,
    empty: "Nothing recorded yet.",
    columns: [
      { title: "When", cell: (entry) => time(entry.at) },
      { title: "Who", cell: (entry) => entry.subject || h("span", { class: "muted" }, "(no subject)") },
      { title: "Action", cell: (entry) => h("span", { "data-action": entry.action }, h("strong", {}, ACTION_TEXT[entry.action] || label(entry.action)), h("div", { class: "muted mono" }, entry.action), entry.detail ? h("div", {}, entry.detail) : null) },
      { title: "Changed fields", cell: (entry) => (entry.fields?.length ? h("ul", { class: "chips" }, entry.fields.map((field) => h("li", { class: "mono" }, field))) : h("span", { class: "muted" }, "—")) },
      { title: "Answer", cell: (entry) => h("span", {}, badge(RESULT_TONE[entry.outcome?.result] || "", `${label(entry.outcome?.result)} · ${entry.outcome?.status ?? ""}`), entry.outcome?.problem ? h("div", { class: "muted" }, entry.outcome.problem) : null) },
      { title: "Request id", cell: (entry) => h("span", { class: "mono" }, entry.request_id) },
    ],
  });
}
