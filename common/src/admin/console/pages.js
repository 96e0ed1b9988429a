// The pages: sign-in, the integrations list, a new integration, and one integration with its
// tabs (overview, settings, check, plan, runs, certificates, and, where the API offers them, an
// employee's explanation and the audit trail). Every page reads the API afresh; nothing is cached
// between pages.

import { ApiProblem, call, get, operation } from "./api.js";
import { auditOperation, auditView } from "./audit.js";
import { mode, signInWithToken, startOidcSignIn } from "./auth.js";
import { explainLookup, explainOperation, explainView } from "./explain.js";
import { integrationForm } from "./settings-form.js";
import { announce, badge, fill, formatTime, h, label, pagedTable, problemCard, time } from "./ui.js";
import { outcomesTable, requestsText, runCounts, statusText } from "./runs.js";

const path = (id, ...rest) => ["/integrations", encodeURIComponent(id), ...rest].join("/");
const link = (id, ...rest) => `#/i/${encodeURIComponent(id)}${rest.length ? `/${rest.map(encodeURIComponent).join("/")}` : ""}`;

function heading(text, ...extra) {
  return [h("h1", { tabindex: "-1" }, text), ...extra];
}

function scheduleText(schedule) {
  if (schedule === "manual") return "manual (Sync now only)";
  if (schedule?.every_minutes) return `every ${schedule.every_minutes} min`;
  return "—";
}

/** Problem banners for one integration: a standing certificate problem, a failed last run. */
export function problemsOf(record, lastRun) {
  const problems = [];
  if (record.certificate_problem) {
    problems.push({ tone: "bad", title: "Certificates are not reaching Personio", text: `${record.certificate_problem.message} (since ${formatTime(record.certificate_problem.since)})` });
  }
  if (lastRun && ["failed", "aborted", "abandoned"].includes(lastRun.status)) {
    problems.push({ tone: "bad", title: `The last sync ${label(lastRun.status)}`, text: lastRun.error || "see the run for details" });
  } else if (lastRun?.status === "completed_with_failures") {
    problems.push({ tone: "warn", title: "The last sync finished with failures", text: `${lastRun.counts?.failed ?? 0} failed, ${lastRun.counts?.held_back ?? 0} held back` });
  }
  return problems;
}

export function showBanners(problems, prefix = "") {
  const banner = document.getElementById("banner");
  fill(banner, problems.map((problem) => h("div", { class: `banner ${problem.tone === "warn" ? "warn" : ""}`, role: "alert" },
    h("strong", {}, `${prefix}${problem.title}:`), problem.text)));
}

// ---------------------------------------------------------------- sign in

