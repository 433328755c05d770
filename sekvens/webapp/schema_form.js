// A form generated from a JSON Schema (a step type's `configSchema`), so any plugin's step
// type gets its settings form with no change to the app. Renders object (nested fieldsets),
// string (text, long text, email, date-time), number, integer, boolean, enum, array of
// strings or enum values, array of objects, nullable values (anyOf with null) and a choice
// of scalar types; anything else falls back to a JSON text area for that value.
//
//   const form = schemaForm(schema, config, { onChange, disabled });
//   root.append(form.element);  form.value();  form.setProblems(problems);
//
// `problems` are the API's ({ message, field: ["template", "subject"] }): each is shown next
// to the control of the longest matching path, or above the form when none matches.

import { h } from "./ui.js";

let formCount = 0;

/** Build the form; `value` is the current config (missing values take their default). */
export function schemaForm(schema, value, { onChange = () => {}, disabled = false, label } = {}) {
  const root = schema || {};
  const prefix = `sf${++formCount}`;
  const slots = new Map(); // "a.b.0" -> {slot, control}
  let count = 0;
  const ctx = {
    root,
    disabled,
    id: () => `${prefix}-${++count}`,
    changed: () => onChange(),
    register(path, slot, control) {
      slots.set(path.join("."), { slot, control });
    },
  };
  const general = h("div", { class: "field-error", role: "alert", hidden: true });
  const top = resolve(root, root);
  const node = renderNode(ctx, top, value, [], { title: label, required: true, isRoot: true });
  const element = h("div", { class: "schema-form" }, general, node.element);

  return {
    element,
    /** The config the form holds now (throws nothing; bad JSON leaves that value as it was). */
    value: () => node.value(),
    /** Show the API's problems next to the fields they concern. */
    setProblems(problems) {
      for (const { slot, control } of slots.values()) {
        slot.replaceChildren();
        slot.hidden = true;
        if (control) control.removeAttribute("aria-invalid");
      }
      const unplaced = [];
      for (const p of problems || []) {
        const path = (p.field || []).map(String);
        let found = null;
        for (let n = path.length; n >= 0 && !found; n--) {
          found = slots.get(path.slice(0, n).join(".")) || null;
        }
        if (!found || path.length === 0) {
          unplaced.push(p);
          continue;
        }
        found.slot.hidden = false;
        found.slot.append(h("div", {}, problemText(p, path)));
        if (found.control) found.control.setAttribute("aria-invalid", "true");
      }
      general.replaceChildren(...unplaced.map((p) => h("div", {}, problemText(p, p.field || []))));
      general.hidden = unplaced.length === 0;
    },
  };
}

function problemText(p, path) {
  return path && path.length > 1 ? `${p.message} (${path.join(" › ")})` : p.message;
}

// ---- schema reading ----

/** Follow `$ref` (local: #/$defs/..., #/definitions/...) and merge the referring keywords. */
function resolve(schema, root, seen = 0) {
  if (!schema || typeof schema !== "object") return {};
  if (schema.$ref && seen < 20) {
    const target = lookup(root, schema.$ref);
    const { $ref, ...rest } = schema;
    return resolve({ ...target, ...rest }, root, seen + 1);
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) {
    const { allOf, ...rest } = schema;
    return resolve({ ...allOf[0], ...rest }, root, seen + 1);
  }
  return schema;
}

