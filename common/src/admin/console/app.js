// The console's entry point: loads how this host signs in, then routes `#/…` to the pages.
//   #/                          integrations
//   #/new                       a new integration
//   #/login                     sign in
//   #/i/{id}[/{tab}[/{more}]]   one integration: settings, check, plan, runs[/{run}], certificates, explain[/{employee}]

import { whenUnauthenticated } from "./api.js";
import { finishOidcSignIn, loadConfig, signOut, signedIn } from "./auth.js";
import { integrationPage, integrationsPage, loginPage, newIntegrationPage, showBanners } from "./pages.js";
import { fill, h, problemCard } from "./ui.js";

const main = document.getElementById("main");
const signOutButton = document.getElementById("sign-out");

function markNavigation() {
  for (const anchor of document.querySelectorAll("#nav a")) {
    const current = anchor.getAttribute("href") === location.hash || (anchor.getAttribute("href") === "#/" && (location.hash === "" || location.hash === "#/"));
    if (current) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
}

function toLogin() {
  if (!location.hash.startsWith("#/login")) sessionStorage.setItem("personio-lms.after-login", location.hash || "#/");
  location.hash = "#/login";
}

async function route() {
  const hash = location.hash || "#/";
  const parts = hash.slice(2).split("/").filter(Boolean).map(decodeURIComponent);
  markNavigation();
  if (parts[0] === "login") {
    signOutButton.hidden = true;
    showBanners([]);
    document.title = "Sign in · Personio ⇄ LMS";
    loginPage(main);
    return;
  }
  if (!(await signedIn())) {
    toLogin();
    return;
  }
  signOutButton.hidden = false;
  fill(main, h("p", { class: "loading" }, "Loading…"));
  try {
    if (parts.length === 0) {
      document.title = "Integrations · Personio ⇄ LMS";
      await integrationsPage(main);
    } else if (parts[0] === "new") {
      document.title = "New integration · Personio ⇄ LMS";
      await newIntegrationPage(main);
    } else if (parts[0] === "i" && parts[1]) {
      await integrationPage(main, parts[1], parts[2] || "", parts.slice(3));
      const name = main.querySelector("h1")?.textContent || "Integration";
      document.title = `${name}${parts[2] ? ` · ${parts[2]}` : ""} · Personio ⇄ LMS`;
    } else {
      fill(main, h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the integrations")));
    }
  } catch (error) {
    if (error.status === 401) return;
    fill(main, h("h1", { tabindex: "-1" }, "Something went wrong"), problemCard(error), h("p", {}, h("a", { href: "#/" }, "Back to the integrations")));
  }
  // After a page change, the page's heading takes the focus (screen readers announce it).
  if (!main.contains(document.activeElement) || document.activeElement === document.body) {
    main.querySelector("h1")?.focus();
  }
}

async function start() {
  await loadConfig();
  whenUnauthenticated(toLogin);
  signOutButton.addEventListener("click", () => signOut());
  try {
    await finishOidcSignIn();
  } catch (error) {
    fill(main, h("h1", { tabindex: "-1" }, "Sign-in failed"), problemCard(error), h("p", {}, h("a", { href: "#/login" }, "Try again")));
    return;
  }
  window.addEventListener("hashchange", route);
  await route();
}

start();