export function loginPage(main) {
  if (mode() === "oidc") {
    const button = h("button", { type: "button", onclick: async () => {
      button.disabled = true;
      try {
        await startOidcSignIn();
      } catch (error) {
        button.disabled = false;
        main.append(problemCard(error));
      }
    } }, "Sign in");
    fill(main, h("section", { class: "login card" }, heading("Sign in"), h("p", {}, "Sign in with your organisation's account to manage the integrations."), button));
    return;
  }
  const input = h("input", { type: "password", id: "admin-token", name: "token", autocomplete: "current-password", required: true, "aria-describedby": "admin-token-help admin-token-error" });
  const error = h("span", { class: "error", id: "admin-token-error", hidden: true });
  const submit = h("button", { type: "submit" }, "Sign in");
  const field = h("div", { class: "field" },
    h("label", { for: "admin-token" }, "Admin token"), input,
    h("span", { class: "help", id: "admin-token-help" }, "Printed once by personio-lms serve on its first start (or after --reset-admin-token)."),
    error);
  const form = h("form", { class: "login card", "aria-label": "Sign in" }, heading("Sign in"), field, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    field.classList.remove("invalid");
    try {
      await signInWithToken(input.value);
      location.hash = sessionStorage.getItem("personio-lms.after-login") || "#/";
      sessionStorage.removeItem("personio-lms.after-login");
    } catch (problem) {
      error.textContent = problem.detail || problem.message;
      error.hidden = false;
      field.classList.add("invalid");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}

// ---------------------------------------------------------------- integrations

export async function integrationsPage(main) {
  const { integrations } = await get("/integrations");
  const lastRuns = await Promise.all(integrations.map(async (record) => {
    try {
      return (await get(path(record.id, "runs"), { limit: 1 })).runs[0] || null;
    } catch {
      return null;
    }
  }));
  const rows = integrations.map((record, index) => ({ record, last: lastRuns[index], problems: problemsOf(record, lastRuns[index]) }));
  const troubled = rows.filter((row) => row.problems.length);
  showBanners(troubled.map((row) => ({ ...row.problems[0], title: `${row.record.name}: ${row.problems[0].title}` })));
  const table = pagedTable({
    rows,
    empty: "No integrations yet.",
    columns: [
      { title: "Integration", cell: ({ record }) => h("a", { href: link(record.id) }, record.name) },
      { title: "Last run", cell: ({ last, record }) => (last ? h("span", {}, badge(last.status), " ", h("a", { href: link(record.id, "runs", last.run_id) }, formatTime(last.started_at)), last.dry_run ? " (plan)" : "") : h("span", { class: "muted" }, "never")) },
      { title: "Next run", cell: ({ record }) => (record.next_run_at ? time(record.next_run_at) : h("span", { class: "muted" }, scheduleText(record.schedule))) },
      { title: "Schedule", cell: ({ record }) => scheduleText(record.schedule) },
      { title: "Problems", cell: ({ problems }) => (problems.length ? problems.map((problem) => h("div", {}, badge(problem.tone === "warn" ? "warning" : "failed", problem.title))) : badge("ok", "none")) },
    ],
  });
  fill(main, heading("Integrations"), h("p", { class: "lead" }, "Each integration connects one Personio account to one learning platform."),
    table, h("div", { class: "actions" }, h("a", { class: "button", href: "#/new" }, "New integration")));
}

async function defaultSettings() {
  try {
    return await get("/settings/defaults");
  } catch {
    return { selection: { attribute: "", yes_values: ["ja", "yes", "true"] } };
  }
}

/** Saves (and optionally syncs), showing problems beside their fields. */
async function saveWith(form, send, buttons, afterSave) {
  buttons.forEach((button) => { button.disabled = true; });
  try {
    const saved = await send();
    await afterSave(saved);
  } catch (error) {
    if (error instanceof ApiProblem) form.showProblem(error);
    else form.showProblem({ detail: error.message });
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
}

export async function newIntegrationPage(main) {
  showBanners([]);
  const defaults = await defaultSettings();
  const form = integrationForm({
    record: null,
    defaults,
    onSubmit: (body, andSync, buttons) => saveWith(form, () => call("POST", "/integrations", { body }), buttons, async ({ data }) => {
      if (andSync) {
        await call("POST", path(data.id, "sync"));
        announce(`Created ${data.name}; a sync is queued.`);
        location.hash = link(data.id, "runs");
      } else {
        announce(`Created ${data.name}.`);
        location.hash = link(data.id);
      }
    }),
  });
  fill(main, h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Integrations"), " / new"), heading("New integration"),
    h("p", { class: "lead" }, "Credentials are stored encrypted and never shown again. Run the check after creating it."), form.element);
}

// ---------------------------------------------------------------- one integration

const TABS = [
  ["", "Overview"], ["settings", "Settings"], ["check", "Check"], ["plan", "Plan"],
  ["runs", "Runs"], ["certificates", "Certificates"], ["webhooks", "Webhooks"], ["explain", "Explain"],
  ["audit", "Audit trail"],
];

export async function integrationPage(main, id, tab = "", rest = []) {
  const response = await call("GET", path(id));
  const record = response.data;
  const [explain, audit, reconcile] = await Promise.all([explainOperation(), auditOperation(), operation("reconcileNow")]);
  let lastRun = null;
  try {
    lastRun = (await get(path(id, "runs"), { limit: 1 })).runs[0] || null;
  } catch {
    lastRun = null;
  }
  showBanners(problemsOf(record, lastRun));
  const tabs = h("ul", { class: "tabs", role: "list" }, TABS.filter(([name]) => (name !== "explain" || explain) && (name !== "audit" || audit)).map(([name, text]) =>
    h("li", {}, h("a", { href: name ? link(id, name) : link(id), "aria-current": name === tab ? "page" : false }, text))));
  const syncButton = h("button", { type: "button", class: "secondary", onclick: async () => {
    syncButton.disabled = true;
    try {
      await call("POST", path(id, "sync"));
      announce("Sync queued.");
      location.hash = link(id, "runs");
    } catch (error) {
      body.prepend(problemCard(error));
    } finally {
      syncButton.disabled = false;
    }
  } }, "Sync now");
  // Where the API offers it: a run that also repairs what was changed in the LMS by hand.
  const reconcileButton = reconcile ? h("button", { type: "button", class: "secondary", name: "reconcile-now", title: "Also reads the LMS and restores deleted users, hand-edited synced fields and removed group memberships", onclick: async () => {
    reconcileButton.disabled = true;
    try {
      await call(reconcile.method, path(id, "reconcile"));
      announce("Reconcile run queued.");
      location.hash = link(id, "runs");
    } catch (error) {
      body.prepend(problemCard(error));
    } finally {
      reconcileButton.disabled = false;
    }
  } }, "Reconcile now") : null;
  const body = h("div");
  fill(main, h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Integrations"), " / ", record.name),
    h("div", { class: "title-row" }, h("h1", { tabindex: "-1" }, record.name), h("div", { class: "buttons" }, syncButton, reconcileButton)), tabs, body);
  const views = { "": overview, settings, check, plan, runs, certificates, webhooks, explain: explain && explainView, audit: audit && auditView };
  const view = views[tab];
  if (!view) {
    fill(body, h("p", {}, `No page ${tab}.`));
    return;
  }
  await view(body, record, { etag: response.headers.get("ETag"), rest, explain, lastRun });
}

async function overview(body, record, { lastRun, explain }) {
  const { runs } = await get(path(record.id, "runs"), { limit: 5 });
  fill(body,
    h("section", { class: "card" }, h("h2", {}, "At a glance"), h("dl", { class: "facts" },
      h("dt", {}, "Last run"), h("dd", {}, lastRun ? [badge(lastRun.status), " ", time(lastRun.started_at)] : "never"),
      h("dt", {}, "Next run"), h("dd", {}, record.next_run_at ? time(record.next_run_at) : scheduleText(record.schedule)),
      h("dt", {}, "Schedule"), h("dd", {}, scheduleText(record.schedule)),
      h("dt", {}, "Personio"), h("dd", { class: "mono" }, record.personio?.base_url || "Personio's production API"),
      h("dt", {}, "Learning platform"), h("dd", { class: "mono" }, record.lms.scim_base_url),
      h("dt", {}, "Selection attribute"), h("dd", {}, record.settings.selection.attribute),
      h("dt", {}, "Certificates"), h("dd", {}, record.settings.certificates?.enabled ? "pushed to Personio" : "off"),
      h("dt", {}, "Integration id"), h("dd", { class: "mono" }, record.id),
      h("dt", {}, "Changed"), h("dd", {}, time(record.updated_at), ` (version ${record.version})`))),
    explain ? h("section", { class: "card", "aria-labelledby": "explain-heading" }, h("h2", { id: "explain-heading" }, "Explain an employee"), explainLookup(record.id)) : null,
    h("h2", {}, "Recent runs"), runsTable(record.id, runs, 5));
}

async function settings(body, record, { etag }) {
  const defaults = await defaultSettings();
  const form = integrationForm({
    record,
    defaults,
    onSubmit: (sent, andSync, buttons) => saveWith(form, () => call("PUT", path(record.id), { body: sent, headers: etag ? { "If-Match": etag } : {} }), buttons, async () => {
      if (andSync) {
        await call("POST", path(record.id, "sync"));
        announce("Saved; a sync is queued.");
        location.hash = link(record.id, "runs");
      } else {
        announce("Saved.");
        location.hash = link(record.id);
      }
    }),
  });
  const remove = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!confirm(`Delete ${record.name}? Its credentials are removed; the run history stays.`)) return;
    try {
      await call("DELETE", path(record.id), { headers: etag ? { "If-Match": etag } : {} });
      announce(`Deleted ${record.name}.`);
      location.hash = "#/";
    } catch (error) {
      body.prepend(problemCard(error));
    }
  } }, "Delete integration");
  fill(body, form.element, h("h2", {}, "Danger zone"), h("div", { class: "actions" }, remove));
}

