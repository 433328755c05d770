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

// --- Helpers of the list screens (home, up next, insight) --------------------------------

/** Re-render with `fn` while keeping keyboard focus on the element with the same `data-focus`. */
export function keepFocus(root, fn) {
  const key = document.activeElement?.closest?.("[data-focus]")?.dataset.focus;
  fn();
  if (!key) return;
  const again = root.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (again && again !== document.activeElement) again.focus({ preventScroll: true });
}

/** A date without its time ("12 Mar 2026"), or "—". */
export function day(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleDateString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
  });
}

/** `fn` called once `ms` after the last call. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A `datetime-local` input's value for an ISO time (local wall clock), and back. */
export function toLocalInput(date) {
  const d = new Date(date);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

/**
 * Show a payload's field errors beside the form's controls: an error whose `field` starts
 * with a control's `name` goes under that control (aria-invalid, aria-describedby); the
 * errors no control takes are returned (show them in an errorBox).
 */
export function showFieldErrors(form, errors) {
  for (const old of form.querySelectorAll(".field-error[data-from-api]")) old.remove();
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const described = (control.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((id) => id && !id.endsWith("-apierr"));
    if (described.length) control.setAttribute("aria-describedby", described.join(" "));
    else control.removeAttribute("aria-describedby");
  }
  const rest = [];
  const byControl = new Map();
  for (const error of errors || []) {
    const name = (error.field || [])[0];
    const control = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!control) {
      rest.push(error);
      continue;
    }
    if (!byControl.has(control)) byControl.set(control, []);
    byControl.get(control).push(error);
  }
  for (const [control, list] of byControl) {
    if (!control.id) control.id = `f${++nextId}`;
    const id = `${control.id}-apierr`;
    control.setAttribute("aria-invalid", "true");
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    control.setAttribute("aria-describedby", [...described, id].join(" "));
    const note = h(
      "div",
      { class: "field-error", id, "data-from-api": "" },
      list.map(errorText).join(" "),
    );
    (control.closest(".field") || control).after(note);
  }
  const first = byControl.keys().next().value;
  if (first) first.focus();
  return rest;
}

/**
 * A modal form (native <dialog>). `onSubmit(form)` runs on submit and resolves to null
 * (done: the dialog closes and the promise resolves true) or to a list of API errors, shown
 * beside their controls (showFieldErrors) or above the buttons; Escape or Cancel resolves false.
 */
export function formDialog(title, content, { submitLabel = "Save", onSubmit, danger = false }) {
  return new Promise((resolve) => {
    const titleId = `dlg${++nextId}`;
    let errors = errorBox([]);
    const submit = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submitLabel);
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: titleId }, title),
      content,
    );
    form.append(
      errors,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => close(false) }, "Cancel"),
        submit,
      ),
    );
    const dialog = h("dialog", { "aria-labelledby": titleId, class: "form-dialog" }, form);
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      let problems;
      try {
        problems = await onSubmit(form);
      } catch (e) {
        problems = e.errors || [{ message: String(e.message || e) }];
      }
      submit.disabled = false;
      if (!problems || problems.length === 0) {
        close(true);
        return;
      }
      const rest = showFieldErrors(form, problems);
      const box = errorBox(rest, "Could not do that");
      errors.replaceWith(box);
      errors = box;
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    const firstControl = form.querySelector("input, select, textarea");
    if (firstControl) firstControl.focus();
  });
}

/**
 * Make the disabled form controls in `container` read-only instead, so they stay readable
 * and reachable with Tab (a disabled control is skipped and drawn faint): text boxes become
 * `readonly`; checkboxes, radio buttons and selects keep their value against clicks and
 * keys and say `aria-disabled`. Disabled buttons of its forms (add or remove an item) go.
 */
export function readOnly(container) {
  const keep = (e) => e.preventDefault();
  for (const control of container.querySelectorAll("input:disabled, select:disabled, textarea:disabled")) {
    control.disabled = false;
    control.classList.add("read-only");
    const type = control.type;
    if (control.tagName === "SELECT") {
      const value = control.value;
      control.setAttribute("aria-disabled", "true");
      control.addEventListener("mousedown", keep);
      control.addEventListener("keydown", (e) => {
        if (e.key !== "Tab") e.preventDefault();
      });
      control.addEventListener("change", () => (control.value = value));
    } else if (type === "checkbox" || type === "radio") {
      const checked = control.checked;
      control.setAttribute("aria-disabled", "true");
      control.addEventListener("click", keep);
      control.addEventListener("change", () => (control.checked = checked));
    } else {
      control.readOnly = true;
    }
  }
  for (const button of container.querySelectorAll("form button:disabled")) button.hidden = true;
}