function lookup(root, ref) {
  if (!ref.startsWith("#/")) return {};
  let at = root;
  for (const part of ref.slice(2).split("/")) {
    at = at?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return at || {};
}

/** "phone_field" -> "Phone field". */
function humanize(key) {
  const words = String(key).replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim();
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

function typeOf(schema) {
  if (Array.isArray(schema.type)) return schema.type.filter((t) => t !== "null");
  return schema.type;
}

/** Split `anyOf`/`oneOf`/`type: [x, "null"]` into its non-null choices and nullability. */
function choices(schema, root) {
  const list = schema.anyOf || schema.oneOf;
  if (Array.isArray(list)) {
    const options = list.map((s) => resolve(s, root));
    const nonNull = options.filter((s) => s.type !== "null");
    return { options: nonNull, nullable: nonNull.length < options.length };
  }
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((t) => t !== "null");
    return {
      options: types.map((t) => ({ ...schema, type: t })),
      nullable: types.length < schema.type.length,
    };
  }
  return null;
}

const SCALARS = ["string", "integer", "number", "boolean"];

// ---- rendering ----

/**
 * Render one schema node. Returns { element, value() } where value() returns the node's
 * value, or `undefined` to leave the key out of its object.
 */
function renderNode(ctx, schema, value, path, meta) {
  const alt = choices(schema, ctx.root);
  const merged = (s) => ({
    ...s,
    title: schema.title ?? s.title,
    description: schema.description ?? s.description,
    default: schema.default !== undefined ? schema.default : s.default,
  });
  if (alt) {
    if (alt.options.length === 1) {
      return renderNullable(ctx, merged(alt.options[0]), value, path, meta, alt.nullable);
    }
    if (alt.options.every((s) => SCALARS.includes(s.type) && !s.enum)) {
      return renderScalarChoice(ctx, schema, alt, value, path, meta);
    }
    return renderJson(ctx, schema, value, path, meta);
  }
  return renderTyped(ctx, schema, value, path, meta, false);
}

function renderNullable(ctx, schema, value, path, meta, nullable) {
  const s = resolve(schema, ctx.root);
  if (nullable && s.type === "object") {
    // An optional sub-object (e.g. a manual email's optional template): a switch shows it.
    const title = s.title || humanize(path[path.length - 1] || "value");
    const present = value !== null && value !== undefined;
    const inner = renderTyped(ctx, s, present ? value : undefined, path, { ...meta, title }, false);
    const id = ctx.id();
    const toggle = h("input", {
      type: "checkbox",
      id,
      checked: present,
      disabled: ctx.disabled,
      onchange: () => {
        inner.element.hidden = !toggle.checked;
        ctx.changed();
      },
    });
    inner.element.hidden = !present;
    return {
      element: h(
        "div",
        { class: "sf-optional" },
        h("div", { class: "check" }, toggle, h("label", { for: id }, `Include ${title.toLowerCase()}`)),
        s.description || schema.description
          ? h("div", { class: "hint" }, schema.description || s.description)
          : null,
        inner.element,
      ),
      value: () => (toggle.checked ? inner.value() : null),
    };
  }
  return renderTyped(ctx, s, value, path, meta, nullable);
}

function renderTyped(ctx, schema, value, path, meta, nullable) {
  const s = resolve(schema, ctx.root);
  const type = typeOf(s);
  if (Array.isArray(s.enum)) return renderEnum(ctx, s, value, path, meta, nullable);
  if (type === "object" || (!type && s.properties)) return renderObject(ctx, s, value, path, meta);
  if (type === "array") return renderArray(ctx, s, value, path, meta);
  if (type === "boolean") return renderBoolean(ctx, s, value, path, meta);
  if (type === "integer" || type === "number") {
    return renderNumber(ctx, s, value, path, meta, nullable);
  }
  if (type === "string") return renderString(ctx, s, value, path, meta, nullable);
  return renderJson(ctx, s, value, path, meta);
}

function initial(schema, value) {
  return value !== undefined ? value : schema.default;
}

/** Label, control, hint and an error slot, wired for assistive technology. */
function wrap(ctx, schema, path, meta, control, { inline = false } = {}) {
  const id = control.id || ctx.id();
  control.id = id;
  const title = meta.title || schema.title || humanize(path[path.length - 1] || "value");
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const described = [errId];
  const hint = schema.description ? h("div", { class: "hint", id: hintId }, schema.description) : null;
  if (hint) described.unshift(hintId);
  control.setAttribute("aria-describedby", described.join(" "));
  const slot = h("div", { class: "field-error", id: errId, hidden: true });
  ctx.register(path, slot, control);
  const label = h(
    "label",
    { for: id },
    title,
    meta.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null,
  );
  if (meta.required) control.setAttribute("aria-required", "true");
  if (ctx.disabled) control.disabled = true;
  return inline
    ? h("div", { class: "field check-field" }, h("div", { class: "check" }, control, label), hint, slot)
    : h("div", { class: "field" }, label, control, hint, slot);
}

function renderObject(ctx, schema, value, path, meta) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const current = value && typeof value === "object" && !Array.isArray(value) ? value : {};
  const children = Object.entries(props).map(([key, sub]) => [
    key,
    renderNode(ctx, sub, current[key], [...path, key], { required: required.has(key) }),
  ]);
  // Keys the schema does not describe are kept as they were (additionalProperties allowed).
  const extra = Object.fromEntries(Object.entries(current).filter(([k]) => !(k in props)));
  const slot = h("div", { class: "field-error", hidden: true });
  ctx.register(path, slot, null);
  const body = children.map(([, c]) => c.element);
  const title = meta.title || schema.title || humanize(path[path.length - 1] || "");
  const element = meta.isRoot
    ? h("div", { class: "sf-object" }, slot, body)
    : h(
        "fieldset",
        { class: "sf-object" },
        h("legend", {}, title, meta.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
        schema.description ? h("div", { class: "hint" }, schema.description) : null,
        slot,
        body,
      );
  if (!meta.isRoot && Object.keys(props).length === 0 && Object.keys(extra).length === 0) {
    if (schema.additionalProperties !== false && schema.additionalProperties !== undefined) {
      return renderJson(ctx, schema, value, path, meta);
    }
  }
  return {
    element,
    value() {
      const out = { ...extra };
      for (const [key, child] of children) {
        const v = child.value();
        if (v !== undefined) out[key] = v;
      }
      return out;
    },
  };
}

function renderString(ctx, schema, value, path, meta, nullable) {
  const v = initial(schema, value);
  let control;
  const long = (schema.maxLength || 0) > 300 || schema.format === "textarea";
  if (schema.format === "date-time") {
    control = h("input", { type: "datetime-local", value: v ? toLocalInput(v) : "" });
  } else if (schema.format === "date") {
    control = h("input", { type: "date", value: v || "" });
  } else if (long) {
    control = h("textarea", { rows: Math.min(10, Math.max(3, Math.ceil((schema.maxLength || 0) / 400))) });
    control.value = v ?? "";
  } else {
    const type = schema.format === "email" ? "email" : schema.format === "uri" ? "url" : "text";
    control = h("input", { type, value: v ?? "" });
  }
  if (schema.maxLength) control.maxLength = schema.maxLength;
  if (schema.minLength) control.minLength = schema.minLength;
  if (schema.pattern) control.setAttribute("pattern", schema.pattern);
  if (meta.required) control.required = true;
  control.addEventListener("input", ctx.changed);
  return {
    element: wrap(ctx, schema, path, meta, control),
    value() {
      const raw = control.value;
      if (schema.format === "date-time") return raw ? new Date(raw).toISOString() : empty();
      if (raw === "") return empty();
      return raw;
    },
  };
  // An empty optional value: null when the schema allows it, else left out (its default).
  function empty() {
    if (nullable) return null;
    return meta.required ? "" : undefined;
  }
}

function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function renderNumber(ctx, schema, value, path, meta, nullable) {
  const v = initial(schema, value);
  const control = h("input", {
    type: "number",
    inputmode: schema.type === "integer" ? "numeric" : "decimal",
    step: schema.type === "integer" ? "1" : "any",
    value: v ?? "",
  });
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum : null);
  const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum : null);
  if (min !== null) control.min = String(min);
  if (max !== null) control.max = String(max);
  if (meta.required) control.required = true;
  control.classList.add("short");
  control.addEventListener("input", ctx.changed);
  const range =
    min !== null && max !== null ? `${min} to ${max}` : min !== null ? `at least ${min}` : max !== null ? `at most ${max}` : null;
  const s = range ? { ...schema, description: [schema.description, `(${range})`].filter(Boolean).join(" ") } : schema;
  return {
    element: wrap(ctx, s, path, meta, control),
    value() {
      if (control.value === "") return nullable ? null : meta.required ? null : undefined;
      const n = Number(control.value);
      return Number.isNaN(n) ? control.value : n;
    },
  };
}

