// Sequences home: the home grid (search in name and description, sort by a column header,
// a filter for each column, tags, paging), with the viewer's column order, visibility and
// widths kept through the API; create blank or from a template, clone, delete.

import {
  day,
  debounce,
  errorBox,
  field,
  formDialog,
  h,
  keepFocus,
  replace,
  confirmDialog,
  toast,
} from "./ui.js";

const GRID = `query HomeGrid($search: String, $filter: SequenceFilter, $orderBy: [SequenceOrder!],
  $first: Int, $after: String) {
  sequences(search: $search, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id name description status isPersonal createdAt modifiedAt activeConnections stepCount
      viewerMayEdit
      recordType { name displayName }
      ownerUser { id name }
      ownerTeam { id name }
      tags { id path }
    }
  }
}`;

const LOOKUPS = `query HomeLookups {
  gridPreferences(view: "sequences") { columns { column visible width } availableColumns }
  tags { id path }
  recordTypes(first: 100) { nodes { name displayName } }
  users(first: 100) { nodes { id name } }
  teams(first: 100) { nodes { id name } }
}`;

const TEMPLATES = `query HomeTemplates {
  sequenceTemplates { id name description recordType isBuiltin stepCount durationDays }
}`;

const SAVE_LAYOUT = `mutation SaveGridLayout($input: SaveGridPreferencesInput!) {
  saveGridPreferences(input: $input) {
    errors { code message field }
    preferences { columns { column visible width } }
  }
}`;

const CREATE = `mutation CreateSequence($input: CreateSequenceInput!) {
  createSequence(input: $input) { errors { code message field } sequence { id name } }
}`;

const CLONE = `mutation CloneSequence($input: CloneSequenceInput!) {
  cloneSequence(input: $input) { errors { code message field } sequence { id name } }
}`;

const DELETE = `mutation DeleteSequence($input: DeleteSequenceInput!) {
  deleteSequence(input: $input) { errors { code message field } deletedSequenceId disconnectedCount }
}`;

/** The grid's columns: heading, how a row shows it, the sort field (none: not sortable). */
const COLUMNS = {
  NAME: { label: "Name", sort: "NAME", width: 210 },
  STATUS: { label: "Status", sort: "STATUS", width: 90 },
  RECORD_TYPE: { label: "Record type", sort: "RECORD_TYPE", width: 110 },
  OWNER: { label: "Owner", sort: "OWNER", width: 140 },
  TAGS: { label: "Tags", sort: "TAGS", width: 120 },
  IS_PERSONAL: { label: "Personal", sort: "IS_PERSONAL", width: 90 },
  CREATED_AT: { label: "Created", sort: "CREATED_AT", width: 110 },
  MODIFIED_AT: { label: "Modified", sort: "MODIFIED_AT", width: 110 },
  ACTIVE_CONNECTIONS: { label: "Active connections", sort: "ACTIVE_CONNECTIONS", width: 115 },
  STEP_COUNT: { label: "Steps", sort: "STEP_COUNT", width: 70 },
};

const PAGE_SIZES = [25, 50, 100];
const ACTIONS_WIDTH = 215;