/**
 * The integration's Personio webhook: whether it is active and how its deliveries went (from
 * Personio's activity), with install and remove. The token is never shown: the host keeps it.
 */
async function webhooks(body, record) {
  const output = h("div", { "aria-live": "polite" });
  const show = async () => {
    fill(output, h("p", { class: "muted" }, "Asking Personio…"));
    try {
      const { data } = await call("GET", path(record.id, "webhook"));
      const failure = data.last_failure;
      fill(output, h("section", { class: "card", "aria-labelledby": "webhook-heading" },
        h("h2", { id: "webhook-heading" }, "Status"),
        h("p", { class: "webhook-status" }, data.active ? badge("ok", "active") : badge("warning", "not active"), " ", data.summary),
        h("dl", { class: "facts" },
          h("dt", {}, "Personio delivers to"), h("dd", { class: "mono" }, data.url),
          h("dt", {}, "Last 24 hours"), h("dd", {}, `${data.delivered} delivered, ${data.failed} failed`),
          data.last_delivered_at ? [h("dt", {}, "Last delivery"), h("dd", {}, time(data.last_delivered_at))] : null,
          failure ? [h("dt", {}, "Last failure"), h("dd", {}, `${failure.event_name} · ${failure.status_code ? `HTTP ${failure.status_code}` : "no answer"}${failure.error ? ` · ${failure.error}` : ""}`)] : null)));
    } catch (error) {
      fill(output, problemCard(error));
    }
  };
  const act = (button, method, done) => async () => {
    button.disabled = true;
    try {
      await call(method, path(record.id, "webhook"));
      announce(done);
    } catch (error) {
      output.prepend(problemCard(error));
      return;
    } finally {
      button.disabled = false;
    }
    await show();
  };
  const install = h("button", { type: "button", name: "install-webhook" }, "Install webhook");
  install.onclick = act(install, "PUT", "Webhook installed: changes in Personio now reach the LMS within seconds.");
  const remove = h("button", { type: "button", class: "danger", name: "remove-webhook" }, "Remove webhook");
  const removeNow = act(remove, "DELETE", "Webhook removed; scheduled runs go on.");
  remove.onclick = async () => {
    if (confirm("Remove the webhook? Changes then wait for the next scheduled run.")) await removeNow();
  };
  fill(body,
    h("p", {}, "With a webhook, Personio tells this host about each change of an employee, and that employee is synced within seconds. Scheduled runs go on and catch what webhooks miss. Installing again replaces the token."),
    h("div", { class: "actions" }, install, remove), output);
  await show();
}