function renderBoolean(ctx, schema, value, path, meta) {
  const control = h("input", { type: "checkbox", checked: !!initial(schema, value) });
  control.addEventListener("change", ctx.changed);
  return {
    element: wrap(ctx, schema, path, { ...meta, required: false }, control, { inline: true }),
    value: () => control.checked,
  };
}

function renderEnum(ctx, schema, value, path, meta, nullable) {
  const v = initial(schema, value);
  const names = schema["x-enumNames"] || schema.enumNames || [];
  const control = h(
    "select",
    {},
    v === undefined || v === null || nullable || !meta.required
      ? h("option", { value: "" }, nullable ? "(none)" : "Choose…")
      : null,
    schema.enum.map((option, i) =>
      h("option", { value: JSON.stringify(option), selected: option === v }, names[i] || words(option)),
    ),
  );
  if (meta.required) control.required = true;
  control.addEventListener("change", ctx.changed);
  return {
    element: wrap(ctx, schema, path, meta, control),
    value() {
      if (control.value === "") return nullable ? null : undefined;
      return JSON.parse(control.value);
    },
  };
}

/** "LINK_CLICKED" -> "Link clicked"; other values as they are. */
function words(option) {
  if (typeof option === "string" && /^[A-Z0-9_]+$/.test(option)) return humanize(option);
  return String(option);
}

