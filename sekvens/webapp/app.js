// The shell: who is signed in, the navigation, and a hash router that loads each screen's
// module. A screen module exports `render(root, params, app)` and may return a function that
// the router calls when the screen is left (to stop its subscriptions).

import { ApiError, gql, mutate, setToken, subscribe, token } from "./api.js";
import { h, replace, errorBox } from "./ui.js";

const ROUTES = [
  { pattern: /^\/sign-in$/, module: "./signin.js", title: "Sign in", open: true },
  { pattern: /^\/sequences$/, module: "./home.js", title: "Sequences" },
  { pattern: /^\/sequences\/(?<id>[^/]+)$/, module: "./designer.js", title: "Designer" },
  { pattern: /^\/sequences\/(?<id>[^/]+)\/insight$/, module: "./insight.js", title: "Insight" },
  { pattern: /^\/up-next$/, module: "./upnext.js", title: "Up next" },
];

const VIEWER = `{ viewer { roles user { id name email timeZone } organization { id name } } }`;

/** What every screen gets. */
export const app = {
  viewer: null,
  gql,
  mutate,
  subscribe,
  navigate(path) {
    location.hash = `#${path}`;
  },
  /** Whether the viewer has any of `roles`. */
  can(...roles) {
    return !!app.viewer && app.viewer.roles.some((r) => roles.includes(r));
  },
  get isManager() {
    return app.can("SYSTEM_ADMINISTRATOR", "SEQUENCE_MANAGER", "SALES_MANAGER");
  },
  async signIn(newToken) {
    setToken(newToken);
    app.viewer = null;
    await loadViewer();
  },
  async signOut() {
    try {
      await mutate("signOut", {}, "revoked");
    } catch (e) {
      // The token may be gone already; signing out locally is what matters.
    }
    setToken(null);
    app.viewer = null;
    renderNav();
    app.navigate("/sign-in");
  },
};

async function loadViewer() {
  if (!token()) return null;
  try {
    app.viewer = (await gql(VIEWER)).viewer;
  } catch (e) {
    if (e instanceof ApiError && e.code === "UNAUTHENTICATED") setToken(null);
    app.viewer = null;
  }
  renderNav();
  return app.viewer;
}

function renderNav() {
  const nav = document.getElementById("nav");
  if (!app.viewer) {
    replace(nav);
    return;
  }
  const link = (path, label) =>
    h("a", { href: `#${path}`, "aria-current": currentPath().startsWith(path) ? "page" : false }, label);
  replace(
    nav,
    h(
      "ul",
      {},
      h("li", {}, link("/sequences", "Sequences")),
      h("li", {}, link("/up-next", "Up next")),
    ),
    h(
      "div",
      { class: "who" },
      h("span", {}, `${app.viewer.user.name} · ${app.viewer.organization.name}`),
      h("button", { type: "button", class: "link", onclick: () => app.signOut() }, "Sign out"),
    ),
  );
}

function currentPath() {
  return (location.hash.slice(1) || "/sequences").split("?")[0];
}

/** The query string of the hash (`#/sign-in?code=...`). */
export function hashParams() {
  const query = location.hash.split("?")[1] || "";
  return new URLSearchParams(query);
}

let leave = null;

async function route() {
  const path = currentPath();
  const main = document.getElementById("view");
  if (leave) {
    leave();
    leave = null;
  }
  const match = ROUTES.map((r) => [r, path.match(r.pattern)]).find(([, m]) => m);
  if (!match) {
    app.navigate("/sequences");
    return;
  }
  const [routeDef, found] = match;
  if (!routeDef.open && !app.viewer && !(await loadViewer())) {
    app.navigate("/sign-in");
    return;
  }
  renderNav();
  document.title = `${routeDef.title} · sekvens`;
  main.setAttribute("aria-busy", "true");
  try {
    const module = await import(routeDef.module);
    const root = h("div", { class: "screen" });
    replace(main, root);
    const done = await module.render(root, found.groups || {}, app);
    if (typeof done === "function") leave = done;
  } catch (e) {
    const errors = e instanceof ApiError ? e.errors : [{ message: String(e.message || e) }];
    replace(main, errorBox(errors, "This screen could not be shown"));
    if (e instanceof ApiError && e.code === "UNAUTHENTICATED") app.navigate("/sign-in");
  } finally {
    main.removeAttribute("aria-busy");
    // Move focus to the screen's heading for keyboard and screen-reader users.
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
}

window.addEventListener("hashchange", route);
loadViewer().then(route);