export async function render(root, _params, app) {
  const lookups = await app.gql(LOOKUPS);
  const state = {
    search: "",
    filter: {},
    order: { field: "MODIFIED_AT", direction: "DESC" },
    pageSize: 25,
    cursors: [null], // the `after` of each page visited; the last is the current page's
    layout: usable(lookups.gridPreferences.columns),
    data: null,
    loadErrors: [],
    layoutErrors: [],
    rowErrors: new Map(),
  };
  const recordTypes = lookups.recordTypes.nodes;

  /** Whether the viewer may change (delete) a sequence: the API says (`viewerMayEdit`). */
  const mayEdit = (s) => s.viewerMayEdit;

  const gridSlot = h("div", { class: "grid-wrap" });
  const columnsSlot = h("div");
  const pagerSlot = h("div");
  let loadToken = 0;

  async function load() {
    const mine = ++loadToken;
    gridSlot.setAttribute("aria-busy", "true");
    try {
      const data = await app.gql(GRID, {
        search: state.search || null,
        filter: cleanFilter(state.filter),
        orderBy: [state.order],
        first: state.pageSize,
        after: state.cursors[state.cursors.length - 1],
      });
      if (mine !== loadToken) return;
      state.data = data.sequences;
      state.loadErrors = [];
    } catch (e) {
      if (mine !== loadToken) return;
      state.data = null;
      state.loadErrors = e.errors || [{ message: String(e) }];
    }
    gridSlot.removeAttribute("aria-busy");
    draw();
  }

  const reload = () => {
    state.cursors = [null];
    load();
  };

  async function saveLayout() {
    const columns = state.layout.map((c) => ({
      column: c.column,
      visible: c.visible,
      width: c.width ?? null,
    }));
    try {
      const data = await app.gql(SAVE_LAYOUT, { input: { view: "sequences", columns } });
      state.layoutErrors = data.saveGridPreferences.errors;
      if (state.layoutErrors.length === 0) toast("Column layout saved.");
    } catch (e) {
      state.layoutErrors = e.errors || [{ message: String(e) }];
    }
    keepFocus(root, drawColumnsPanel);
  }
  const saveLayoutSoon = debounce(saveLayout, 500);

  function draw() {
    keepFocus(root, () => {
      drawGrid();
      drawPager();
    });
  }

  // --- The grid ---------------------------------------------------------------------------

  function drawGrid() {
    if (state.loadErrors.length) {
      replace(gridSlot, errorBox(state.loadErrors, "The sequences could not be loaded"));
      return;
    }
    if (!state.data) {
      replace(gridSlot, h("p", { class: "muted" }, "Loading…"));
      return;
    }
    const visible = state.layout.filter((c) => c.visible);
    const colgroup = h(
      "colgroup",
      {},
      visible.map((c) => h("col", { style: { width: `${c.width || COLUMNS[c.column].width}px` } })),
      h("col", { style: { width: `${ACTIONS_WIDTH}px` } }),
    );
    const head = h(
      "tr",
      {},
      visible.map((c) => headerCell(c)),
      h("th", { scope: "col" }, "Actions"),
    );
    const rows = [];
    for (const s of state.data.nodes) {
      rows.push(
        h(
          "tr",
          { dataset: { id: s.id } },
          visible.map((c) => cell(c.column, s)),
          h("td", {}, h("div", { class: "row-actions" }, rowActions(s))),
        ),
      );
      const errors = state.rowErrors.get(s.id);
      if (errors?.length) {
        rows.push(
          h(
            "tr",
            { class: "row-errors" },
            h(
              "td",
              { colspan: visible.length + 1 },
              errorBox(errors, `“${s.name}” could not be changed`),
            ),
          ),
        );
      }
    }
    if (state.data.nodes.length === 0) {
      rows.push(
        h(
          "tr",
          {},
          h(
            "td",
            { colspan: visible.length + 1, class: "muted" },
            "No sequences match the search and filters.",
          ),
        ),
      );
    }
    const width =
      visible.reduce((sum, c) => sum + (c.width || COLUMNS[c.column].width), 0) + ACTIONS_WIDTH;
    replace(
      gridSlot,
      h(
        "table",
        { class: "grid home-grid", style: { width: `${width}px` } },
        h("caption", { class: "sr-only" }, "Sequences; sort by a column's heading button"),
        colgroup,
        h("thead", {}, head),
        h("tbody", {}, rows),
      ),
    );
  }

  function headerCell(c) {
    const def = COLUMNS[c.column];
    const sorted = state.order.field === def.sort;
    const direction = sorted ? (state.order.direction === "ASC" ? "ascending" : "descending") : null;
    const th = h("th", { scope: "col", "aria-sort": def.sort ? direction || "none" : false });
    if (def.sort) {
      th.append(
        h(
          "button",
          {
            type: "button",
            class: "sort",
            "data-focus": `sort-${c.column}`,
            onclick: () => {
              state.order = {
                field: def.sort,
                direction: sorted && state.order.direction === "ASC" ? "DESC" : "ASC",
              };
              reload();
            },
          },
          def.label,
          h(
            "span",
            { "aria-hidden": "true", class: "sort-mark" },
            sorted ? (state.order.direction === "ASC" ? " ▲" : " ▼") : "",
          ),
        ),
      );
    } else {
      th.append(def.label);
    }
    th.append(resizer(c, th));
    return th;
  }

  /** A drag handle on a heading's right edge (the Columns panel's width box does the same). */
  function resizer(c, th) {
    const grip = h("span", { class: "resizer", "aria-hidden": "true", title: "Drag to resize" });
    grip.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      const startX = event.clientX;
      const startWidth = th.getBoundingClientRect().width;
      grip.setPointerCapture(event.pointerId);
      const move = (e) => {
        c.width = Math.max(40, Math.min(2000, Math.round(startWidth + e.clientX - startX)));
        const index = state.layout.filter((x) => x.visible).indexOf(c);
        const col = gridSlot.querySelectorAll("col")[index];
        if (col) col.style.width = `${c.width}px`;
      };
      const up = () => {
        grip.removeEventListener("pointermove", move);
        grip.removeEventListener("pointerup", up);
        drawGrid();
        drawColumnsPanel();
        saveLayout();
      };
      grip.addEventListener("pointermove", move);
      grip.addEventListener("pointerup", up);
    });
    return grip;
  }

  function cell(column, s) {
    switch (column) {
      case "NAME":
        return h(
          "td",
          {},
          h("a", { href: `#/sequences/${encodeURIComponent(s.id)}`, class: "seq-name" }, s.name),
          s.description ? h("div", { class: "muted small clip" }, s.description) : null,
        );
      case "STATUS":
        return h("td", {}, h("span", { class: `badge ${s.status}` }, statusWords(s.status)));
      case "RECORD_TYPE":
        return h("td", {}, s.recordType.displayName);
      case "OWNER":
        return h("td", {}, s.ownerUser?.name || (s.ownerTeam ? `${s.ownerTeam.name} (team)` : "—"));
      case "TAGS":
        return h(
          "td",
          {},
          s.tags.length
            ? h(
                "ul",
                { class: "tags", "aria-label": "Tags" },
                s.tags.map((t) => h("li", { class: "tag" }, t.path)),
              )
            : h("span", { class: "muted" }, "—"),
        );
      case "IS_PERSONAL":
        return h("td", {}, s.isPersonal ? "Yes" : "No");
      case "CREATED_AT":
        return h("td", {}, day(s.createdAt));
      case "MODIFIED_AT":
        return h("td", {}, day(s.modifiedAt));
      case "ACTIVE_CONNECTIONS":
        return h("td", { class: "num" }, String(s.activeConnections));
      case "STEP_COUNT":
        return h("td", { class: "num" }, String(s.stepCount));
      default:
        return h("td", {});
    }
  }

  function rowActions(s) {
    const label = (verb) => `${verb} ${s.name}`;
    const parts = [
      h(
        "a",
        {
          href: `#/sequences/${encodeURIComponent(s.id)}/insight`,
          "aria-label": label("Insight for"),
        },
        "Insight",
      ),
    ];
    // Any role may copy a sequence it can see (a salesperson's copy is personal).
    parts.push(
      h(
        "button",
        {
          type: "button",
          "aria-label": label("Clone"),
          "data-focus": `clone-${s.id}`,
          onclick: () => cloneSequence(s),
        },
        "Clone",
      ),
    );
    if (mayEdit(s)) {
      parts.push(
        h(
          "button",
          {
            type: "button",
            class: "danger",
            "aria-label": label("Delete"),
            "data-focus": `delete-${s.id}`,
            onclick: () => deleteSequence(s),
          },
          "Delete",
        ),
      );
    }
    return parts;
  }

  // --- Row actions ------------------------------------------------------------------------

  async function cloneSequence(s) {
    state.rowErrors.delete(s.id);
    let payload;
    try {
      payload = (await app.gql(CLONE, { input: { sequenceId: s.id } })).cloneSequence;
    } catch (e) {
      payload = { errors: e.errors };
    }
    if (payload.errors.length) {
      state.rowErrors.set(s.id, payload.errors);
      draw();
      return;
    }
    toast(`Copied as “${payload.sequence.name}”.`);
    await load();
  }

  async function deleteSequence(s) {
    const active = s.status === "ACTIVE";
    const ok = active
      ? await confirmDialog(
          "Deactivate and delete?",
          `“${s.name}” is active. Deleting it deactivates it first: its ` +
            `${s.activeConnections} running connection(s) are disconnected, then it is deleted.`,
          "Deactivate and delete",
        )
      : await confirmDialog("Delete this sequence?", `“${s.name}” will be deleted.`, "Delete");
    if (!ok) return;
    state.rowErrors.delete(s.id);
    let payload;
    try {
      payload = (await app.gql(DELETE, { input: { sequenceId: s.id, force: active } }))
        .deleteSequence;
    } catch (e) {
      payload = { errors: e.errors };
    }
    if (payload.errors.length) {
      state.rowErrors.set(s.id, payload.errors);
      draw();
      return;
    }
    toast(
      active
        ? `“${s.name}” deactivated (${payload.disconnectedCount} disconnected) and deleted.`
        : `“${s.name}” deleted.`,
    );
    await load();
    root.querySelector("h1")?.focus();
  }

  // --- Paging -----------------------------------------------------------------------------

  function drawPager() {
    if (!state.data) {
      replace(pagerSlot);
      return;
    }
    const page = state.cursors.length;
    const from = (page - 1) * state.pageSize + (state.data.nodes.length ? 1 : 0);
    const to = (page - 1) * state.pageSize + state.data.nodes.length;
    const size = h(
      "select",
      {
        "data-focus": "page-size",
        onchange: (e) => {
          state.pageSize = Number(e.target.value);
          reload();
        },
      },
      PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.pageSize }, String(n))),
    );
    replace(
      pagerSlot,
      h(
        "nav",
        { class: "pager", "aria-label": "Pages" },
        h(
          "button",
          {
            type: "button",
            "data-focus": "prev",
            disabled: page === 1,
            onclick: () => {
              state.cursors.pop();
              load();
            },
          },
          "Previous page",
        ),
        h("span", { "aria-live": "polite" }, `${from}–${to} of ${state.data.totalCount}`),
        h(
          "button",
          {
            type: "button",
            "data-focus": "next",
            disabled: !state.data.pageInfo.hasNextPage,
            onclick: () => {
              state.cursors.push(state.data.pageInfo.endCursor);
              load();
            },
          },
          "Next page",
        ),
        h("label", { class: "inline" }, "Rows per page ", size),
      ),
    );
  }

  // --- Columns: order, visibility, width --------------------------------------------------

  function drawColumnsPanel() {
    const open = columnsSlot.querySelector("details")?.open || false;
    const items = state.layout.map((c, i) => {
      const def = COLUMNS[c.column];
      const widthInput = h("input", {
        type: "number",
        min: 40,
        max: 2000,
        step: 10,
        value: c.width ?? "",
        placeholder: String(def.width),
        "aria-label": `Width of ${def.label} in pixels`,
        "data-focus": `width-${c.column}`,
        oninput: (e) => {
          const n = e.target.value === "" ? null : Number(e.target.value);
          c.width = n;
          drawGrid();
          saveLayoutSoon();
        },
      });
      return h(
        "li",
        { class: "column-item" },
        h(
          "label",
          { class: "inline" },
          h("input", {
            type: "checkbox",
            checked: c.visible,
            // The name links to the designer: it stays.
            disabled: c.column === "NAME",
            "data-focus": `show-${c.column}`,
            onchange: (e) => {
              c.visible = e.target.checked;
              draw();
              saveLayout();
            },
          }),
          ` ${def.label}`,
        ),
        h(
          "span",
          { class: "column-tools" },
          h(
            "button",
            {
              type: "button",
              disabled: i === 0,
              "aria-label": `Move ${def.label} left`,
              "data-focus": `left-${c.column}`,
              onclick: () => moveColumn(i, -1),
            },
            "◀",
          ),
          h(
            "button",
            {
              type: "button",
              disabled: i === state.layout.length - 1,
              "aria-label": `Move ${def.label} right`,
              "data-focus": `right-${c.column}`,
              onclick: () => moveColumn(i, 1),
            },
            "▶",
          ),
          widthInput,
          h("span", { class: "muted small", "aria-hidden": "true" }, "px"),
        ),
      );
    });
    const details = h(
      "details",
      { class: "columns-menu", open },
      h("summary", { "data-focus": "columns-summary" }, "Columns"),
      h(
        "div",
        { class: "columns-panel", role: "group", "aria-label": "Columns of the grid" },
        h(
          "p",
          { class: "muted small" },
          "Show, order and size the columns; saved for you as you change them.",
        ),
        h("ul", { class: "column-list" }, items),
        errorBox(state.layoutErrors, "The column layout could not be saved"),
        h(
          "button",
          { type: "button", "data-focus": "reset-columns", onclick: resetLayout },
          "Restore the default columns",
        ),
      ),
    );
    details.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && details.open) {
        details.open = false;
        details.querySelector("summary").focus();
      }
    });
    replace(columnsSlot, details);
  }

  function moveColumn(i, by) {
    const [c] = state.layout.splice(i, 1);
    state.layout.splice(i + by, 0, c);
    draw();
    drawColumnsPanel();
    saveLayout();
  }

  async function resetLayout() {
    try {
      const data = await app.gql(SAVE_LAYOUT, { input: { view: "sequences", columns: [] } });
      const payload = data.saveGridPreferences;
      state.layoutErrors = payload.errors;
      if (!payload.errors.length) {
        state.layout = usable(payload.preferences.columns);
        toast("Default columns restored.");
      }
    } catch (e) {
      state.layoutErrors = e.errors || [{ message: String(e) }];
    }
    draw();
    keepFocus(root, drawColumnsPanel);
  }

  // --- Search and filters -----------------------------------------------------------------

  const setFilter = (key, value) => {
    if (value === "" || value === null || value === undefined) delete state.filter[key];
    else state.filter[key] = value;
    reload();
  };
  const select = (key, label, options) =>
    field(
      label,
      h(
        "select",
        { name: key, onchange: (e) => setFilter(key, decode(e.target.value)) },
        h("option", { value: "" }, "Any"),
        options.map(([value, text]) => h("option", { value: JSON.stringify(value) }, text)),
      ),
    );
  const dateInput = (key, label, endOfDay) =>
    field(
      label,
      h("input", {
        type: "date",
        name: key,
        onchange: (e) =>
          setFilter(key, e.target.value ? dayBound(e.target.value, endOfDay) : null),
      }),
    );
  const textInput = (key, label, hint) =>
    field(
      label,
      h("input", {
        type: "search",
        name: key,
        oninput: debounce((e) => setFilter(key, e.target.value.trim()), 300),
      }),
      { hint },
    );
  const countInput = (key, label) =>
    field(
      label,
      h("input", {
        type: "number",
        name: key,
        min: 0,
        step: 1,
        inputmode: "numeric",
        class: "count",
        onchange: (e) => setFilter(key, e.target.value === "" ? null : Number(e.target.value)),
      }),
    );
  const search = h("input", {
    type: "search",
    name: "search",
    placeholder: "Name or description",
    oninput: debounce((e) => {
      state.search = e.target.value.trim();
      reload();
    }, 300),
  });
  const filters = h(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault(), "aria-label": "Search and filters" },
    field("Search", search, { hint: "Matches the name and the description only." }),
    textInput("name", "Name contains", "The name only."),
    select("status", "Status", [
      ["ACTIVE", "Active"],
      ["INACTIVE", "Inactive"],
    ]),
    select(
      "recordType",
      "Record type",
      recordTypes.map((t) => [t.name, t.displayName]),
    ),
    select("ownerId", "Owner", [
      ...lookups.users.nodes.map((u) => [u.id, u.name]),
      ...lookups.teams.nodes.map((t) => [t.id, `${t.name} (team)`]),
    ]),
    select(
      "tagIds",
      "Tag",
      lookups.tags.map((t) => [[t.id], t.path]),
    ),
    select("isPersonal", "Personal", [
      [true, "Personal"],
      [false, "Organization"],
    ]),
    dateInput("createdAfter", "Created from", false),
    dateInput("createdBefore", "Created to", true),
    dateInput("modifiedAfter", "Modified from", false),
    dateInput("modifiedBefore", "Modified to", true),
    countInput("minActiveConnections", "Active connections from"),
    countInput("maxActiveConnections", "Active connections to"),
    countInput("minStepCount", "Steps from"),
    countInput("maxStepCount", "Steps to"),
    h(
      "div",
      { class: "field" },
      h("span", { class: "label-like", "aria-hidden": "true" }, "\u00a0"),
      h("button", { type: "reset", onclick: () => resetFilters() }, "Clear filters"),
    ),
  );
  function resetFilters() {
    state.filter = {};
    state.search = "";
    setTimeout(reload); // after the form has cleared its controls
  }

  // --- Create -----------------------------------------------------------------------------

  async function createDialog() {
    let templates = [];
    let templateErrors = [];
    try {
      templates = (await app.gql(TEMPLATES)).sequenceTemplates;
    } catch (e) {
      templateErrors = e.errors || [];
    }
    const personalOnly = !app.isManager;
    const name = h("input", { name: "name", required: true, maxlength: 160, autocomplete: "off" });
    const description = h("textarea", { name: "description", maxlength: 2000, rows: 2 });
    const recordType = h(
      "select",
      { name: "recordType" },
      recordTypes.map((t) => h("option", { value: t.name, selected: t.name === "lead" }, t.displayName)),
    );
    const template = h(
      "select",
      { name: "templateId", disabled: true },
      templates.map((t) =>
        h(
          "option",
          { value: t.id },
          `${t.name} (${typeName(t.recordType)}, ${t.stepCount} steps, ${t.durationDays} days)`,
        ),
      ),
    );
    const fromTemplate = h("input", {
      type: "radio",
      name: "start",
      value: "template",
      disabled: templates.length === 0,
    });
    const blank = h("input", { type: "radio", name: "start", value: "blank", checked: true });
    const sync = () => {
      template.disabled = !fromTemplate.checked;
      recordType.disabled = fromTemplate.checked;
      if (fromTemplate.checked) {
        const t = templates.find((x) => x.id === template.value);
        if (t) recordType.value = t.recordType;
        if (t && !name.value.trim()) name.value = t.name;
      }
    };
    blank.addEventListener("change", sync);
    fromTemplate.addEventListener("change", sync);
    template.addEventListener("change", sync);
    const personal = h("input", {
      type: "checkbox",
      name: "isPersonal",
      checked: personalOnly,
      disabled: personalOnly,
    });
    const content = [
      field("Name", name),
      field("Description", description, { hint: "Optional, at most 2000 characters." }),
      h(
        "fieldset",
        {},
        h("legend", {}, "Start from"),
        h("label", { class: "inline" }, blank, " A blank sequence"),
        h("label", { class: "inline" }, fromTemplate, " A template"),
      ),
      field("Template", template),
      errorBox(templateErrors, "The templates could not be loaded"),
      field("Record type", recordType, { hint: "It cannot be changed after creation." }),
      h(
        "div",
        { class: "field" },
        h("label", { class: "inline" }, personal, " Personal sequence (only mine)"),
        personalOnly
          ? h("div", { class: "hint" }, "As a salesperson you create personal sequences.")
          : null,
      ),
    ];
    let created = null;
    const done = await formDialog("New sequence", content, {
      submitLabel: "Create",
      onSubmit: async () => {
        const input = {
          name: name.value,
          description: description.value,
          isPersonal: personal.checked,
        };
        if (fromTemplate.checked) input.templateId = template.value;
        else input.recordType = recordType.value;
        const payload = (await app.gql(CREATE, { input })).createSequence;
        created = payload.sequence;
        return payload.errors;
      },
    });
    if (done && created) {
      toast(`“${created.name}” created.`);
      app.navigate(`/sequences/${created.id}`);
    }
  }

  const typeName = (name) => recordTypes.find((t) => t.name === name)?.displayName || name;

  // --- The page ---------------------------------------------------------------------------

  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Sequences"),
      h(
        "div",
        { class: "toolbar" },
        h(
          "button",
          { type: "button", class: "primary", onclick: createDialog },
          app.isManager ? "New sequence" : "New personal sequence",
        ),
        columnsSlot,
      ),
    ),
    app.isManager
      ? null
      : h(
          "p",
          { class: "muted" },
          "Organization sequences are read-only for a salesperson: open them, see their " +
            "insight, or clone one to get a personal copy you can edit.",
        ),
    filters,
    gridSlot,
    pagerSlot,
  );
  drawColumnsPanel();
  drawGrid();
  await load();
}

/** The saved layout's columns this app knows, the name always shown. */
function usable(columns) {
  return columns
    .filter((c) => COLUMNS[c.column])
    .map((c) => ({ ...c, visible: c.visible || c.column === "NAME" }));
}

function statusWords(status) {
  return status === "ACTIVE" ? "Active" : "Inactive";
}

/** A filter without empty values, or null. */
function cleanFilter(filter) {
  const out = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== null && v !== ""));
  return Object.keys(out).length ? out : null;
}

function decode(value) {
  return value === "" ? null : JSON.parse(value);
}

/** The start (or the end) of a date in the browser's zone, as an ISO time. */
function dayBound(value, endOfDay) {
  const [y, m, d] = value.split("-").map(Number);
  const date = endOfDay ? new Date(y, m - 1, d + 1) : new Date(y, m - 1, d);
  return date.toISOString();
}