/** What an admin can do about a failing or warning check, by its name. */
const FIXES = {
  webhooks: "Install the webhook on the Webhooks tab; if Personio refuses, give the API credential the scopes personio:webhooks:read and personio:webhooks:write.",
  settings: "Correct the named setting on the Settings tab.",
  "personio.credentials": "Check the client id and secret: Personio → Settings → Integrations → API credentials. Enter them again on the Settings tab (they are never shown).",
  "personio.attributes": "Add the missing attributes to the API credential's readable attributes (Personio → Settings → Integrations → API credentials → Readable employee attributes).",
  "personio.selection": "Make sure the selection attribute exists, is readable by the credential, and is set to one of the “yes” values for the employees who should get an account.",
  "lms.reachable": "Check the SCIM base URL and the bearer token on the Settings tab; the LMS's SCIM settings show both.",
  "lms.groups": "Create the missing groups in the LMS (the sync never creates groups), or change the group assignment on the Settings tab.",
  "certificates.category": "Create the document category in Personio (Settings → Documents → Categories), or choose an existing one on the Settings tab.",
};

async function check(body, record) {
  const output = h("div");
  const run = h("button", { type: "button", onclick: async () => {
    run.disabled = true;
    fill(output, h("p", { class: "muted" }, "Checking Personio and the learning platform…"));
    try {
      const { data } = await call("POST", path(record.id, "check"));
      const marks = { ok: "✓", warning: "!", failed: "✗" };
      fill(output,
        h("p", {}, data.passed ? badge("ok", "passed") : badge("failed", "failed"), ` · ${data.employees_listed} employees listed, ${data.employees_selected} selected`),
        h("ul", { class: "checklist", "aria-label": "Check results" }, data.checks.map((item) => h("li", { class: item.status },
          h("span", { class: "mark", "aria-hidden": "true" }, marks[item.status] || "?"),
          h("div", {}, h("strong", {}, item.name), ` — ${label(item.status)}: `, item.detail),
          item.status !== "ok" && (item.fix || FIXES[item.name]) ? h("div", { class: "fix" }, h("strong", {}, "Fix: "), item.fix || FIXES[item.name]) : null))),
        data.groups_found?.length ? [h("h3", {}, "Groups found in the LMS"), h("p", {}, data.groups_found.join(", "))] : null,
        data.groups_missing?.length ? [h("h3", {}, "Groups missing in the LMS"), h("p", {}, data.groups_missing.join(", "))] : null);
      output.querySelector("ul")?.focus?.();
      announce(data.passed ? "The check passed." : "The check found problems.");
    } catch (error) {
      fill(output, problemCard(error));
    } finally {
      run.disabled = false;
    }
  } }, "Run the check");
  fill(body, h("p", {}, "Reads Personio and the learning platform the way a sync does, and writes nothing."), h("div", { class: "actions" }, run), output);
}