function renderArray(ctx, schema, value, path, meta) {
  const items = resolve(schema.items || {}, ctx.root);
  const current = Array.isArray(initial(schema, value)) ? initial(schema, value) : [];
  if (Array.isArray(items.enum)) return renderEnumSet(ctx, schema, items, current, path, meta);
  if (items.type === "string" && !items.format) return renderLines(ctx, schema, items, current, path, meta);
  if (items.type === "object" && items.properties) {
    return renderObjectList(ctx, schema, items, current, path, meta);
  }
  return renderJson(ctx, schema, value, path, meta);
}

/** An array of enum values: one checkbox each. */
function renderEnumSet(ctx, schema, items, current, path, meta) {
  const title = meta.title || schema.title || humanize(path[path.length - 1] || "");
  const boxes = items.enum.map((option) => {
    const id = ctx.id();
    const box = h("input", {
      type: "checkbox",
      id,
      checked: current.includes(option),
      disabled: ctx.disabled,
      onchange: ctx.changed,
    });
    return [option, box, h("div", { class: "check" }, box, h("label", { for: id }, words(option)))];
  });
  const slot = h("div", { class: "field-error", hidden: true });
  ctx.register(path, slot, null);
  return {
    element: h(
      "fieldset",
      { class: "sf-set" },
      h("legend", {}, title, meta.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      schema.description ? h("div", { class: "hint" }, schema.description) : null,
      boxes.map(([, , el]) => el),
      slot,
    ),
    value: () => boxes.filter(([, box]) => box.checked).map(([option]) => option),
  };
}

/** An array of strings: a text area, one value per line. */
function renderLines(ctx, schema, items, current, path, meta) {
  const control = h("textarea", { rows: Math.max(3, Math.min(8, current.length + 1)) });
  control.value = current.join("\n");
  control.addEventListener("input", ctx.changed);
  const limits = [
    "One per line.",
    schema.maxItems ? `At most ${schema.maxItems}.` : null,
    items.maxLength ? `Each at most ${items.maxLength} characters.` : null,
  ]
    .filter(Boolean)
    .join(" ");
  const s = { ...schema, description: [schema.description, limits].filter(Boolean).join(" ") };
  return {
    element: wrap(ctx, s, path, meta, control),
    value: () =>
      control.value
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== ""),
  };
}

