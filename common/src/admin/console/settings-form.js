// The integration form, driven by a small schema.
//
// The settings shown are the ones the API has: the form walks the integration's settings (or,
// for a new one, `GET /settings/defaults`), so a setting the core gains appears without a console
// change. `FIELDS` only adds what a person needs on top: a label, help, the kind of input, and
// the order. A setting with no entry here is still shown (in "Other settings", its input chosen
// by its value's type), and a setting this console does not know is never dropped on save.
//
// Adding a setting: one entry in `FIELDS` with its dotted path (as the API's problem+json names
// it), a label, help, and a kind (text, url, email, password, number, checkbox, select, list,
// multi, map, status-rules, schedule, json).

import { h } from "./ui.js";

/** Sections in order; a field is shown only if its path exists (see above). */
export const SECTIONS = [
  { id: "general", title: "Name and schedule" },
  { id: "personio", title: "Personio connection" },
  { id: "lms", title: "Learning platform (SCIM 2.0)" },
  { id: "selection", title: "Who gets an LMS account" },
  { id: "status", title: "Employment status → LMS status" },
  { id: "groups", title: "Groups" },
  { id: "profile", title: "Fields sent to the LMS" },
  { id: "emails", title: "Invitations and run summaries" },
  { id: "guard", title: "Deactivation guard" },
  { id: "certificates", title: "Certificates → Personio documents" },
  { id: "other", title: "Other settings" },
];

export const FIELDS = [
  { path: "name", section: "general", label: "Name", kind: "text", required: true, help: "For people, e.g. “ACME GmbH → Academy”." },
  { path: "schedule", section: "general", label: "Schedule", kind: "schedule", help: "How often the integration syncs by itself; “Sync now” works either way." },

  { path: "personio.base_url", section: "personio", label: "Personio API URL", kind: "url", optional: true, placeholder: "Personio's production API", help: "Leave empty for Personio itself; a sandbox's URL for tests." },
  { path: "personio.client_id", section: "personio", label: "Client ID", kind: "text", credential: true, required: true, help: "Personio → Settings → Integrations → API credentials." },
  { path: "personio.client_secret", section: "personio", label: "Client secret", kind: "password", credential: true, required: true, help: "Stored encrypted; never shown again." },
  { path: "personio.partner_id", section: "personio", label: "Partner ID", kind: "text", optional: true, help: "Optional X-Personio-Partner-ID header." },
  { path: "personio.app_id", section: "personio", label: "App ID", kind: "text", optional: true, help: "Optional X-Personio-App-ID header." },

  { path: "lms.scim_base_url", section: "lms", label: "SCIM base URL", kind: "url", required: true, placeholder: "https://lms.example.com/scim/v2", help: "https (plain http only to this machine)." },
  { path: "lms.token", section: "lms", label: "SCIM bearer token", kind: "password", credential: true, required: true, help: "Stored encrypted; never shown again." },

  { path: "settings.selection.attribute", section: "selection", label: "Selection attribute", kind: "text", required: true, help: "The yes/no custom attribute in Personio: its label (“LMS Sync”) or key (dynamic_1234)." },
  { path: "settings.selection.yes_values", section: "selection", label: "Values meaning “yes”", kind: "list", help: "One per line; compared trimmed and case-insensitively." },

  { path: "settings.status", section: "status", label: "Status mapping", kind: "status-rules", help: "Which LMS status each Personio status becomes, and whether the account may sign in." },
  { path: "settings.status.lock_outside_contract", section: "status", label: "Lock accounts outside the contract (before the hire date, after the end)", kind: "checkbox" },
  { path: "settings.create_locked_accounts", section: "status", label: "Create accounts for leavers, locked", kind: "checkbox" },

  { path: "settings.groups.by", section: "groups", label: "Add users to LMS groups named after their", kind: "multi", options: ["department", "team", "position"], help: "The groups must exist in the LMS; missing ones are reported, never created." },
  { path: "settings.groups.remove_when_moved", section: "groups", label: "Remove users from the old group when they move", kind: "checkbox" },

  { path: "settings.fields", section: "profile", label: "Fields sent to the LMS", kind: "list", help: "One per line." },
  { path: "settings.custom_attributes", section: "profile", label: "Custom attribute mapping", kind: "map", keyLabel: "Personio attribute (label or dynamic_ key)", valueLabel: "LMS field", help: "Extra Personio attributes written to LMS fields." },

  { path: "settings.notifications.invite_new_users", section: "emails", label: "Send an invitation email to every new LMS user", kind: "checkbox" },
  { path: "settings.notifications.login_url", section: "emails", label: "Sign-in URL in the invitation", kind: "url", optional: true },
  { path: "settings.notifications.admin_email", section: "emails", label: "Admin email", kind: "email", optional: true, help: "Receives the run summary." },
  { path: "settings.notifications.summary", section: "emails", label: "When to send the summary", kind: "select", options: ["always", "on_changes", "on_failures", "never"] },

  { path: "settings.deactivation_guard.max_count", section: "guard", label: "Hold back when more than this many would be deactivated…", kind: "number", min: 0 },
  { path: "settings.deactivation_guard.max_percent", section: "guard", label: "…and more than this percentage of linked users", kind: "number", min: 0, max: 100 },

  { path: "settings.certificates.enabled", section: "certificates", label: "Push course certificates to Personio", kind: "checkbox" },
  { path: "settings.certificates.category", section: "certificates", label: "Document category", kind: "text", optional: true, placeholder: "Learning certificates / Bildungszertifikate / Other documents", help: "Leave empty for the first of these that exists." },
  { path: "settings.certificates.allowed_pdf_hosts", section: "certificates", label: "Hosts PDFs may be downloaded from", kind: "list", help: "One per line, e.g. files.lms.example.com or *.lms.example.com (https only)." },
  { path: "settings.certificates.in_progress_ttl_seconds", section: "certificates", label: "Claim time of one certificate push (seconds)", kind: "number", min: 60 },

  { path: "settings.apply_concurrency", section: "other", label: "LMS writes at the same time", kind: "number", min: 1, max: 64 },
];

