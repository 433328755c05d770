// Small DOM helpers shared by the screens: building elements, showing API errors in words
// next to what caused them, and simple accessible controls.

/**
 * h("button", {class: "primary", onclick: f}, "Save") builds an element. Attributes starting
 * with "on" are listeners; `dataset`, `style` objects are merged; false/null are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Words for an API error code, for people; the message the API gave is kept after it. */
const CODE_WORDS = {
  UNAUTHENTICATED: "Your sign-in has ended. Sign in again.",
  FORBIDDEN: "You may not do this.",
  NOT_FOUND: "It no longer exists, or you may not see it.",
  RATE_LIMITED: "Too many requests. Wait a moment and try again.",
};

/** One error (a UserError or a GraphQL error) in words. */
export function errorText(error) {
  const code = error.code || error.extensions?.code;
  const words = CODE_WORDS[code];
  return words && !error.message ? words : error.message || words || "Something went wrong.";
}

/** A list of errors as an alert region (announced by screen readers); empty: nothing. */
export function errorBox(errors, label = "Could not do that") {
  if (!errors || errors.length === 0) return h("div", { class: "errors", hidden: true });
  return h(
    "div",
    { class: "errors", role: "alert" },
    h("strong", {}, `${label}:`),
    h("ul", {}, errors.map((e) => h("li", {}, errorText(e)))),
  );
}

/** Show errors in `slot` (an element kept for them); empty errors clear it. */
export function showErrors(slot, errors, label) {
  slot.replaceWith(errorBox(errors, label));
}

/** The errors of a payload whose `field` starts with `name` (a form's field errors). */
export function fieldErrors(errors, name) {
  return (errors || []).filter((e) => (e.field || [])[0] === name);
}

/** A labelled form field: label, control, hint and its errors (aria-describedby wired). */
let nextId = 0;
export function field(label, control, { hint, errors } = {}) {
  const id = control.id || `f${++nextId}`;
  control.id = id;
  const described = [];
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    described.push(`${id}-hint`);
    parts.push(h("div", { class: "hint", id: `${id}-hint` }, hint));
  }
  if (errors && errors.length) {
    described.push(`${id}-err`);
    control.setAttribute("aria-invalid", "true");
    parts.push(h("div", { class: "field-error", id: `${id}-err` }, errors.map(errorText).join(" ")));
  }
  if (described.length) control.setAttribute("aria-describedby", described.join(" "));
  return h("div", { class: "field" }, parts);
}

/** Format an ISO date-time in the browser's zone, or "—". */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** A modal dialog (native <dialog>): resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel = "OK") {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      h("p", {}, text),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => close(true) }, confirmLabel),
      ),
    );
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Announce a short status message politely (screen readers) and show it briefly. */
export function toast(text) {
  const region = document.getElementById("status");
  if (!region) return;
  region.textContent = text;
  clearTimeout(region._timer);
  region._timer = setTimeout(() => (region.textContent = ""), 4000);
}