/** An array of objects: one fieldset per item, with Add and Remove. */
function renderObjectList(ctx, schema, items, current, path, meta) {
  const title = meta.title || schema.title || humanize(path[path.length - 1] || "");
  const itemTitle = items.title ? humanize(items.title) : "Item";
  const list = h("div", { class: "sf-list" });
  const rows = [];
  const slot = h("div", { class: "field-error", hidden: true });
  ctx.register(path, slot, null);
  const renumber = () => {
    rows.forEach((row, i) => {
      row.legend.textContent = `${itemTitle} ${i + 1}`;
      row.remove.setAttribute("aria-label", `Remove ${itemTitle.toLowerCase()} ${i + 1}`);
    });
    add.disabled = ctx.disabled || (schema.maxItems !== undefined && rows.length >= schema.maxItems);
  };
  const addRow = (v) => {
    // Paths of the items follow their position when rendered; re-rendering after a removal
    // keeps problem paths (groups.0.rules.1.field) right.
    const index = rows.length;
    const node = renderObject(ctx, items, v, [...path, String(index)], { isRoot: true });
    const legend = h("legend", {});
    const remove = h(
      "button",
      {
        type: "button",
        class: "link",
        disabled: ctx.disabled,
        onclick: () => {
          rows.splice(rows.indexOf(row), 1);
          row.element.remove();
          rebuild();
          ctx.changed();
        },
      },
      "Remove",
    );
    const row = { node, legend, remove, element: h("fieldset", { class: "sf-item" }, legend, node.element, remove) };
    rows.push(row);
    list.append(row.element);
  };
  const rebuild = () => {
    const values = rows.map((r) => r.node.value());
    rows.length = 0;
    list.replaceChildren();
    values.forEach(addRow);
    renumber();
  };
  const add = h(
    "button",
    {
      type: "button",
      onclick: () => {
        addRow(undefined);
        renumber();
        ctx.changed();
        rows[rows.length - 1].element.querySelector("input, select, textarea")?.focus();
      },
    },
    `Add ${itemTitle.toLowerCase()}`,
  );
  current.forEach(addRow);
  renumber();
  return {
    element: h(
      "fieldset",
      { class: "sf-object" },
      h("legend", {}, title, meta.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      schema.description ? h("div", { class: "hint" }, schema.description) : null,
      slot,
      list,
      add,
    ),
    value: () => rows.map((r) => r.node.value()),
  };
}

/** A value that may be one of several scalar types: pick the type, then enter the value. */
function renderScalarChoice(ctx, schema, alt, value, path, meta) {
  const v = initial(schema, value);
  const LABELS = { string: "Text", integer: "Whole number", number: "Number", boolean: "Yes or no" };
  const types = [...new Set(alt.options.map((s) => s.type))];
  const guess =
    v === null || v === undefined
      ? alt.nullable && v === null
        ? "null"
        : types[0]
      : typeof v === "boolean"
        ? "boolean"
        : typeof v === "number"
          ? Number.isInteger(v) && types.includes("integer")
            ? "integer"
            : "number"
          : "string";
  const typeId = ctx.id();
  const picker = h(
    "select",
    { id: typeId, disabled: ctx.disabled },
    types.map((t) => h("option", { value: t, selected: t === guess }, LABELS[t] || t)),
    alt.nullable ? h("option", { value: "null", selected: guess === "null" }, "No value") : null,
  );
  const text = h("input", { type: "text", value: typeof v === "string" ? v : "" });
  const num = h("input", { type: "number", step: "any", class: "short", value: typeof v === "number" ? v : "" });
  const bool = h("select", {}, h("option", { value: "true", selected: v === true }, "Yes"), h("option", { value: "false", selected: v === false }, "No"));
  const controls = { string: text, integer: num, number: num, boolean: bool };
  const title = meta.title || schema.title || humanize(path[path.length - 1] || "value");
  for (const c of [text, num, bool]) {
    c.setAttribute("aria-label", `${title}: value`);
    c.disabled = ctx.disabled;
    c.addEventListener("input", ctx.changed);
    c.addEventListener("change", ctx.changed);
  }
  const show = () => {
    for (const c of [text, num, bool]) c.hidden = controls[picker.value] !== c;
  };
  picker.addEventListener("change", () => {
    show();
    ctx.changed();
  });
  show();
  const slot = h("div", { class: "field-error", hidden: true });
  ctx.register(path, slot, picker);
  return {
    element: h(
      "div",
      { class: "field" },
      h("label", { for: typeId }, title, meta.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      h("div", { class: "sf-choice" }, picker, text, num, bool),
      schema.description ? h("div", { class: "hint" }, schema.description) : null,
      slot,
    ),
    value() {
      const t = picker.value;
      if (t === "null") return null;
      if (t === "boolean") return bool.value === "true";
      if (t === "integer" || t === "number") return num.value === "" ? null : Number(num.value);
      return text.value;
    },
  };
}

/** The fallback: the value as JSON text, checked as it is typed. */
function renderJson(ctx, schema, value, path, meta) {
  const v = initial(schema, value);
  const control = h("textarea", { class: "json", rows: 4, spellcheck: false });
  control.value = v === undefined ? "" : JSON.stringify(v, null, 2);
  let last = v;
  const s = {
    ...schema,
    description: [schema.description, "Entered as JSON."].filter(Boolean).join(" "),
  };
  const element = wrap(ctx, s, path, meta, control);
  const local = h("div", { class: "field-error", hidden: true });
  element.append(local);
  control.addEventListener("input", () => {
    if (control.value.trim() === "") {
      last = undefined;
      local.hidden = true;
      control.removeAttribute("aria-invalid");
      ctx.changed();
      return;
    }
    try {
      last = JSON.parse(control.value);
      local.hidden = true;
      control.removeAttribute("aria-invalid");
      ctx.changed();
    } catch (e) {
      local.hidden = false;
      local.textContent = "This is not valid JSON yet; it is saved once it is.";
      control.setAttribute("aria-invalid", "true");
    }
  });
  return { element, value: () => last };
}