const STATUS_NAMES = ["onboarding", "active", "leave", "inactive"];

function lookup(object, path) {
  return path.split(".").reduce((value, key) => (value && typeof value === "object" ? value[key] : undefined), object);
}

function assign(object, path, value) {
  const keys = path.split(".");
  let target = object;
  for (const key of keys.slice(0, -1)) {
    if (!target[key] || typeof target[key] !== "object" || Array.isArray(target[key])) target[key] = {};
    target = target[key];
  }
  target[keys[keys.length - 1]] = value;
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Defaults overlaid with the stored values (objects merged, everything else replaced). */
function merge(base, over) {
  if (!over || typeof over !== "object" || Array.isArray(over)) return clone(over ?? base);
  const merged = clone(base && typeof base === "object" && !Array.isArray(base) ? base : {});
  for (const [key, value] of Object.entries(over)) merged[key] = merge(merged[key], value);
  return merged;
}

function title(path) {
  const last = path.split(".").pop();
  const text = last.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function inferKind(value) {
  if (typeof value === "boolean") return "checkbox";
  if (typeof value === "number") return "number";
  if (typeof value === "string" || value === null) return "text";
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return "list";
  return "json";
}

let idCounter = 0;
function nextId(path) {
  idCounter += 1;
  return `f-${path.replace(/[^a-zA-Z0-9]+/g, "-")}-${idCounter}`;
}

/**
 * The form. `record`: the integration (edit) or null (create); `defaults`: the API's default
 * settings. Returns {element, read(), showProblem(problem), clearErrors()}.
 */
export function integrationForm({ record, defaults, onSubmit }) {
  const editing = Boolean(record);
  const values = {
    name: record?.name ?? "",
    schedule: record?.schedule ?? { every_minutes: 60 },
    personio: { ...(record?.personio || {}), client_id: "", client_secret: "" },
    lms: { scim_base_url: record?.lms?.scim_base_url ?? "", token: "" },
    settings: merge(defaults || {}, record?.settings || {}),
  };
  /** path → {wrapper, error, focus()} for showing problems beside their field. */
  const registry = new Map();
  /** Functions that write the form's inputs into a body. */
  const readers = [];
  const claimed = new Set();

  const sections = new Map(SECTIONS.map((section) => [section.id, h("fieldset", { class: "section", id: `section-${section.id}` }, h("legend", {}, section.title))]));

  function field(spec, input, { describedBy = [] } = {}) {
    const id = input.id || nextId(spec.path);
    input.id = id;
    const help = spec.help ? h("span", { class: "help", id: `${id}-help` }, spec.help) : null;
    const error = h("span", { class: "error", id: `${id}-error`, hidden: true });
    const ids = [help && help.id, error.id, ...describedBy].filter(Boolean).join(" ");
    input.setAttribute("aria-describedby", ids);
    const labelText = spec.label + (input.required ? " (required)" : "");
    const wrapper = spec.kind === "checkbox"
      ? h("div", { class: "field" }, h("label", { class: "check", for: id }, input, h("span", {}, spec.label)), help, error)
      : h("div", { class: "field" }, h("label", { for: id }, labelText), input, help, error);
    registry.set(spec.path, { wrapper, error, focus: () => input.focus(), input });
    return wrapper;
  }

  function group(spec, content) {
    // A field made of several inputs: a labelled group, errors shown below it.
    const id = nextId(spec.path);
    const help = spec.help ? h("span", { class: "help", id: `${id}-help` }, spec.help) : null;
    const error = h("span", { class: "error", id: `${id}-error`, hidden: true });
    const wrapper = h("fieldset", { class: "field", "aria-describedby": [help && help.id, error.id].filter(Boolean).join(" ") },
      h("legend", { class: "label" }, spec.label), content, help, error);
    const first = () => wrapper.querySelector("input, select, textarea, button");
    registry.set(spec.path, { wrapper, error, focus: () => first()?.focus(), input: null });
    return wrapper;
  }

  function textInput(spec, value, type = "text") {
    const input = h("input", { type, name: spec.path, value: value ?? "", placeholder: spec.placeholder, autocomplete: type === "password" ? "new-password" : "off", required: spec.required && !(spec.credential && editing) });
    if (spec.kind === "number") {
      if (spec.min !== undefined) input.min = spec.min;
      if (spec.max !== undefined) input.max = spec.max;
      input.inputMode = "numeric";
    }
    return input;
  }

  function render(spec, value) {
    const kind = spec.kind || inferKind(value);
    switch (kind) {
      case "text": case "url": case "email": case "password": {
        const input = textInput({ ...spec, kind }, typeof value === "string" ? value : "", kind === "text" ? "text" : kind);
        if (spec.credential && editing) input.placeholder = "unchanged (stored encrypted)";
        readers.push((body) => {
          const text = input.value.trim();
          if (spec.credential) {
            if (text) assign(body, spec.path, text);
          } else if (text) {
            assign(body, spec.path, text);
          } else if (spec.optional || value === null) {
            if (spec.path.startsWith("settings.")) assign(body, spec.path, null);
          } else {
            assign(body, spec.path, "");
          }
        });
        return field(spec, input);
      }
      case "number": {
        const input = textInput({ ...spec, kind }, value, "number");
        readers.push((body) => {
          const text = input.value.trim();
          assign(body, spec.path, text === "" ? null : Number.isFinite(Number(text)) ? Number(text) : text);
        });
        return field(spec, input);
      }
      case "checkbox": {
        const input = h("input", { type: "checkbox", name: spec.path, checked: Boolean(value) });
        readers.push((body) => assign(body, spec.path, input.checked));
        return field({ ...spec, kind }, input);
      }
      case "select": {
        const options = spec.options.includes(value) || value == null ? spec.options : [value, ...spec.options];
        const input = h("select", { name: spec.path }, options.map((option) => h("option", { value: option, selected: option === value }, option.replaceAll("_", " "))));
        readers.push((body) => assign(body, spec.path, input.value));
        return field(spec, input);
      }
      case "list": {
        const input = h("textarea", { name: spec.path, rows: 3 }, (value || []).join("\n"));
        input.style.minHeight = "4.5rem";
        readers.push((body) => assign(body, spec.path, input.value.split("\n").map((line) => line.trim()).filter(Boolean)));
        return field(spec, input);
      }
      case "multi": {
        const chosen = new Set(value || []);
        const boxes = spec.options.map((option) => h("input", { type: "checkbox", name: spec.path, value: option, checked: chosen.has(option) }));
        readers.push((body) => assign(body, spec.path, boxes.filter((box) => box.checked).map((box) => box.value)));
        return group(spec, h("div", { class: "inline" }, boxes.map((box, index) => h("label", { class: "check" }, box, spec.options[index]))));
      }
      case "map": return mapRows(spec, value || {});
      case "status-rules": return statusRules(spec, value || {});
      case "schedule": return scheduleField(spec, value);
      default: {
        const input = h("textarea", { name: spec.path, spellcheck: false }, JSON.stringify(value ?? null, null, 2));
        readers.push((body) => {
          try {
            assign(body, spec.path, JSON.parse(input.value));
          } catch {
            throw Object.assign(new Error("is not valid JSON"), { field: spec.path });
          }
        });
        return field({ ...spec, help: spec.help || "As JSON." }, input);
      }
    }
  }

  function mapRows(spec, value) {
    const rows = h("div", { class: "rows" });
    const add = (key = "", mapped = "") => {
      const keyInput = h("input", { type: "text", value: key, "aria-label": spec.keyLabel });
      const valueInput = h("input", { type: "text", value: mapped, "aria-label": spec.valueLabel });
      const row = h("div", { class: "row" },
        h("label", {}, h("span", {}, spec.keyLabel), keyInput),
        h("label", {}, h("span", {}, spec.valueLabel), valueInput),
        h("button", { type: "button", class: "secondary", onclick: () => { row.remove(); } }, "Remove"));
      row.read = () => [keyInput.value.trim(), valueInput.value.trim()];
      rows.append(row);
      return keyInput;
    };
    for (const [key, mapped] of Object.entries(value)) add(key, mapped);
    readers.push((body) => {
      const object = {};
      for (const row of rows.children) {
        const [key, mapped] = row.read();
        if (key || mapped) object[key] = mapped;
      }
      assign(body, spec.path, object);
    });
    const addButton = h("button", { type: "button", class: "secondary", onclick: () => add().focus() }, "Add a row");
    return group(spec, [rows, addButton]);
  }

  function statusRules(spec, value) {
    const table = h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Personio status"), h("th", { scope: "col" }, "LMS status"), h("th", { scope: "col" }, "May sign in"))),
      h("tbody"));
    for (const name of STATUS_NAMES) {
      const rule = value[name] || {};
      const path = `${spec.path}.${name}`;
      claimed.add(path);
      const statusInput = h("input", { type: "text", value: rule.lms_status ?? "", "aria-label": `LMS status for ${name}` });
      const activeInput = h("input", { type: "checkbox", checked: Boolean(rule.active), "aria-label": `${name}: may sign in` });
      const error = h("span", { class: "error", hidden: true });
      const row = h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, statusInput, error), h("td", {}, activeInput));
      table.tBodies[0].append(row);
      registry.set(`${path}.lms_status`, { wrapper: row, error, focus: () => statusInput.focus(), input: statusInput });
      readers.push((body) => assign(body, path, { lms_status: statusInput.value.trim(), active: activeInput.checked }));
    }
    return group(spec, h("div", { class: "table-wrap" }, table));
  }

  function scheduleField(spec, value) {
    const manual = value === "manual";
    const minutes = manual ? 60 : value?.every_minutes ?? 60;
    const name = nextId("schedule-kind");
    const manualInput = h("input", { type: "radio", name, value: "manual", checked: manual });
    const everyInput = h("input", { type: "radio", name, value: "every", checked: !manual });
    const minutesInput = h("input", { type: "number", min: 1, max: 1440, value: minutes, "aria-label": "Minutes between runs", id: nextId("schedule.every_minutes") });
    const element = group(spec, h("div", {},
      h("label", { class: "check" }, manualInput, "Only when started (“Sync now”)"),
      h("label", { class: "check" }, everyInput, "Every ", minutesInput, " minutes")));
    const minutesError = h("span", { class: "error", hidden: true });
    element.insertBefore(minutesError, element.lastChild);
    registry.set("schedule.every_minutes", { wrapper: element, error: minutesError, focus: () => minutesInput.focus(), input: minutesInput });
    readers.push((body) => {
      body.schedule = manualInput.checked ? "manual" : { every_minutes: Number(minutesInput.value) };
    });
    return element;
  }

  // The known fields first, in schema order, where the API has them…
  const rootValues = { name: values.name, schedule: values.schedule, personio: values.personio, lms: values.lms, settings: values.settings };
  for (const spec of FIELDS) {
    const value = lookup(rootValues, spec.path);
    const present = !spec.path.startsWith("settings.") || value !== undefined;
    if (!present) continue;
    // A status table claims its rules, not the whole status object.
    if (spec.kind !== "status-rules") claimed.add(spec.path);
    sections.get(spec.section).append(render(spec, value));
  }
  // …then every other setting the API has, by its value's type (an object the schema says
  // nothing about is edited as JSON, so that keys can be added too).
  (function walk(object, prefix) {
    for (const [key, value] of Object.entries(object || {})) {
      const path = `${prefix}.${key}`;
      if (claimed.has(path)) continue;
      const known = FIELDS.some((spec) => spec.path.startsWith(`${path}.`));
      if (known && value && typeof value === "object" && !Array.isArray(value)) {
        walk(value, path);
      } else {
        sections.get("other").append(render({ path, label: title(path), section: "other" }, value));
      }
    }
  })(values.settings, "settings");

  const formError = h("div", { class: "banner", role: "alert", hidden: true, tabindex: "-1" });
  const saveButton = h("button", { type: "submit", name: "save" }, editing ? "Save" : "Create");
  const syncButton = h("button", { type: "submit", name: "save-sync", class: "secondary" }, editing ? "Save & sync" : "Create & sync");
  const form = h("form", { novalidate: true, "aria-label": editing ? "Edit integration" : "New integration" },
    formError,
    [...sections.values()].filter((section) => section.children.length > 1),
    h("div", { class: "actions" }, saveButton, syncButton));

  function clearErrors() {
    formError.hidden = true;
    for (const entry of registry.values()) {
      entry.error.hidden = true;
      entry.error.textContent = "";
      entry.wrapper.classList.remove("invalid");
      entry.input?.removeAttribute("aria-invalid");
    }
  }

  /** Shows a problem beside the field it names (the longest known prefix), else above the form. */
  function showProblem(problem) {
    clearErrors();
    let path = problem.field || "";
    while (path && !registry.has(path)) {
      const shorter = path.replace(/(\[[^\]]*\]|\."[^"]*"|\.[^.]*)$/, "");
      if (shorter === path) break;
      path = shorter;
    }
    const entry = registry.get(path);
    const message = problem.field && problem.detail.startsWith(`${problem.field}: `) ? problem.detail.slice(problem.field.length + 2) : problem.detail || problem.message;
    if (entry) {
      entry.error.textContent = message;
      entry.error.hidden = false;
      entry.wrapper.classList.add("invalid");
      entry.input?.setAttribute("aria-invalid", "true");
      entry.focus();
    } else {
      formError.textContent = problem.field ? `${problem.field}: ${message}` : message;
      formError.hidden = false;
      formError.focus();
    }
  }

  function read() {
    const body = {};
    for (const reader of readers) reader(body);
    // Settings this console did not render are kept as they were.
    body.settings = merge(values.settings, body.settings || {});
    if (editing) {
      body.version = record.version;
      // Without new credentials, the stored ones stay; the connection objects are sent whole.
      if (body.personio) for (const key of ["client_id", "client_secret"]) if (!body.personio[key]) delete body.personio[key];
    }
    return body;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const andSync = event.submitter?.name === "save-sync";
    let body;
    try {
      clearErrors();
      body = read();
    } catch (error) {
      showProblem({ field: error.field, detail: error.message });
      return;
    }
    onSubmit(body, andSync, [saveButton, syncButton]);
  });

  return { element: form, showProblem, clearErrors };
}
