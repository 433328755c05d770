// Up next: the viewer's open activities by due time, with record, sequence and step;
// complete (a call with its outcome), skip, snooze, reassign, one at a time or for the
// selected rows together, kept live through the upNextChanged subscription.

import {
  errorBox,
  field,
  formDialog,
  fromLocalInput,
  h,
  keepFocus,
  replace,
  toLocalInput,
  toast,
  when,
} from "./ui.js";

const ACTIVITY = `fragment UpNextActivity on Activity {
  id kind subject stepType status dueAt emailOptOut
  hold { reason until }
  record { id name }
  sequence { id name }
  step { id name }
  assignees { id name }
  delegatedFrom { id name }
}`;

const UP_NEXT = `query UpNext($first: Int, $after: String, $filter: UpNextFilter) {
  upNext(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { ...UpNextActivity }
  }
}
${ACTIVITY}`;

const LOOKUPS = `query UpNextLookups {
  organization { callOutcomes }
  users(first: 100, isActive: true) { nodes { id name } }
}`;

const CHANGED = `subscription UpNextChanged { upNextChanged { ...UpNextActivity } }
${ACTIVITY}`;

const COMPLETE = `mutation CompleteActivity($input: CompleteActivityInput!) {
  completeActivity(input: $input) { errors { code message field } activity { ...UpNextActivity } }
}
${ACTIVITY}`;

const SKIP = `mutation SkipActivity($input: SkipActivityInput!) {
  skipActivity(input: $input) { errors { code message field } activity { ...UpNextActivity } }
}
${ACTIVITY}`;

const SNOOZE = `mutation SnoozeActivity($input: SnoozeActivityInput!) {
  snoozeActivity(input: $input) { errors { code message field } activity { ...UpNextActivity } }
}
${ACTIVITY}`;

const REASSIGN = `mutation ReassignActivity($input: ReassignActivityInput!) {
  reassignActivity(input: $input) { errors { code message field } activity { ...UpNextActivity } }
}
${ACTIVITY}`;

const ACT_ON = `mutation ActOnActivities($input: ActOnActivitiesInput!) {
  actOnActivities(input: $input) {
    errors { code message field }
    okCount failedCount
    results { index activityId ok errors { code message field } activity { ...UpNextActivity } }
  }
}
${ACTIVITY}`;

const PAGE = 100;
const KINDS = { EMAIL: "Email", CALL: "Call", TASK: "Task", LINKEDIN: "LinkedIn" };
const VERBS = { COMPLETE: "completed", SKIP: "skipped", SNOOZE: "snoozed", REASSIGN: "reassigned" };

