// Sign in with an API token (kept for this browser session only), or with a one-time
// sign-in link printed by `sekvens user login-link --email ...`, exchanged here for a
// short-lived session token.

import { hashParams } from "./app.js";
import { h, replace, errorBox, field } from "./ui.js";

export async function render(root, _params, app) {
  const code = hashParams().get("code");
  if (code) {
    replace(root, h("h1", {}, "Signing in…"));
    const payload = await app.mutate("exchangeLoginLink", { code }, "token expiresAt");
    if (payload.errors.length === 0) {
      await app.signIn(payload.token);
      location.replace("#/sequences"); // the used code leaves the history
      return;
    }
    replace(
      root,
      h("h1", {}, "Sign in"),
      errorBox(payload.errors, "This sign-in link does not work"),
      form(app),
    );
    return;
  }
  replace(root, h("h1", {}, "Sign in"), form(app));
}

function form(app) {
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    required: true,
    spellcheck: false,
  });
  let errors = h("div", { hidden: true });
  const submit = async (event) => {
    event.preventDefault();
    await app.signIn(input.value.trim());
    if (app.viewer) {
      app.navigate("/sequences");
      return;
    }
    const box = errorBox([{ message: "That token was not accepted: it is wrong, revoked or expired." }]);
    errors.replaceWith(box);
    errors = box;
    input.focus();
  };
  return h(
    "form",
    { class: "card narrow", onsubmit: submit },
    h(
      "p",
      {},
      "Paste an API token, or open a sign-in link: an administrator prints one with ",
      h("code", {}, "sekvens user login-link --email you@example.com"),
      ".",
    ),
    field("API token", input, {
      hint: "Kept for this browser tab only; closing it signs you out.",
    }),
    errors,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
  );
}