async function plan(body, record, { explain }) {
  const output = h("div");
  const run = h("button", { type: "button", onclick: async () => {
    run.disabled = true;
    fill(output, h("p", { class: "muted" }, "Planning (a dry run: nothing is written)…"));
    try {
      const { data } = await call("POST", path(record.id, "plan"));
      fill(output, data.error ? problemCard({ title: "The plan failed", detail: data.error }) : null,
        runCounts(data), data.notices?.length ? [h("h3", {}, "Notices"), h("ul", {}, data.notices.map((notice) => h("li", {}, notice)))] : null,
        outcomesTable(data.outcomes || [], { integration: record.id, explain, planning: true }));
      announce("The plan is ready.");
    } catch (error) {
      fill(output, problemCard(error));
    } finally {
      run.disabled = false;
    }
  } }, "Make a plan");
  fill(body, h("p", {}, "A dry run: what the next sync would create, update, deactivate and add to groups. It is recorded in the run history."), h("div", { class: "actions" }, run), output);
}

function runsTable(id, runs, pageSize = 20) {
  return pagedTable({
    rows: runs,
    pageSize,
    empty: "No runs yet.",
    columns: [
      { title: "Started", cell: (run) => h("a", { href: link(id, "runs", run.run_id) }, formatTime(run.started_at)) },
      { title: "Status", cell: (run) => badge(run.status) },
      { title: "Kind", cell: (run) => [label(run.trigger), run.dry_run ? " · plan" : "", run.kind && run.kind !== "full" ? ` · ${label(run.kind)}` : "", run.counts.repaired ? ` · ${run.counts.repaired} repaired` : ""] },
      { title: "Created", class: "num", cell: (run) => String(run.counts.created + run.counts.adopted) },
      { title: "Updated", class: "num", cell: (run) => String(run.counts.updated) },
      { title: "Deactivated", class: "num", cell: (run) => String(run.counts.deactivated) },
      { title: "Failed", class: "num", cell: (run) => String(run.counts.failed) },
      { title: "Duration", class: "num", cell: (run) => (run.finished_at ? `${Math.max(0, Math.round((new Date(run.finished_at) - new Date(run.started_at)) / 100) / 10)} s` : "…") },
    ],
  });
}

async function runs(body, record, { rest, explain }) {
  if (rest.length) {
    await runDetail(body, record, rest[0], explain);
    return;
  }
  let stopped = false;
  const refresh = async () => {
    const { runs: list } = await get(path(record.id, "runs"), { limit: 100 });
    const active = list.some((run) => run.status === "running");
    fill(body, h("p", { class: "muted" }, active ? "A run is in progress; this list refreshes by itself." : `The newest ${list.length} runs.`),
      runsTable(record.id, list));
    return active;
  };
  // Right after "Sync now" the run may not exist yet: keep looking for a while.
  const started = Date.now();
  const poll = async () => {
    if (stopped || !body.isConnected) return;
    const active = await refresh().catch(() => false);
    if (active || Date.now() - started < 15000) setTimeout(poll, 2000);
  };
  await poll();
  window.addEventListener("hashchange", () => { stopped = true; }, { once: true });
}

