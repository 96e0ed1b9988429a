// Signing in, the two ways a host offers (`config.json`):
// - "session" (personio-lms serve): the admin token is exchanged for an HttpOnly session cookie;
//   the console keeps only the session's CSRF token, in memory, and sends it with every change.
// - "oidc" (AWS): authorization code with PKCE against the stack's issuer; the ID token is kept
//   in sessionStorage (this tab only) and sent as a bearer token; nothing is stored in cookies.

let config = { auth: "session" };
let csrfToken = null;

const OIDC_KEY = "personio-lms.oidc";
const PENDING_KEY = "personio-lms.oidc-pending";

export async function loadConfig() {
  const response = await fetch("config.json", { credentials: "same-origin", cache: "no-store" });
  if (response.ok) config = await response.json();
  return config;
}

export function mode() {
  return config.auth;
}

/** Whether the console may call the API now (a live session or an unexpired ID token). */
export async function signedIn() {
  if (config.auth === "oidc") {
    const stored = storedToken();
    return Boolean(stored && stored.expires_at * 1000 > Date.now() + 10000);
  }
  const response = await fetch("../session", { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) return false;
  const session = await response.json();
  csrfToken = session.csrf_token;
  return true;
}

/** Headers that prove who is calling (and, for changes made with the session, the CSRF token). */
export function authHeaders(method) {
  if (config.auth === "oidc") {
    const stored = storedToken();
    return stored ? { Authorization: `Bearer ${stored.id_token}` } : {};
  }
  const changing = !["GET", "HEAD", "OPTIONS"].includes(method);
  return changing && csrfToken ? { "X-CSRF-Token": csrfToken } : {};
}

/** Session mode: exchanges the admin token for a session. Throws the API's problem on refusal. */
export async function signInWithToken(token) {
  const response = await fetch("../session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `HTTP ${response.status}`);
    Object.assign(error, body, { status: response.status });
    throw error;
  }
  csrfToken = body.csrf_token;
}

export async function signOut() {
  if (config.auth === "oidc") {
    sessionStorage.removeItem(OIDC_KEY);
    if (config.logout_endpoint) {
      const url = new URL(config.logout_endpoint);
      url.searchParams.set("client_id", config.client_id);
      url.searchParams.set("logout_uri", redirectUri());
      location.assign(url.toString());
      return;
    }
  } else {
    await fetch("../session", {
      method: "DELETE",
      credentials: "same-origin",
      headers: authHeaders("DELETE"),
    });
    csrfToken = null;
  }
  location.hash = "#/login";
  location.reload();
}

// ---------------------------------------------------------------- OpenID Connect

function redirectUri() {
  return `${location.origin}${location.pathname}`;
}

function storedToken() {
  try {
    return JSON.parse(sessionStorage.getItem(OIDC_KEY) || "null");
  } catch {
    return null;
  }
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function randomText(length = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

function claims(jwt) {
  const part = jwt.split(".")[1] || "";
  const padded = part.replaceAll("-", "+").replaceAll("_", "/");
  const bytes = Uint8Array.from(atob(padded), (character) => character.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function endpoints() {
  if (config.authorization_endpoint && config.token_endpoint) return config;
  const issuer = config.issuer.replace(/\/$/, "");
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`the identity provider's discovery document answered HTTP ${response.status}`);
  const discovered = await response.json();
  return { ...discovered, ...Object.fromEntries(Object.entries(config).filter(([, value]) => value)) };
}

/** Sends the browser to the identity provider's sign-in page. */
export async function startOidcSignIn() {
  const provider = await endpoints();
  const verifier = randomText(48);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomText();
  const nonce = randomText();
  // Back to where the admin was going (the sign-in page remembers it), not to the sign-in page.
  const hash = location.hash.startsWith("#/login") ? sessionStorage.getItem("personio-lms.after-login") || "#/" : location.hash;
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, nonce, hash }));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scopes || "openid",
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** Finishes a sign-in when the provider sent the browser back with a code. `true` if it did. */
export async function finishOidcSignIn() {
  if (config.auth !== "oidc") return false;
  const parameters = new URLSearchParams(location.search);
  if (!parameters.has("code") && !parameters.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, "", redirectUri() + (pending?.hash || "#/"));
  if (parameters.has("error")) {
    throw new Error(`sign-in refused: ${parameters.get("error_description") || parameters.get("error")}`);
  }
  if (!pending || pending.state !== parameters.get("state")) {
    throw new Error("the sign-in answer does not belong to this browser tab; sign in again");
  }
  const provider = await endpoints();
  const response = await fetch(provider.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: parameters.get("code"),
      redirect_uri: redirectUri(),
      client_id: config.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok || !tokens.id_token) {
    throw new Error(`the token endpoint refused the sign-in: ${tokens.error_description || tokens.error || response.status}`);
  }
  const idClaims = claims(tokens.id_token);
  if (idClaims.nonce !== pending.nonce) throw new Error("the ID token does not answer this sign-in (nonce); sign in again");
  sessionStorage.setItem(OIDC_KEY, JSON.stringify({ id_token: tokens.id_token, expires_at: idClaims.exp }));
  return true;
}
