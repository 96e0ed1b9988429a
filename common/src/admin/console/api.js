// The admin API, as the console calls it: JSON in, JSON out, errors as problem+json
// (RFC 9457) thrown as `ApiProblem`, with `field` naming the input at fault where there is one.

import { authHeaders } from "./auth.js";

/** The API's root: the console is served at `<root>/console/`. */
const ROOT = new URL("..", location.href).pathname.replace(/\/$/, "");

export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem.type || "";
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || "";
    this.field = problem.field || null;
  }
}

let onUnauthenticated = () => {};

/** What to do when the API says the caller is not signed in (show the sign-in page). */
export function whenUnauthenticated(action) {
  onUnauthenticated = action;
}

/** Calls the API. `body` is sent as JSON; the answer's JSON (or null) is returned with its headers. */
export async function call(method, path, { body, headers = {}, query } = {}) {
  const url = new URL(ROOT + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...authHeaders(method), ...headers },
  };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = init.headers["Content-Type"] || "application/json";
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiProblem(0, { title: "Network error", detail: `the API could not be reached (${error.message})` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok) {
    const problem = new ApiProblem(response.status, data || {});
    if (response.status === 401) onUnauthenticated(problem);
    throw problem;
  }
  return { data, headers: response.headers, status: response.status };
}

export const get = async (path, query) => (await call("GET", path, { query })).data;

/** The paths the API serves (its OpenAPI document), to show what this host offers. */
let contract = null;
export async function paths() {
  if (!contract) {
    try {
      contract = (await call("GET", "/openapi.json")).data;
    } catch {
      contract = { paths: {} };
    }
  }
  return contract.paths || {};
}

/** The path template of an operation by its operationId, or null when this API lacks it. */
export async function operation(operationId) {
  for (const [template, item] of Object.entries(await paths())) {
    for (const [method, op] of Object.entries(item)) {
      if (op && op.operationId === operationId) return { template, method: method.toUpperCase() };
    }
  }
  return null;
}

/** Fills a path template: fillPath("/integrations/{id}", {id: "a/b"}) → "/integrations/a%2Fb". */
export function fillPath(template, values) {
  return template.replace(/\{([^}]+)\}/g, (_, name) => encodeURIComponent(values[name] ?? ""));
}