async function runDetail(body, record, runId, explain) {
  const run = await get(path(record.id, "runs", runId));
  const requests = requestsText(run);
  fill(body, h("p", { class: "crumbs" }, h("a", { href: link(record.id, "runs") }, "Runs"), " / ", formatTime(run.started_at)),
    h("h2", {}, `Run of ${formatTime(run.started_at)} `, badge(run.status)),
    statusText(run.status) ? h("p", { class: "muted", id: "run-status-text" }, statusText(run.status)) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Run id"), h("dd", { class: "mono" }, run.run_id),
      h("dt", {}, "Started by"), h("dd", {}, label(run.trigger), run.dry_run ? " (plan: nothing written)" : ""),
      run.kind && run.kind !== "full" ? [h("dt", {}, "Kind"), h("dd", {}, label(run.kind), run.targets?.length ? ` (Personio ids ${run.targets.join(", ")})` : "")] : null,
      h("dt", {}, "Finished"), h("dd", {}, run.finished_at ? time(run.finished_at) : "not yet"),
      run.holder ? [h("dt", {}, "Ran on"), h("dd", { class: "mono" }, run.holder)] : null,
      requests ? [h("dt", {}, "Requests"), h("dd", {}, requests)] : null,
      run.fields_sent?.length ? [h("dt", {}, "Fields sent to the LMS"), h("dd", {}, run.fields_sent.join(", "))] : null),
    run.error ? problemCard({ title: ["aborted", "abandoned"].includes(run.status) ? `The run ${label(run.status)}` : "The run failed", detail: run.error }) : null,
    runCounts(run),
    run.notices?.length ? [h("h3", {}, "Notices"), h("ul", {}, run.notices.map((notice) => h("li", {}, notice)))] : null,
    h("h3", {}, "Employees"),
    outcomesTable(run.outcomes || [], { integration: record.id, explain }));
}

async function certificates(body, record) {
  const stateSelect = h("select", { id: "certificate-state" }, ["", "done", "parked", "in_progress", "failed"].map((state) => h("option", { value: state }, state ? label(state) : "all states")));
  const lookupInput = h("input", { type: "search", id: "certificate-lookup", placeholder: "certificate id" });
  const output = h("div");
  let cursors = [null];
  const load = async (index) => {
    const query = { limit: 25, state: stateSelect.value, after: cursors[index] || undefined };
    const { certificates: list, next_after: next } = await get(path(record.id, "certificates"), query);
    if (next) cursors[index + 1] = next;
    const previous = h("button", { type: "button", class: "secondary", disabled: index === 0, onclick: () => load(index - 1) }, "← Previous");
    const following = h("button", { type: "button", class: "secondary", disabled: !next, onclick: () => load(index + 1) }, "Next →");
    fill(output, certificateTable(list), h("nav", { class: "pager", "aria-label": "Pages" }, previous, h("span", {}, `Page ${index + 1}`), following));
  };
  stateSelect.addEventListener("change", () => { cursors = [null]; load(0); });
  const lookupForm = h("form", { class: "lookup", role: "search", onsubmit: async (event) => {
    event.preventDefault();
    const id = lookupInput.value.trim();
    if (!id) return load(0);
    try {
      fill(output, certificateTable([await get(path(record.id, "certificates", id))]));
    } catch (error) {
      fill(output, problemCard(error));
    }
  } }, h("label", { for: "certificate-lookup" }, "Find a certificate"), lookupInput, h("button", { type: "submit", class: "secondary" }, "Find"));
  fill(body,
    record.settings.certificates?.enabled ? null : h("p", { class: "banner warn" }, "The certificate push is off for this integration (Settings → Certificates)."),
    h("p", {}, "Certificate jobs arrive from the LMS through the API (", h("span", { class: "mono" }, "POST …/certificates"), ") and become Personio documents exactly once."),
    h("div", { class: "filters" }, h("label", { for: "certificate-state" }, "State ", stateSelect), lookupForm), output);
  await load(0);
}

function certificateTable(list) {
  return pagedTable({
    rows: list,
    pageSize: 25,
    empty: "No certificates.",
    columns: [
      { title: "Certificate", cell: (entry) => h("span", { class: "mono" }, entry.certificate_id) },
      { title: "State", cell: (entry) => badge(entry.state) },
      { title: "Details", cell: (entry) => entry.document_id ? `Personio document ${entry.document_id}` : entry.reason || (entry.waiting_for_lms_user ? `waiting for LMS user ${entry.waiting_for_lms_user} to be synced` : entry.expires_at ? `claimed until ${formatTime(entry.expires_at)}` : "") },
      // Shown where the API tells them.
      list.some((entry) => entry.employee_name || entry.personio_id) ? { title: "Employee", cell: (entry) => entry.employee_name || String(entry.personio_id ?? "") } : null,
      list.some((entry) => entry.course_name) ? { title: "Course", cell: (entry) => entry.course_name || "" } : null,
      { title: "Attempts", class: "num", cell: (entry) => String(entry.attempts) },
      { title: "Updated", cell: (entry) => formatTime(entry.updated_at) },
    ].filter(Boolean),
  });
}
