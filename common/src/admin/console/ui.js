// Small DOM helpers shared by the pages: element building (text only, never HTML strings, so
// nothing from the API is ever interpreted as markup), tables with paging, badges, dates.

/** Builds an element: h("a", {href: "#/"}, "text", child, …). `null`/`false` children are skipped. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name in element && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `element`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function formatTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "in 5 min", "3 h ago". */
export function relativeTime(value) {
  if (!value) return "";
  const seconds = Math.round((new Date(value).getTime() - Date.now()) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return format.format(Math.round(seconds / size), unit);
    }
  }
  return "";
}

export function time(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: value, title: formatTime(value) }, `${formatTime(value)} (${relativeTime(value)})`);
}

const TONES = {
  succeeded: "ok", done: "ok", ok: "ok", created: "ok", adopted: "ok", updated: "ok", accepted: "ok",
  completed_with_failures: "warn", warning: "warn", parked: "warn", held_back: "warn", in_progress: "warn",
  skipped: "warn", running: "warn", deactivated: "warn",
  failed: "bad", aborted: "bad", abandoned: "bad", rejected: "bad",
};

export function label(value) {
  return String(value ?? "").replaceAll("_", " ");
}

export function badge(value, text) {
  const tone = TONES[value] || "";
  return h("span", { class: `badge ${tone}` }, text ?? label(value));
}

/**
 * A table of `rows` with `columns` ({title, cell(row) → node|string, class}) and client-side
 * paging (`pageSize` rows at a time). Returns the wrapper element.
 */
export function pagedTable({ columns, rows, pageSize = 25, empty = "Nothing to show.", caption }) {
  const wrapper = h("div");
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  function render() {
    const shown = rows.slice(page * pageSize, (page + 1) * pageSize);
    const table = h("table", { class: "stack" },
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col", class: column.class || "" }, column.title)))),
      h("tbody", {}, shown.map((row) => h("tr", {}, columns.map((column) => {
        const cell = column.cell(row);
        return h("td", { "data-label": column.title, class: column.class || "" }, cell ?? "");
      })))),
    );
    const children = [rows.length ? h("div", { class: "table-wrap" }, table) : h("p", { class: "empty" }, empty)];
    if (pages > 1) {
      const previous = h("button", { type: "button", class: "secondary", disabled: page === 0, onclick: () => { page -= 1; render(); } }, "← Previous");
      const next = h("button", { type: "button", class: "secondary", disabled: page >= pages - 1, onclick: () => { page += 1; render(); } }, "Next →");
      children.push(h("nav", { class: "pager", "aria-label": "Pages" }, previous,
        h("span", { "aria-live": "polite" }, `Page ${page + 1} of ${pages} · ${rows.length} rows`), next));
    }
    fill(wrapper, children);
  }
  render();
  return wrapper;
}

/** Says something in the status area (read out by screen readers), for a few seconds. */
export function announce(text) {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = text;
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { status.textContent = ""; }, 6000);
}

/** A card explaining an error the API answered (problem+json) or a network failure. */
export function problemCard(error) {
  return h("div", { class: "banner", role: "alert" },
    h("strong", {}, error.title || "Error"), error.detail || error.message || String(error));
}

/** Debounces `action` by `delay` ms. */
export function debounce(action, delay = 200) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => action(...args), delay);
  };
}