export async function render(root, _params, app) {
  const lookups = await app.gql(LOOKUPS);
  const outcomes = lookups.organization.callOutcomes;
  const users = lookups.users.nodes;
  const me = app.viewer.user.id;
  const state = {
    filter: { kind: null, due: "" },
    rows: [], // activities shown, by due time
    total: 0,
    next: null, // cursor of the next page, when there is one
    selected: new Set(),
    rowErrors: new Map(),
    loadErrors: [],
    bulkErrors: [],
    live: "live",
  };

  const listSlot = h("div");
  const bulkSlot = h("div");
  const moreSlot = h("div");
  const liveSlot = h("span", { class: "live muted small" });

  // --- Loading and live changes -----------------------------------------------------------

  function apiFilter() {
    const f = {};
    if (state.filter.kind) f.kind = state.filter.kind;
    const before = dueBefore(state.filter.due);
    if (before) f.dueBefore = before.toISOString();
    return Object.keys(f).length ? f : null;
  }

  async function load(more = false) {
    try {
      const data = await app.gql(UP_NEXT, {
        first: PAGE,
        after: more ? state.next : null,
        filter: apiFilter(),
      });
      const page = data.upNext;
      state.rows = more ? merge(state.rows, page.nodes) : page.nodes;
      state.total = page.totalCount;
      state.next = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      state.loadErrors = [];
      if (!more) {
        const shown = new Set(state.rows.map((a) => a.id));
        state.selected = new Set([...state.selected].filter((id) => shown.has(id)));
      }
    } catch (e) {
      state.loadErrors = e.errors || [{ message: String(e) }];
    }
    draw();
  }

  /** Whether an activity belongs in this list: open, mine, and within the filters. */
  function belongs(a) {
    if (a.status !== "OPEN" || !a.assignees.some((u) => u.id === me)) return false;
    if (state.filter.kind && a.kind !== state.filter.kind) return false;
    const before = dueBefore(state.filter.due);
    return !before || new Date(a.dueAt) < before;
  }

  /** Put a changed activity in its place, or take it out; returns what happened. */
  function apply(a) {
    const at = state.rows.findIndex((r) => r.id === a.id);
    if (!belongs(a)) {
      if (at < 0) return null;
      state.rows.splice(at, 1);
      state.selected.delete(a.id);
      state.rowErrors.delete(a.id);
      state.total = Math.max(0, state.total - 1);
      return "removed";
    }
    if (at >= 0) state.rows.splice(at, 1);
    else state.total += 1;
    // A row due after the last one loaded belongs to a later page: leave it there.
    const last = state.rows[state.rows.length - 1];
    if (at < 0 && state.next && last && byDue(a, last) > 0) return null;
    const place = state.rows.findIndex((r) => byDue(a, r) < 0);
    state.rows.splice(place < 0 ? state.rows.length : place, 0, a);
    return at >= 0 ? "updated" : "added";
  }

  const stop = app.subscribe(
    CHANGED,
    {},
    (data) => {
      state.live = "live";
      const a = data.upNextChanged;
      const what = apply(a);
      if (what) {
        draw();
        const row = listSlot.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
        if (row && what !== "removed") flash(row);
        if (what === "added") toast(`New in up next: ${a.subject}.`);
        if (what === "removed") toast(`“${a.subject}” left up next (${statusWords(a, me)}).`);
      }
    },
    (error) => {
      state.live = "error";
      state.loadErrors = error.errors || [];
      draw();
    },
  );

  // --- Acting on activities ---------------------------------------------------------------

  /** Run one activity's mutation; its errors go under its row. */
  async function actOne(a, document, name, input) {
    state.rowErrors.delete(a.id);
    const index = state.rows.findIndex((r) => r.id === a.id);
    let payload;
    try {
      payload = (await app.gql(document, { input: { activityId: a.id, ...input } }))[name];
    } catch (e) {
      payload = { errors: e.errors || [{ message: String(e) }] };
    }
    if (payload.errors.length) {
      state.rowErrors.set(a.id, payload.errors);
      draw();
      listSlot.querySelector(`tr[data-id="${CSS.escape(a.id)}"] button`)?.focus();
      return payload.errors;
    }
    const what = apply(payload.activity);
    draw();
    if (what === "removed") toast(`“${a.subject}” ${statusWords(payload.activity, me)}.`);
    // Gone from the list (here, or already through upNextChanged): the focus goes to the row
    // now in its place, once a dialog that asked for this has closed and given focus back.
    if (!state.rows.some((r) => r.id === a.id)) setTimeout(() => focusRow(index));
    return [];
  }

  /** One action for every selected row; per-row errors go under their rows. */
  async function actOnSelected(action, extra = {}) {
    const ids = state.rows.filter((r) => state.selected.has(r.id)).map((r) => r.id);
    if (!ids.length) return [];
    let payload;
    try {
      payload = (await app.gql(ACT_ON, { input: { activityIds: ids, action, ...extra } }))
        .actOnActivities;
    } catch (e) {
      return e.errors || [{ message: String(e) }];
    }
    if (payload.errors.length) return payload.errors;
    for (const r of payload.results) {
      if (r.ok) {
        state.rowErrors.delete(r.activityId);
        if (r.activity) apply(r.activity);
      } else {
        state.rowErrors.set(r.activityId, r.errors);
      }
    }
    state.bulkErrors = payload.failedCount
      ? [{ message: `${payload.failedCount} of ${ids.length} could not be ${VERBS[action]}; see the rows below.` }]
      : [];
    toast(`${payload.okCount} ${payload.okCount === 1 ? "activity" : "activities"} ${VERBS[action]}.`);
    draw();
    // The bulk buttons are disabled now that nothing is selected: keep focus in the list.
    setTimeout(() => (root.querySelector("[data-focus=select-all]") || root.querySelector("h1"))?.focus());
    return [];
  }

  // --- Dialogs: outcome, snooze, reassign -------------------------------------------------

  function outcomeControls(required) {
    const outcome = h(
      "select",
      { name: "outcome", required },
      h("option", { value: "" }, required ? "Choose an outcome" : "No outcome"),
      outcomes.map((o) => h("option", { value: o }, o)),
    );
    const notes = h("textarea", { name: "notes", rows: 3 });
    return { outcome, notes, content: [field("Call outcome", outcome), field("Notes", notes, { hint: "Optional." })] };
  }

  async function completeDialog(a) {
    const isCall = a.kind === "CALL";
    if (!isCall) return actOne(a, COMPLETE, "completeActivity", {});
    const c = outcomeControls(outcomes.length > 0);
    return formDialog(`Complete the call: ${a.subject}`, c.content, {
      submitLabel: "Complete",
      onSubmit: () =>
        actOne(a, COMPLETE, "completeActivity", {
          outcome: c.outcome.value || null,
          notes: c.notes.value || null,
        }),
    });
  }

  function snoozeControls(firstDue) {
    const start = new Date(Math.max(Date.now(), new Date(firstDue).getTime()));
    const until = h("input", {
      type: "datetime-local",
      name: "until",
      required: true,
      value: toLocalInput(start.getTime() + 60 * 60 * 1000),
    });
    const preset = (label, date) =>
      h("button", { type: "button", onclick: () => (until.value = toLocalInput(date)) }, label);
    const tomorrow = new Date();
    tomorrow.setDate(tomorrow.getDate() + 1);
    tomorrow.setHours(9, 0, 0, 0);
    const nextWeek = new Date(tomorrow);
    nextWeek.setDate(tomorrow.getDate() + ((8 - tomorrow.getDay()) % 7 || 7) - 1);
    return {
      until,
      content: [
        field("Snooze until", until, { hint: "Your browser's time zone." }),
        h(
          "div",
          { class: "actions", role: "group", "aria-label": "Quick choices" },
          preset("In 1 hour", Date.now() + 60 * 60 * 1000),
          preset("Tomorrow 09:00", tomorrow),
          preset("Next Monday 09:00", nextWeek),
        ),
      ],
    };
  }

  function reassignControls() {
    const user = h(
      "select",
      { name: "userIds", required: true },
      h("option", { value: "" }, "Choose a person"),
      users.filter((u) => u.id !== me).map((u) => h("option", { value: u.id }, u.name)),
    );
    return { user, content: [field("Reassign to", user)] };
  }

  function snoozeDialog(a) {
    const c = snoozeControls(a.dueAt);
    return formDialog(`Snooze: ${a.subject}`, c.content, {
      submitLabel: "Snooze",
      onSubmit: () => actOne(a, SNOOZE, "snoozeActivity", { until: fromLocalInput(c.until.value) }),
    });
  }

  function reassignDialog(a) {
    const c = reassignControls();
    return formDialog(`Reassign: ${a.subject}`, c.content, {
      submitLabel: "Reassign",
      onSubmit: () => actOne(a, REASSIGN, "reassignActivity", { userIds: [c.user.value] }),
    });
  }

  async function bulk(action) {
    const chosen = state.rows.filter((r) => state.selected.has(r.id));
    const title = `${chosen.length} selected`;
    state.bulkErrors = [];
    if (action === "COMPLETE") {
      const calls = chosen.some((r) => r.kind === "CALL");
      if (!calls) return actOnSelected("COMPLETE");
      const c = outcomeControls(false);
      return formDialog(`Complete ${title}`, [
        h("p", { class: "muted" }, "The outcome is recorded for the calls among them."),
        c.content,
      ], {
        submitLabel: "Complete",
        onSubmit: () =>
          actOnSelected("COMPLETE", { outcome: c.outcome.value || null, notes: c.notes.value || null }),
      });
    }
    if (action === "SKIP") return actOnSelected("SKIP");
    if (action === "SNOOZE") {
      const c = snoozeControls(chosen[0]?.dueAt || new Date());
      return formDialog(`Snooze ${title}`, c.content, {
        submitLabel: "Snooze",
        onSubmit: () => actOnSelected("SNOOZE", { until: fromLocalInput(c.until.value) }),
      });
    }
    const c = reassignControls();
    return formDialog(`Reassign ${title}`, c.content, {
      submitLabel: "Reassign",
      onSubmit: () => actOnSelected("REASSIGN", { userIds: [c.user.value] }),
    });
  }

  // --- Drawing ----------------------------------------------------------------------------

  function draw() {
    keepFocus(root, () => {
      drawList();
      drawBulk();
      drawMore();
      drawLive();
    });
  }

  function drawLive() {
    const words = {
      live: "Live: changes appear as they happen.",
      error: "Live updates stopped.",
    };
    liveSlot.textContent = words[state.live] || "";
  }

  function drawList() {
    if (state.loadErrors.length) {
      replace(listSlot, errorBox(state.loadErrors, "Up next could not be loaded"));
      if (!state.rows.length) return;
    } else {
      replace(listSlot);
    }
    if (!state.rows.length) {
      listSlot.append(h("p", { class: "empty" }, "Nothing is due for you. Well done."));
      return;
    }
    const allSelected = state.rows.every((r) => state.selected.has(r.id));
    const selectAll = h("input", {
      type: "checkbox",
      "aria-label": "Select all shown",
      "data-focus": "select-all",
      checked: allSelected,
      onchange: (e) => {
        state.selected = e.target.checked ? new Set(state.rows.map((r) => r.id)) : new Set();
        draw();
      },
    });
    selectAll.indeterminate = !allSelected && state.selected.size > 0;
    const now = Date.now();
    const body = [];
    for (const a of state.rows) {
      const overdue = new Date(a.dueAt).getTime() < now;
      body.push(
        h(
          "tr",
          { dataset: { id: a.id }, class: state.selected.has(a.id) ? "selected" : false },
          h(
            "td",
            {},
            h("input", {
              type: "checkbox",
              "aria-label": `Select ${a.subject}`,
              "data-focus": `sel-${a.id}`,
              checked: state.selected.has(a.id),
              onchange: (e) => {
                if (e.target.checked) state.selected.add(a.id);
                else state.selected.delete(a.id);
                draw();
              },
            }),
          ),
          h(
            "td",
            { class: overdue ? "overdue" : false },
            h("time", { datetime: a.dueAt, title: when(a.dueAt) }, shortWhen(a.dueAt)),
            overdue ? h("div", { class: "small" }, "Overdue") : null,
          ),
          h("td", {}, h("span", { class: `kind kind-${a.kind || "OTHER"}` }, KINDS[a.kind] || a.stepType)),
          h(
            "td",
            {},
            h("div", { class: "subject" }, a.subject),
            h("div", { class: "muted small" }, a.record.name),
            a.emailOptOut
              ? h("div", { class: "problem small" }, "Do not email this record (opted out).")
              : null,
            a.hold
              ? h("div", { class: "small warn" }, `Waits: you are away until ${when(a.hold.until)}.`)
              : null,
            a.delegatedFrom ? h("div", { class: "muted small" }, `For ${a.delegatedFrom.name}, who is away.`) : null,
          ),
          h(
            "td",
            {},
            h("a", { href: `#/sequences/${encodeURIComponent(a.sequence.id)}/insight` }, a.sequence.name),
            h("div", { class: "muted small" }, a.step?.name || ""),
          ),
          h("td", {}, h("div", { class: "row-actions" }, rowActions(a))),
        ),
      );
      const errors = state.rowErrors.get(a.id);
      if (errors?.length) {
        body.push(
          h(
            "tr",
            { class: "row-errors" },
            h("td", { colspan: 6 }, errorBox(errors, `“${a.subject}” could not be changed`)),
          ),
        );
      }
    }
    listSlot.append(
      h(
        "table",
        { class: "grid upnext-grid" },
        h("caption", { class: "sr-only" }, "Your open activities by due time"),
        h(
          "colgroup",
          {},
          h("col", { style: { width: "40px" } }),
          h("col", { style: { width: "130px" } }),
          h("col", { style: { width: "76px" } }),
          h("col", {}),
          h("col", { style: { width: "210px" } }),
          h("col", { style: { width: "390px" } }),
        ),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, selectAll),
            h("th", { scope: "col" }, "Due"),
            h("th", { scope: "col" }, "Kind"),
            h("th", { scope: "col" }, "Activity and record"),
            h("th", { scope: "col" }, "Sequence and step"),
            h("th", { scope: "col" }, "Actions"),
          ),
        ),
        h("tbody", {}, body),
      ),
    );
  }

  function rowActions(a) {
    const button = (label, verb, onclick, cls) =>
      h(
        "button",
        {
          type: "button",
          class: cls || false,
          "aria-label": `${verb} ${a.subject}`,
          "data-focus": `${verb}-${a.id}`,
          onclick,
        },
        label,
      );
    return [
      button(a.kind === "CALL" ? "Complete…" : "Complete", "Complete", () => completeDialog(a), "primary"),
      button("Skip", "Skip", () => actOne(a, SKIP, "skipActivity", {})),
      button("Snooze…", "Snooze", () => snoozeDialog(a)),
      button("Reassign…", "Reassign", () => reassignDialog(a)),
    ];
  }

  function drawBulk() {
    const n = state.selected.size;
    const disabled = n === 0;
    const button = (label, action) =>
      h(
        "button",
        { type: "button", disabled, "data-focus": `bulk-${action}`, onclick: () => bulk(action) },
        label,
      );
    replace(
      bulkSlot,
      h(
        "div",
        { class: "toolbar bulk", role: "toolbar", "aria-label": "Act on the selected activities" },
        h("span", { "aria-live": "polite" }, n ? `${n} selected:` : "Select rows to act on several at once."),
        button("Complete…", "COMPLETE"),
        button("Skip", "SKIP"),
        button("Snooze…", "SNOOZE"),
        button("Reassign…", "REASSIGN"),
      ),
      errorBox(state.bulkErrors, "Not all of them were changed"),
    );
  }

  function drawMore() {
    const shown = state.rows.length;
    replace(
      moreSlot,
      h(
        "div",
        { class: "pager" },
        h("span", {}, `${shown} of ${state.total} shown`),
        state.next
          ? h("button", { type: "button", "data-focus": "more", onclick: () => load(true) }, "Show more")
          : null,
      ),
    );
  }

  function focusRow(index) {
    const rows = listSlot.querySelectorAll("tbody tr[data-id]");
    const row = rows[Math.min(index, rows.length - 1)];
    const target = row?.querySelector("button.primary") || root.querySelector("h1");
    target?.focus();
  }

  // --- Filters and the page ---------------------------------------------------------------

  const kind = h(
    "select",
    {
      name: "kind",
      onchange: (e) => {
        state.filter.kind = e.target.value || null;
        load();
      },
    },
    h("option", { value: "" }, "Any"),
    Object.entries(KINDS).map(([value, text]) => h("option", { value }, text)),
  );
  const due = h(
    "select",
    {
      name: "due",
      onchange: (e) => {
        state.filter.due = e.target.value;
        load();
      },
    },
    h("option", { value: "" }, "Any time"),
    h("option", { value: "now" }, "Due now (overdue included)"),
    h("option", { value: "today" }, "By the end of today"),
    h("option", { value: "week" }, "Within 7 days"),
  );

  replace(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Up next"), liveSlot),
    h(
      "form",
      { class: "filters", "aria-label": "Filters", onsubmit: (e) => e.preventDefault() },
      field("Kind", kind),
      field("Due", due),
    ),
    bulkSlot,
    listSlot,
    moreSlot,
  );
  await load();
  return stop;
}

/** "Mon 7 Dec, 08:00" (the year when it is not this one). */
function shortWhen(iso) {
  const d = new Date(iso);
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: sameYear ? undefined : "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

function byDue(a, b) {
  return new Date(a.dueAt) - new Date(b.dueAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function merge(rows, more) {
  const seen = new Set(rows.map((r) => r.id));
  return [...rows, ...more.filter((r) => !seen.has(r.id))];
}

function dueBefore(choice) {
  const now = new Date();
  if (choice === "now") return now;
  if (choice === "today") return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  if (choice === "week") return new Date(now.getTime() + 7 * 24 * 3600 * 1000);
  return null;
}

function statusWords(a, me) {
  if (a.status === "OPEN") {
    return a.assignees.some((u) => u.id === me) ? "moved out of the filter" : "reassigned";
  }
  return { COMPLETED: "completed", SKIPPED: "skipped", CANCELED: "canceled" }[a.status] || a.status;
}

/** Mark a row that changed for a moment (motion-free: a background colour). */
function flash(row) {
  row.classList.add("changed");
  setTimeout(() => row.classList.remove("changed"), 2500);
}
