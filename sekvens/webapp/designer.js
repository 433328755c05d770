// The Designer (route /sequences/:id): the sequence as the tree it is (START, steps, the yes
// and no paths of conditions), a + after any step offering the step types by group, each
// step's settings form generated from its type's JSON Schema (schema_form.js) and saved as
// you edit with the problems the API finds shown on the step, activation with its errors on
// the steps they name, the sequence's properties (assignment, options, record type),
// revisions with their history, and a preview of the dated timeline for a record.

import { h, replace, errorBox, errorText, when, confirmDialog, toast, readOnly } from "./ui.js";
import { schemaForm } from "./schema_form.js";

// ---- API documents ----

const SEQUENCE_FIELDS = `id name description status isPersonal createdAt modifiedAt activatedAt
  viewerMayEdit
  recordType { id name displayName stages fields { name displayName type options } }
  assignment { assignTo fieldName memberCondition { teamRoles userRoles } }
  options { exitOnReply skipNonWorkingTime skipOptedOutEmail
    sendWindow { weekdays start end }
    exitCriteria { meetingBooked stages fieldConditions { field operator value } } }
  validation { canActivate problems { code message field stepId stepKey } }
  currentVersion { id number }
  draft { id number name description }
  versions { id number status name changeDescription createdAt activatedAt }
  steps { id key type name description config branch category
    parent { key } next { key } yes { key } no { key } }`;

const SEQUENCE_QUERY = `query Designer($id: ID!) { sequence(id: $id) { ${SEQUENCE_FIELDS} } }`;

const STEP_TYPES_QUERY = `query DesignerStepTypes { stepTypes { key category displayName
  description branches automatic activityKind configSchema provider { distribution version } } }`;

const RECORDS_QUERY = `query DesignerRecords($filter: RecordFilterInput) {
  records(first: 20, filter: $filter) { nodes { id name externalId stage
    ownerUser { name } ownerTeam { name } } } }`;

const PREVIEW_QUERY = `query DesignerPreview($sequenceId: ID!, $recordId: ID!, $startAt: DateTime,
  $draft: Boolean!) {
  sequencePreview(sequenceId: $sequenceId, recordId: $recordId, startAt: $startAt, draft: $draft) {
    startsAt version versionStatus assignee { name } timeZone skipNonWorkingTime
    sendWindow { weekdays start end } recipientTimeZone
    steps { key type name kind category parentKey branch depth reachedAt dueAt sendAt waitUntil
      branches { branch startsAt nextKey assumes expected possible }
      ends note assumes problem { code message } }
    paths { choices stepKeys endsAt ending possible unsentStepKeys } } }`;

/** Payload selections of the mutations (app.mutate adds `errors`). */
const WITH_SEQUENCE = `sequence { ${SEQUENCE_FIELDS} }`;
const ADD_STEP = `step { key } ${WITH_SEQUENCE}`;
const UPDATE_STEP = `step { key name description config }
  sequence { validation { canActivate problems { code message field stepId stepKey } } }`;
const REMOVE_STEP = `removedStepKeys ${WITH_SEQUENCE}`;
const DEACTIVATE = `disconnectedCount ${WITH_SEQUENCE}`;

const GROUPS = [
  ["STEP", "Steps"],
  ["CONDITION", "Conditions"],
  ["COMMAND", "Commands"],
  ["LINKEDIN", "LinkedIn"],
];

const ASSIGN_TO = [
  ["RECORD_OWNER", "Record owner", "The owner of the connected record."],
  ["RECORD_FIELD", "Team member named in a record field", "A user-lookup field of the record names the seller."],
  ["OWNING_TEAM", "Owning team", "The record's owner must be a team; optionally only some of its members."],
  ["ACCESS_TEAM", "Access team", "The record's access team; optionally only some of its members."],
  ["CURRENT_USER", "Current user", "Whoever connects the record."],
];

const ROLES = [
  ["SYSTEM_ADMINISTRATOR", "System administrator"],
  ["SEQUENCE_MANAGER", "Sequence manager"],
  ["SALES_MANAGER", "Sales manager"],
  ["SALESPERSON", "Salesperson"],
];

const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

// ---- the screen ----

export async function render(root, params, app) {
  const id = params.id;
  const [seqData, typeData] = await Promise.all([
    app.gql(SEQUENCE_QUERY, { id }),
    app.gql(STEP_TYPES_QUERY),
  ]);
  if (!seqData.sequence) {
    replace(
      root,
      h("h1", {}, "Sequence not found"),
      errorBox([{ message: "This sequence does not exist, or you may not see it." }], "Not found"),
      h("p", {}, h("a", { href: "#/sequences" }, "Back to the sequences")),
    );
    return;
  }
  const designer = new Designer(root, app, seqData.sequence, typeData.stepTypes);
  designer.draw();
  return () => designer.leave();
}

class Designer {
  constructor(root, app, seq, types) {
    this.root = root;
    this.app = app;
    this.types = new Map(types.map((t) => [t.key, t]));
    this.selectedKey = null;
    this.highlight = new Set();
    this.tab = "step";
    this.stepEditor = null; // the open step form: {key, save(), flush()}
    this.closeMenu = null;
    this.setSequence(seq);
  }

  leave() {
    if (this.closeMenu) this.closeMenu();
    if (this.stepEditor) this.stepEditor.flush();
  }

  // -- state --

  setSequence(seq) {
    this.seq = seq;
    this.steps = new Map(seq.steps.map((s) => [s.key, s]));
    this.byId = new Map(seq.steps.map((s) => [s.id, s]));
    this.problems = new Map();
    for (const p of seq.validation.problems) {
      const key = p.stepKey || this.byId.get(p.stepId)?.key || "";
      if (!this.problems.has(key)) this.problems.set(key, []);
      this.problems.get(key).push(p);
    }
    for (const key of [...this.highlight]) {
      if (!this.problems.has(key)) this.highlight.delete(key);
    }
    if (this.selectedKey && !this.steps.has(this.selectedKey)) this.selectedKey = null;
  }

  setValidation(validation) {
    this.setSequence({ ...this.seq, validation });
  }

  /** Whether the viewer may change this sequence at all (the API's rule: `viewerMayEdit`). */
  get mayEdit() {
    return this.seq.viewerMayEdit !== false;
  }

  /** Whether the design may be changed: an inactive sequence, or an open draft revision. */
  get editable() {
    if (!this.mayEdit) return false;
    return this.seq.status === "INACTIVE" || (this.seq.status === "ACTIVE" && this.hasRevision);
  }

  /** Why the viewer may only read this sequence, in a sentence. */
  get readOnlyReason() {
    return this.seq.isPersonal
      ? "This is another user's personal sequence: only its owner and administrators can change it."
      : "This is an organization sequence, and your role may change only your personal " +
          "sequences. Clone it from the sequences list to get a personal copy you can edit.";
  }

  get hasRevision() {
    return !!this.seq.draft && this.seq.status === "ACTIVE";
  }

  get displayName() {
    return this.hasRevision ? this.seq.draft.name : this.seq.name;
  }

  async reload() {
    const data = await this.app.gql(SEQUENCE_QUERY, { id: this.seq.id });
    if (data.sequence) this.setSequence(data.sequence);
  }

  /** Run a mutation; transport and GraphQL failures come back as `errors` too. */
  async call(name, input, selection) {
    try {
      return await this.app.mutate(name, input, selection);
    } catch (e) {
      return { errors: e.errors || [{ message: String(e.message || e) }] };
    }
  }

  // -- drawing --

  draw() {
    this.head = h("div", { class: "designer-head" });
    this.headErrors = h("div", { class: "slot" });
    this.tree = h("div", { class: "tree", role: "group", "aria-label": "Steps of the sequence", "aria-describedby": "tree-keys" });
    this.summary = h("div", { class: "validation-summary" });
    this.keysHint = h("p", { class: "keys-hint", id: "tree-keys" });
    this.side = h("div", { class: "side" });
    replace(
      this.root,
      h(
        "div",
        { class: "designer" },
        this.head,
        this.mayEdit
          ? null
          : h("p", { class: "note read-only-note", id: "read-only-note" }, h("strong", {}, "Read only. "), this.readOnlyReason),
        this.headErrors,
        h(
          "div",
          { class: "designer-body" },
          h(
            "section",
            { class: "tree-pane", "aria-labelledby": "tree-title" },
            h("h2", { id: "tree-title", class: "visually-hidden" }, "Steps"),
            this.summary,
            this.keysHint,
            this.tree,
          ),
          h("aside", { class: "side-pane", "aria-label": "Settings" }, this.side),
        ),
      ),
    );
    this.drawHead();
    this.drawTree();
    this.drawSide();
  }

  drawHead() {
    const s = this.seq;
    const actions = [];
    if (!this.mayEdit) {
      // Read only: no activation, deactivation or revision buttons.
    } else if (s.status === "INACTIVE") {
      actions.push(h("button", { type: "button", class: "primary", onclick: () => this.activate() }, "Activate"));
    } else if (this.hasRevision) {
      actions.push(
        h("button", { type: "button", class: "primary", onclick: () => this.activate() }, `Activate revision ${s.draft.number}`),
        h("button", { type: "button", onclick: () => this.discardRevision() }, "Discard revision"),
        h("button", { type: "button", onclick: () => this.deactivate() }, "Deactivate"),
      );
    } else {
      actions.push(
        h("button", { type: "button", class: "primary", onclick: () => this.createRevision() }, "Edit as a revision"),
        h("button", { type: "button", onclick: () => this.deactivate() }, "Deactivate"),
      );
    }
    replace(
      this.head,
      h(
        "div",
        { class: "title" },
        h("a", { href: "#/sequences", class: "back" }, "← Sequences"),
        h("h1", {}, this.displayName),
        h("span", { class: `badge ${s.status}` }, s.status === "ACTIVE" ? "Active" : "Inactive"),
        this.hasRevision ? h("span", { class: "badge DRAFT" }, `Editing revision ${s.draft.number}`) : null,
        h("span", { class: "muted" }, `${s.recordType.displayName} · ${s.steps.length - 1} ${s.steps.length === 2 ? "step" : "steps"}`),
        this.mayEdit ? null : h("span", { class: "badge" }, "Read only"),
      ),
      h(
        "div",
        { class: "actions" },
        actions,
        h("a", { href: `#/sequences/${encodeURIComponent(s.id)}/insight`, class: "button-link" }, "Insight"),
      ),
    );
  }

  drawSummary() {
    const problems = this.seq.validation.problems;
    if (!problems.length) {
      replace(this.summary, h("p", { class: "ok-text" }, "✓ Nothing blocks activation."));
      return;
    }
    replace(
      this.summary,
      h(
        "details",
        {},
        h("summary", { class: "problem" }, `${problems.length} ${problems.length === 1 ? "problem blocks" : "problems block"} activation`),
        h(
          "ul",
          {},
          problems.map((p) => {
            const step = this.stepOf(p);
            return h(
              "li",
              {},
              step
                ? h("button", { type: "button", class: "link", onclick: () => this.goToStep(step.key) }, step.name)
                : null,
              step ? ": " : null,
              this.problemWords(p),
            );
          }),
        ),
      ),
    );
  }

  stepOf(p) {
    return (p.stepKey && this.steps.get(p.stepKey)) || (p.stepId && this.byId.get(p.stepId)) || null;
  }

  /** A problem's message with the setting it concerns, in the words of its type's form. */
  problemWords(p) {
    const step = this.stepOf(p);
    const field = p.field && p.field.length ? p.field : null;
    if (!step || !field) return p.message;
    const schema = this.types.get(step.type)?.configSchema;
    if (!schema?.properties || !(field[0] in schema.properties)) return p.message;
    return `${fieldTitle(schema, field)}: ${p.message}`;
  }

  drawTree() {
    if (this.closeMenu) this.closeMenu();
    this.drawSummary();
    this.keysHint.textContent = this.editable
      ? "↑ ↓ move between steps, Enter opens one, Delete removes it; + adds a step after it."
      : "↑ ↓ move between steps, Enter opens one.";
    const start = this.seq.steps.find((s) => !s.parent);
    replace(this.tree, start ? this.renderPath(start.key) : h("p", {}, "This sequence has no START step."));
  }

  /** A path: a step, and the steps that follow it on NEXT, as one list. */
  renderPath(key) {
    const list = h("ol", { class: "flow" });
    let current = key ? this.steps.get(key) : null;
    while (current) {
      const step = current;
      const type = this.types.get(step.type);
      const branches = type ? type.branches : ["NEXT", "YES", "NO"].filter((b) => step[b.toLowerCase()] || b === "NEXT");
      const item = h("li", { class: "node" }, this.renderCard(step, type));
      list.append(item);
      if (branches.includes("YES") || branches.includes("NO")) {
        item.append(
          h(
            "div",
            { class: "branches" },
            ["YES", "NO"]
              .filter((b) => branches.includes(b))
              .map((b) =>
                h(
                  "section",
                  { class: `branch ${b.toLowerCase()}`, "aria-label": `${b === "YES" ? "Yes" : "No"} path of ${step.name}` },
                  h("div", { class: "branch-label" }, b === "YES" ? "Yes" : "No"),
                  this.plusButton(step, b),
                  this.renderPath(step[b.toLowerCase()]?.key),
                ),
              ),
          ),
        );
        break;
      }
      if (branches.includes("NEXT")) item.append(this.plusButton(step, "NEXT"));
      current = step.next ? this.steps.get(step.next.key) : null;
    }
    return list;
  }

  renderCard(step, type) {
    const problems = this.problems.get(step.key) || [];
    const isStart = !step.parent;
    const category = step.category || "UNKNOWN";
    const summary = summaryOf(step, type);
    const card = h(
      "button",
      {
        type: "button",
        class: `step-card cat-${category}${isStart ? " start" : ""}${this.highlight.has(step.key) ? " highlight" : ""}`,
        dataset: { key: step.key, stepId: step.id },
        "aria-current": this.selectedKey === step.key ? "true" : false,
        "aria-describedby": problems.length ? `problems-${step.key}` : false,
        onclick: () => this.select(step.key),
        onkeydown: (e) => this.cardKey(e),
      },
      h("span", { class: "step-kind" }, isStart ? "Start" : kindOf(type)),
      h("span", { class: "step-name" }, step.name),
      summary && summary !== step.name ? h("span", { class: "step-summary" }, summary) : null,
    );
    const wrapEl = h("div", { class: "card-wrap" }, card);
    if (!type && !isStart) {
      wrapEl.append(h("div", { class: "problem small" }, `The plugin providing '${step.type}' is not installed.`));
    }
    if (problems.length) {
      wrapEl.append(
        h(
          "ul",
          { class: "step-problems", id: `problems-${step.key}` },
          problems.map((p) => h("li", {}, this.problemWords(p))),
        ),
      );
    }
    return wrapEl;
  }

  /** Arrow keys move between the step cards (in reading order); Home and End too. */
  cardKey(event) {
    const cards = [...this.tree.querySelectorAll(".step-card")];
    const i = cards.indexOf(event.currentTarget);
    let target = null;
    if (event.key === "ArrowDown") target = cards[i + 1];
    else if (event.key === "ArrowUp") target = cards[i - 1];
    else if (event.key === "Home") target = cards[0];
    else if (event.key === "End") target = cards[cards.length - 1];
    else if (event.key === "Delete" && this.editable && event.currentTarget.dataset.key !== this.startKey) {
      event.preventDefault();
      this.removeStep(event.currentTarget.dataset.key);
      return;
    }
    if (target) {
      event.preventDefault();
      target.focus();
    }
  }

  get startKey() {
    return this.seq.steps.find((s) => !s.parent)?.key;
  }

  plusButton(step, branch) {
    if (!this.editable) return h("div", { class: `plus-row ${branch.toLowerCase()} idle` });
    const where = branch === "NEXT" ? `after ${step.name}` : `to the ${branch === "YES" ? "Yes" : "No"} path of ${step.name}`;
    const slot = h("div", { class: "slot" });
    const button = h(
      "button",
      {
        type: "button",
        class: "plus",
        "aria-label": `Add a step ${where}`,
        title: `Add a step ${where}`,
        "aria-haspopup": "menu",
        "aria-expanded": "false",
        disabled: !this.editable,
        onclick: () => this.openMenu(button, step, branch, slot),
      },
      "+",
    );
    return h("div", { class: `plus-row ${branch.toLowerCase()}` }, button, slot);
  }

  /** The + menu: the step types in their four groups; arrows, Home, End, Escape. */
  openMenu(button, step, branch, slot) {
    if (this.closeMenu) this.closeMenu();
    const items = [];
    const groups = GROUPS.map(([category, label]) => {
      const types = [...this.types.values()].filter((t) => t.category === category && t.key !== "core.start");
      if (!types.length) return null;
      const labelId = `menu-group-${category}`;
      return h(
        "div",
        { role: "group", "aria-labelledby": labelId, class: "menu-group" },
        h("div", { class: "menu-group-label", id: labelId, role: "presentation" }, label),
        types.map((t) => {
          const item = h(
            "button",
            {
              type: "button",
              role: "menuitem",
              tabindex: "-1",
              dataset: { type: t.key },
              onclick: () => choose(t.key),
              // A roving tab stop: the focused item is the menu's one (Tab leaves the menu).
              onfocus: (e) => {
                for (const other of items) other.tabIndex = other === e.currentTarget ? 0 : -1;
              },
            },
            h("span", { class: "menu-item-name" }, t.displayName),
            h("span", { class: "menu-item-desc" }, t.description),
          );
          items.push(item);
          return item;
        }),
      );
    });
    const menu = h(
      "div",
      { class: "add-menu", role: "menu", "aria-label": button.getAttribute("aria-label") },
      groups,
    );
    const close = (refocus = true) => {
      menu.remove();
      button.setAttribute("aria-expanded", "false");
      document.removeEventListener("mousedown", outside, true);
      this.closeMenu = null;
      if (refocus) button.focus();
    };
    const outside = (e) => {
      if (!menu.contains(e.target) && e.target !== button) close(false);
    };
    const choose = async (typeKey) => {
      close(false);
      await this.addStep(step, branch, typeKey, slot, button);
    };
    menu.addEventListener("keydown", (e) => {
      const i = items.indexOf(document.activeElement);
      const move = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
      if (move !== undefined) {
        e.preventDefault();
        items[(move + items.length) % items.length].focus();
      } else if (e.key === "Escape") {
        e.preventDefault();
        close();
      } else if (e.key === "Tab") {
        // Leave the menu from its + button, so Tab goes on from there, not from the page's top.
        close();
      }
    });
    button.after(menu);
    button.setAttribute("aria-expanded", "true");
    document.addEventListener("mousedown", outside, true);
    this.closeMenu = () => close(false);
    if (items[0]) items[0].tabIndex = 0;
    items[0]?.focus();
  }

  async addStep(step, branch, typeKey, slot, button) {
    if (this.stepEditor) await this.stepEditor.flush();
    const payload = await this.call(
      "addStep",
      { sequenceId: this.seq.id, afterStepId: step.id, branch, type: typeKey },
      ADD_STEP,
    );
    if (payload.errors.length) {
      replace(slot, errorBox(payload.errors, "The step was not added"));
      button.focus();
      return;
    }
    this.setSequence(payload.sequence);
    this.selectedKey = payload.step.key;
    this.tab = "step";
    this.drawHead();
    this.drawTree();
    this.drawSide();
    this.focusCard(payload.step.key);
    toast(`${this.types.get(typeKey)?.displayName || "Step"} added`);
  }

  focusCard(key, scroll = true) {
    const card = this.tree.querySelector(`.step-card[data-key="${CSS.escape(key)}"]`);
    if (!card) return;
    if (scroll) card.scrollIntoView({ block: "center", behavior: "instant" });
    card.focus({ preventScroll: true });
  }

  async select(key) {
    if (this.stepEditor && this.stepEditor.key !== key) await this.stepEditor.flush();
    this.selectedKey = key;
    this.tab = "step";
    for (const card of this.tree.querySelectorAll(".step-card")) {
      if (card.dataset.key === key) card.setAttribute("aria-current", "true");
      else card.removeAttribute("aria-current");
    }
    this.drawSide();
  }

  goToStep(key) {
    this.select(key);
    this.focusCard(key);
  }

  // -- the side panel: tabs --

  drawSide() {
    const tabs = [
      ["step", "Step"],
      ["properties", "Properties"],
      ["versions", "Versions"],
      ["preview", "Preview"],
    ];
    const panel = h("div", { role: "tabpanel", id: "designer-panel", tabindex: "-1", class: "panel" });
    const buttons = tabs.map(([key, label]) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          id: `tab-${key}`,
          "aria-selected": this.tab === key ? "true" : "false",
          "aria-controls": "designer-panel",
          tabindex: this.tab === key ? "0" : "-1",
          onclick: async () => {
            if (this.stepEditor) await this.stepEditor.flush();
            this.tab = key;
            this.drawSide();
            this.side.querySelector(`#tab-${key}`)?.focus();
          },
          onkeydown: (e) => {
            const i = tabs.findIndex(([k]) => k === key);
            const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
            if (j === undefined) return;
            e.preventDefault();
            this.side.querySelectorAll('[role="tab"]')[(j + tabs.length) % tabs.length].click();
          },
        },
        label,
      ),
    );
    panel.setAttribute("aria-labelledby", `tab-${this.tab}`);
    replace(this.side, h("div", { role: "tablist", "aria-label": "Settings", class: "tabs" }, buttons), panel);
    if (this.stepEditor && this.tab !== "step") this.stepEditor = null;
    if (this.tab === "step") this.drawStepPanel(panel);
    else if (this.tab === "properties") this.drawProperties(panel);
    else if (this.tab === "versions") this.drawVersions(panel);
    else this.drawPreview(panel);
  }

  // -- the selected step's settings --

  drawStepPanel(panel) {
    this.stepEditor = null;
    const step = this.selectedKey ? this.steps.get(this.selectedKey) : null;
    if (!step) {
      replace(
        panel,
        h("h2", {}, "Step settings"),
        h("p", { class: "muted" }, "Select a step to see and change its settings. Add one with a + button after a step."),
      );
      return;
    }
    const type = this.types.get(step.type);
    const isStart = !step.parent;
    const editable = this.editable && !isStart;
    const errors = h("div", { class: "slot" });
    const status = h("div", { class: "save-status muted", role: "status", "aria-live": "polite" });
    const nameInput = h("input", { type: "text", value: step.name, maxLength: 200, disabled: !editable });
    const descInput = h("textarea", { rows: 2, disabled: !editable });
    descInput.value = step.description || "";
    const nameSlot = h("div", { class: "field-error", hidden: true, id: "step-name-err" });
    const descSlot = h("div", { class: "field-error", hidden: true, id: "step-desc-err" });
    nameInput.setAttribute("aria-describedby", "step-name-err");
    descInput.setAttribute("aria-describedby", "step-desc-err");

    let dirty = false;
    let saving = null;
    let timer = null;
    const form = type
      ? schemaForm(type.configSchema, step.config, {
          onChange: () => changed(),
          disabled: !editable,
          label: "Settings",
        })
      : null;
    const json = type
      ? null
      : h("textarea", { class: "json", rows: 6, disabled: true, id: "step-config-json" });
    if (json) json.value = JSON.stringify(step.config, null, 2);

    const showProblems = () => {
      const problems = (this.problems.get(step.key) || []).filter((p) => p.field && p.field.length);
      if (form) form.setProblems(problems);
    };

    const save = async () => {
      clearTimeout(timer);
      if (!dirty || !editable) return;
      dirty = false;
      status.textContent = "Saving…";
      const input = {
        stepId: step.id,
        name: nameInput.value,
        description: descInput.value,
      };
      if (form) input.config = form.value();
      const payload = await this.call("updateStep", input, UPDATE_STEP);
      for (const slot of [nameSlot, descSlot]) slot.hidden = true;
      nameInput.removeAttribute("aria-invalid");
      descInput.removeAttribute("aria-invalid");
      if (payload.errors.length) {
        status.textContent = "Not saved.";
        const rest = [];
        for (const e of payload.errors) {
          const f = (e.field || [])[0];
          const slot = f === "name" ? nameSlot : f === "description" ? descSlot : null;
          if (slot) {
            slot.hidden = false;
            slot.textContent = errorText(e);
            (f === "name" ? nameInput : descInput).setAttribute("aria-invalid", "true");
          } else if (f === "config" && form) {
            form.setProblems([{ ...e, field: (e.field || []).slice(1) }]);
          } else rest.push(e);
        }
        replace(errors, rest.length ? errorBox(rest, "The step was not saved") : null);
        return;
      }
      replace(errors);
      Object.assign(step, payload.step);
      this.setValidation(payload.sequence.validation);
      status.textContent = "Saved.";
      showProblems();
      this.refreshCard(step.key);
      this.drawSummary();
    };
    const flush = async () => {
      if (saving) await saving;
      if (dirty) {
        saving = save();
        await saving;
        saving = null;
      }
    };
    const changed = () => {
      dirty = true;
      status.textContent = "Changed; saving soon…";
      clearTimeout(timer);
      timer = setTimeout(() => flush(), 600);
    };
    nameInput.addEventListener("input", changed);
    descInput.addEventListener("input", changed);
    this.stepEditor = { key: step.key, flush };

    const provider = type?.provider;
    replace(
      panel,
      h("h2", {}, isStart ? "Sequence starts here" : step.name),
      h(
        "p",
        { class: "muted type-line" },
        type ? kindOf(type) : `Unknown step type ${step.type}`,
        provider && provider.distribution !== "sekvens" ? ` · from ${provider.distribution} ${provider.version}` : null,
      ),
      type?.description ? h("p", { class: "hint" }, type.description) : null,
      !this.mayEdit
        ? h("p", { class: "note" }, "Read only: you may see these settings but not change them.")
        : !this.editable
          ? h("p", { class: "note" }, "This version is active and can't be changed. Use “Edit as a revision” to change it while it keeps running.")
          : null,
      isStart ? h("p", {}, "Every sequence begins here. Add the first step with the + below it.") : null,
      errors,
      isStart
        ? null
        : h(
            "form",
            { class: "step-form", onsubmit: (e) => (e.preventDefault(), flush()) },
            h("div", { class: "field" }, h("label", { for: "step-name" }, "Name"), Object.assign(nameInput, { id: "step-name" }), nameSlot),
            h(
              "div",
              { class: "field" },
              h("label", { for: "step-desc" }, "Description"),
              Object.assign(descInput, { id: "step-desc" }),
              descSlot,
            ),
            form ? form.element : null,
            json
              ? h(
                  "div",
                  { class: "field" },
                  h("label", { for: "step-config-json" }, "Configuration (JSON)"),
                  json,
                  h("div", { class: "hint" }, "Install the plugin that provides this step type to change it."),
                )
              : null,
            status,
            h(
              "div",
              { class: "actions" },
              editable ? h("button", { type: "submit" }, "Save now") : null,
              editable
                ? h("button", { type: "button", class: "danger", onclick: () => this.removeStep(step.key) }, "Remove step")
                : null,
            ),
          ),
    );
    // What can't change stays readable and focusable (read-only, not disabled).
    if (!editable) readOnly(panel);
    showProblems();
  }

  /** Redraw one card after its step changed (the tree keeps its shape and focus). */
  refreshCard(key) {
    const step = this.steps.get(key);
    const old = this.tree.querySelector(`.step-card[data-key="${CSS.escape(key)}"]`)?.parentElement;
    if (!step || !old) return this.drawTree();
    old.replaceWith(this.renderCard(step, this.types.get(step.type)));
    // Problems on other steps may have changed too (e.g. a condition after this step).
    for (const card of this.tree.querySelectorAll(".step-card")) {
      const k = card.dataset.key;
      if (k === key) continue;
      const had = !!card.parentElement.querySelector(".step-problems");
      if (had !== this.problems.has(k) || (had && this.problems.get(k).length !== card.parentElement.querySelectorAll(".step-problems li").length)) {
        const s = this.steps.get(k);
        card.parentElement.replaceWith(this.renderCard(s, this.types.get(s.type)));
      }
    }
  }

  async removeStep(key) {
    const step = this.steps.get(key);
    if (!step) return;
    const type = this.types.get(step.type);
    const twoWays = type ? type.branches.length > 1 : !!(step.yes || step.no);
    let keepBranch = null;
    if (twoWays) {
      keepBranch = await chooseBranch(step);
      if (!keepBranch) return;
    }
    if (this.stepEditor && this.stepEditor.key === key) this.stepEditor = null;
    const input = { stepId: step.id };
    if (keepBranch) input.keepBranch = keepBranch;
    const payload = await this.call("removeStep", input, REMOVE_STEP);
    if (payload.errors.length) {
      replace(this.headErrors, errorBox(payload.errors.map((e) => ({ ...e, message: `${step.name}: ${errorText(e)}` })), "The step was not removed"));
      this.focusCard(key);
      return;
    }
    const parentKey = step.parent?.key;
    this.setSequence(payload.sequence);
    replace(this.headErrors);
    this.selectedKey = null;
    this.drawHead();
    this.drawTree();
    this.drawSide();
    toast(`${step.name} removed`);
    if (parentKey) this.focusCard(parentKey);
  }

  // -- activation and revisions --

  async activate() {
    if (this.stepEditor) await this.stepEditor.flush();
    const revision = this.hasRevision;
    const answer = await activationDialog(this.displayName, revision, this.seq.draft?.number);
    if (!answer) return;
    const input = { sequenceId: this.seq.id };
    if (revision) input.changeDescription = answer.changeDescription;
    const payload = await this.call("activateSequence", input, WITH_SEQUENCE);
    if (payload.errors.length) {
      this.showStepErrors(payload.errors, revision ? "The revision was not activated" : "The sequence was not activated");
      return;
    }
    this.highlight.clear();
    this.setSequence(payload.sequence);
    replace(this.headErrors);
    this.drawAll();
    toast(revision ? "Revision activated" : "Sequence activated");
    const note = h("p", { class: "confirm", role: "status", tabindex: "-1" }, revision ? "The revision is now the active version; new connections use it." : "The sequence is active: records can now be connected to it.");
    replace(this.headErrors, note);
    note.focus();
  }

  /** Errors that name steps: listed with the step's name, the steps outlined, the first focused. */
  async showStepErrors(errors, label) {
    await this.reload().catch(() => {});
    this.highlight = new Set(errors.map((e) => this.stepOf(e)?.key).filter(Boolean));
    const named = errors.map((e) => {
      const step = this.stepOf(e);
      return step ? { ...e, message: `Step “${step.name}”: ${this.problemWords(e)}` } : e;
    });
    this.drawHead();
    this.drawTree();
    const box = errorBox(named, label);
    const steps = [...this.highlight];
    if (steps.length) {
      box.append(
        h(
          "div",
          { class: "actions" },
          steps.map((k) =>
            h("button", { type: "button", class: "link", onclick: () => this.goToStep(k) }, `Show “${this.steps.get(k).name}”`),
          ),
        ),
      );
    }
    replace(this.headErrors, box);
    if (steps.length) {
      this.selectedKey = steps[0];
      this.tab = "step";
      this.drawSide();
      for (const card of this.tree.querySelectorAll(".step-card")) {
        if (card.dataset.key === steps[0]) card.setAttribute("aria-current", "true");
      }
      this.focusCard(steps[0]);
    } else {
      box.setAttribute("tabindex", "-1");
      box.focus();
    }
  }

  drawAll() {
    this.drawHead();
    this.drawTree();
    this.drawSide();
  }

  async deactivate() {
    const ok = await confirmDialog(
      "Deactivate this sequence?",
      "It stops accepting records, and its running connections are disconnected (reason: parent sequence deactivated).",
      "Deactivate",
    );
    if (!ok) return;
    const payload = await this.call("deactivateSequence", { sequenceId: this.seq.id }, DEACTIVATE);
    if (payload.errors.length) {
      replace(this.headErrors, errorBox(payload.errors, "The sequence was not deactivated"));
      return;
    }
    this.setSequence(payload.sequence);
    this.drawAll();
    replace(this.headErrors, h("p", { class: "confirm", role: "status" }, `Deactivated; ${payload.disconnectedCount} running connection(s) were disconnected.`));
  }

  async createRevision(slot = this.headErrors) {
    const payload = await this.call("createSequenceRevision", { sequenceId: this.seq.id }, WITH_SEQUENCE);
    if (payload.errors.length) {
      replace(slot, errorBox(payload.errors, "No revision was created"));
      return;
    }
    this.setSequence(payload.sequence);
    replace(this.headErrors);
    this.drawAll();
    toast(`Revision ${payload.sequence.draft?.number} opened`);
  }

  async discardRevision(slot = this.headErrors) {
    const ok = await confirmDialog(
      `Discard revision ${this.seq.draft?.number}?`,
      "Its changes are thrown away; the active version keeps running as it is.",
      "Discard",
    );
    if (!ok) return;
    this.stepEditor = null;
    const payload = await this.call("discardSequenceRevision", { sequenceId: this.seq.id }, WITH_SEQUENCE);
    if (payload.errors.length) {
      replace(slot, errorBox(payload.errors, "The revision was not discarded"));
      return;
    }
    this.setSequence(payload.sequence);
    replace(this.headErrors);
    this.drawAll();
    toast("Revision discarded");
  }

  // -- properties --

  drawProperties(panel) {
    const s = this.seq;
    replace(
      panel,
      h("h2", {}, "Properties"),
      this.detailsForm(),
      h(
        "dl",
        { class: "field fixed" },
        h("dt", { class: "label" }, "Record type"),
        h("dd", {}, `${s.recordType.displayName} (${s.recordType.name})`, h("div", { class: "hint" }, "Fixed when the sequence was created.")),
      ),
      this.assignmentForm(),
      this.optionsForm(),
    );
    readOnly(panel);
  }

  detailsForm() {
    const editable = this.editable;
    const name = h("input", { type: "text", id: "seq-name", value: this.displayName, maxLength: 160, required: true, disabled: !editable });
    const desc = h("textarea", { id: "seq-desc", rows: 3, maxLength: 2000, disabled: !editable });
    desc.value = this.hasRevision ? this.seq.draft.description : this.seq.description;
    const slots = { name: errSlot("seq-name-err"), description: errSlot("seq-desc-err") };
    name.setAttribute("aria-describedby", "seq-name-err");
    desc.setAttribute("aria-describedby", "seq-desc-err");
    const general = h("div", { class: "slot" });
    const submit = async (e) => {
      e.preventDefault();
      if (!editable) return;
      const payload = await this.call("updateSequence", { sequenceId: this.seq.id, name: name.value, description: desc.value }, WITH_SEQUENCE);
      if (placeErrors(payload.errors, slots, { name, description: desc }, general, "Not saved")) return;
      this.setSequence(payload.sequence);
      this.drawHead();
      toast("Name and description saved");
    };
    return h(
      "form",
      { class: "section", onsubmit: submit, "aria-labelledby": "details-title" },
      h("h3", { id: "details-title" }, "Name and description"),
      this.hasRevision ? h("p", { class: "hint" }, "These go to the revision and become the sequence's when it is activated.") : null,
      general,
      h("div", { class: "field" }, h("label", { for: "seq-name" }, "Name"), name, slots.name),
      h("div", { class: "field" }, h("label", { for: "seq-desc" }, "Description"), desc, slots.description),
      editable ? h("div", { class: "actions" }, h("button", { type: "submit" }, "Save name and description")) : null,
    );
  }

  assignmentForm() {
    const a = this.seq.assignment;
    const inactive = this.seq.status === "INACTIVE";
    const locked = !inactive || !this.mayEdit;
    const lookups = this.seq.recordType.fields.filter((f) => f.type === "USER_LOOKUP");
    const radios = ASSIGN_TO.map(([value, label, hint]) => {
      const id = `assign-${value}`;
      const input = h("input", { type: "radio", name: "assignTo", id, value, checked: a.assignTo === value, disabled: locked });
      return [input, h("div", { class: "check radio" }, input, h("label", { for: id }, label, h("span", { class: "hint block" }, hint)))];
    });
    const fieldSelect = h(
      "select",
      { id: "assign-field", disabled: locked },
      h("option", { value: "" }, "Choose a field…"),
      lookups.map((f) => h("option", { value: f.name, selected: a.fieldName === f.name }, `${f.displayName} (${f.name})`)),
    );
    const teamRoles = h("input", { type: "text", id: "assign-team-roles", value: (a.memberCondition?.teamRoles || []).join(", "), disabled: locked });
    const userRoleBoxes = ROLES.map(([value, label]) => {
      const id = `assign-role-${value}`;
      const box = h("input", { type: "checkbox", id, value, checked: (a.memberCondition?.userRoles || []).includes(value), disabled: locked });
      return [box, h("div", { class: "check" }, box, h("label", { for: id }, label))];
    });
    const slots = { assignTo: errSlot("assign-err"), fieldName: errSlot("assign-field-err"), memberCondition: errSlot("assign-member-err") };
    fieldSelect.setAttribute("aria-describedby", "assign-field-err");
    teamRoles.setAttribute("aria-describedby", "assign-team-roles-hint assign-member-err");
    const fieldPart = h("div", { class: "field" }, h("label", { for: "assign-field" }, "User-lookup field"), fieldSelect, lookups.length ? null : h("div", { class: "hint" }, "This record type has no user-lookup field."), slots.fieldName);
    const memberPart = h(
      "fieldset",
      { class: "sub" },
      h("legend", {}, "Only members who (optional)"),
      h("div", { class: "field" }, h("label", { for: "assign-team-roles" }, "Have one of these team roles"), teamRoles, h("div", { class: "hint", id: "assign-team-roles-hint" }, "Comma-separated, e.g. Account manager. Empty: any.")),
      h("div", { class: "hint" }, "Have one of these user roles (none checked: any):"),
      userRoleBoxes.map(([, el]) => el),
      slots.memberCondition,
    );
    const sync = () => {
      const v = radios.find(([i]) => i.checked)?.[0].value;
      fieldPart.hidden = v !== "RECORD_FIELD";
      memberPart.hidden = v !== "OWNING_TEAM" && v !== "ACCESS_TEAM";
    };
    radios.forEach(([i]) => i.addEventListener("change", sync));
    sync();
    const general = h("div", { class: "slot" });
    const submit = async (e) => {
      e.preventDefault();
      if (!inactive || !this.mayEdit) return;
      const assignTo = radios.find(([i]) => i.checked)?.[0].value;
      const input = { sequenceId: this.seq.id, assignTo };
      if (assignTo === "RECORD_FIELD") input.fieldName = fieldSelect.value || null;
      if (assignTo === "OWNING_TEAM" || assignTo === "ACCESS_TEAM") {
        const roles = teamRoles.value.split(",").map((r) => r.trim()).filter(Boolean);
        const userRoles = userRoleBoxes.filter(([b]) => b.checked).map(([b]) => b.value);
        if (roles.length || userRoles.length) input.memberCondition = { teamRoles: roles, userRoles };
      }
      const payload = await this.call("setSequenceAssignment", input, WITH_SEQUENCE);
      if (placeErrors(payload.errors, slots, { fieldName: fieldSelect, memberCondition: teamRoles }, general, "The assignment was not saved")) return;
      this.setSequence(payload.sequence);
      toast("Assignment saved");
    };
    return h(
      "form",
      { class: "section", onsubmit: submit },
      h(
        "fieldset",
        { class: "plain" },
        h("legend", {}, h("h3", {}, "Assign activities to")),
        inactive || !this.mayEdit ? null : h("p", { class: "note" }, "Deactivate the sequence to change who works its activities."),
        general,
        radios.map(([, el]) => el),
        slots.assignTo,
        fieldPart,
        memberPart,
      ),
      !locked ? h("div", { class: "actions" }, h("button", { type: "submit" }, "Save assignment")) : null,
    );
  }

  optionsForm() {
    const o = this.seq.options;
    const inactive = this.seq.status === "INACTIVE";
    const box = (id, label, checked, hint, enabled = inactive && this.mayEdit) => {
      const input = h("input", { type: "checkbox", id, checked, disabled: !enabled });
      return [input, h("div", { class: "check" }, input, h("label", { for: id }, label, hint ? h("span", { class: "hint block" }, hint) : null))];
    };
    const [exitOnReply, exitOnReplyEl] = box("opt-exit-reply", "Exit when the customer replies to any email", o.exitOnReply);
    const [skipNonWorking, skipNonWorkingEl] = box("opt-skip-nonworking", "Skip non-working time", o.skipNonWorkingTime, "Waits and due times count the assignee's working days and hours.");
    const [skipOptedOut, skipOptedOutEl] = box("opt-skip-optout", "Skip automated email to opted-out recipients", o.skipOptedOutEmail, "Unchecked: the connection ends (opted out).");
    const [meeting, meetingEl] = box("opt-exit-meeting", "Exit when a meeting is booked", o.exitCriteria.meetingBooked);
    const stageBoxes = this.seq.recordType.stages.map((stage, i) => box(`opt-stage-${i}`, stage, o.exitCriteria.stages.includes(stage)));
    stageBoxes.forEach(([b], i) => (b.value = this.seq.recordType.stages[i]));
    const own = !!o.sendWindow;
    const windowChoice = [
      ["org", "The organization's send window", !own],
      ["own", "This sequence's own send window", own],
    ].map(([value, label, checked]) => {
      const input = h("input", { type: "radio", name: "sendWindowKind", id: `opt-window-${value}`, value, checked, disabled: !this.mayEdit });
      return [input, h("div", { class: "check radio" }, input, h("label", { for: `opt-window-${value}` }, label))];
    });
    const win = o.sendWindow || { weekdays: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" };
    const dayBoxes = WEEKDAYS.map((day, i) => {
      const input = h("input", { type: "checkbox", id: `opt-day-${i + 1}`, checked: win.weekdays.includes(i + 1), disabled: !this.mayEdit });
      return [input, h("div", { class: "check inline" }, input, h("label", { for: `opt-day-${i + 1}` }, day.slice(0, 3), h("span", { class: "visually-hidden" }, day.slice(3))))];
    });
    const startInput = h("input", { type: "time", id: "opt-window-start", value: win.start, disabled: !this.mayEdit });
    const endInput = h("input", { type: "time", id: "opt-window-end", value: win.end, disabled: !this.mayEdit });
    const windowPart = h(
      "div",
      { class: "sub" },
      h("fieldset", { class: "plain days" }, h("legend", {}, "Days"), dayBoxes.map(([, el]) => el)),
      h("div", { class: "row" }, h("div", { class: "field" }, h("label", { for: "opt-window-start" }, "From"), startInput), h("div", { class: "field" }, h("label", { for: "opt-window-end" }, "Until"), endInput)),
    );
    const sync = () => (windowPart.hidden = !windowChoice[1][0].checked);
    windowChoice.forEach(([i]) => i.addEventListener("change", sync));
    sync();
    const slots = {
      exitOnReply: errSlot("opt-exit-reply-err"),
      skipNonWorkingTime: errSlot("opt-skip-err"),
      skipOptedOutEmail: errSlot("opt-optout-err"),
      exitCriteria: errSlot("opt-exit-err"),
      sendWindow: errSlot("opt-window-err"),
    };
    const general = h("div", { class: "slot" });
    const conditions = o.exitCriteria.fieldConditions;
    const submit = async (e) => {
      e.preventDefault();
      if (!this.mayEdit) return;
      const input = { sequenceId: this.seq.id };
      if (exitOnReply.checked !== o.exitOnReply) input.exitOnReply = exitOnReply.checked;
      if (skipNonWorking.checked !== o.skipNonWorkingTime) input.skipNonWorkingTime = skipNonWorking.checked;
      if (skipOptedOut.checked !== o.skipOptedOutEmail) input.skipOptedOutEmail = skipOptedOut.checked;
      const stages = stageBoxes.filter(([b]) => b.checked).map(([b]) => b.value);
      if (meeting.checked !== o.exitCriteria.meetingBooked || stages.join("\n") !== o.exitCriteria.stages.join("\n")) {
        input.exitCriteria = { meetingBooked: meeting.checked, stages, fieldConditions: conditions };
      }
      const wanted = windowChoice[1][0].checked
        ? { weekdays: dayBoxes.map(([b], i) => (b.checked ? i + 1 : 0)).filter(Boolean), start: startInput.value, end: endInput.value }
        : null;
      if (JSON.stringify(wanted) !== JSON.stringify(o.sendWindow)) input.sendWindow = wanted;
      if (Object.keys(input).length === 1) {
        toast("Nothing changed");
        return;
      }
      const payload = await this.call("setSequenceOptions", input, WITH_SEQUENCE);
      if (placeErrors(payload.errors, slots, { exitOnReply, skipNonWorkingTime: skipNonWorking, skipOptedOutEmail: skipOptedOut, exitCriteria: meeting, sendWindow: startInput }, general, "The options were not saved")) return;
      this.setSequence(payload.sequence);
      this.drawSide();
      toast("Options saved");
    };
    return h(
      "form",
      { class: "section", onsubmit: submit },
      h("h3", {}, "Options"),
      inactive || !this.mayEdit ? null : h("p", { class: "note" }, "While the sequence is active only its send window can change."),
      general,
      exitOnReplyEl,
      slots.exitOnReply,
      skipNonWorkingEl,
      slots.skipNonWorkingTime,
      skipOptedOutEl,
      slots.skipOptedOutEmail,
      h(
        "fieldset",
        { class: "plain" },
        h("legend", {}, "Exit criteria"),
        meetingEl,
        stageBoxes.length ? h("div", { class: "hint" }, "Exit when the record reaches one of these stages:") : null,
        stageBoxes.map(([, el]) => el),
        conditions.length
          ? h("p", { class: "hint" }, `Also exits on ${conditions.length} field condition(s): `, conditions.map((c) => `${c.field} ${c.operator.toLowerCase().replace(/_/g, " ")} ${c.value ?? ""}`).join("; "), " (kept as they are).")
          : null,
        slots.exitCriteria,
      ),
      h("fieldset", { class: "plain" }, h("legend", {}, "Send automated email within"), windowChoice.map(([, el]) => el), windowPart, slots.sendWindow),
      this.mayEdit ? h("div", { class: "actions" }, h("button", { type: "submit" }, "Save options")) : null,
    );
  }

  // -- versions --

  drawVersions(panel) {
    const s = this.seq;
    const slot = h("div", { class: "slot" });
    const STATUS = { DRAFT: "Draft", ACTIVE: "Active", RETIRED: "Retired" };
    replace(
      panel,
      h("h2", {}, "Versions"),
      slot,
      this.mayEdit && s.status === "ACTIVE" && !this.hasRevision
        ? h(
            "div",
            { class: "section" },
            h("p", {}, "The active version can't change. A revision is an editable copy; the active version keeps running until the revision is activated with a change description."),
            h("button", { type: "button", class: "primary", onclick: () => this.createRevision(slot) }, "Create a revision"),
          )
        : null,
      this.mayEdit && this.hasRevision
        ? h(
            "div",
            { class: "section" },
            h("p", {}, `Revision ${s.draft.number} is open. Activate it (at the top) with a description of what changed, or discard it.`),
            h("button", { type: "button", class: "danger", onclick: () => this.discardRevision(slot) }, `Discard revision ${s.draft.number}`),
          )
        : null,
      h(
        "ol",
        { class: "versions", reversed: true },
        s.versions.map((v) =>
          h(
            "li",
            {},
            h("strong", {}, `Version ${v.number}`),
            " ",
            h("span", { class: `badge ${v.status}` }, STATUS[v.status] || v.status),
            h("div", { class: "muted" }, `Created ${when(v.createdAt)}`, v.activatedAt ? ` · activated ${when(v.activatedAt)}` : ""),
            v.changeDescription ? h("div", {}, `“${v.changeDescription}”`) : null,
          ),
        ),
      ),
    );
  }

  // -- timeline preview --

  drawPreview(panel) {
    const state = (this.previewState ||= { records: null, recordId: "", search: "", startAt: "", result: null });
    const search = h("input", { type: "search", id: "preview-search", value: state.search, placeholder: "Name or external id" });
    const records = h("select", { id: "preview-record", size: 6, "aria-describedby": "preview-record-err" });
    const recordErr = errSlot("preview-record-err");
    const start = h("input", { type: "datetime-local", id: "preview-start", value: state.startAt, "aria-describedby": "preview-start-hint preview-start-err" });
    const startErr = errSlot("preview-start-err");
    const draft = this.hasRevision ? h("input", { type: "checkbox", id: "preview-draft", checked: state.draft ?? true }) : null;
    const general = h("div", { class: "slot" });
    const out = h("div", { class: "preview-out", "aria-live": "polite" });
    const fill = (nodes) => {
      replace(
        records,
        nodes.length ? null : h("option", { value: "", disabled: true }, "No records found"),
        nodes.map((r) =>
          h("option", { value: r.id, selected: r.id === state.recordId }, `${r.name} · ${r.externalId}${r.stage ? ` · ${r.stage}` : ""}`),
        ),
      );
      if (!state.recordId && nodes.length) records.selectedIndex = 0;
    };
    const find = async () => {
      state.search = search.value;
      try {
        const data = await this.app.gql(RECORDS_QUERY, {
          filter: { recordType: this.seq.recordType.name, isActive: true, search: search.value || null },
        });
        state.records = data.records.nodes;
        fill(state.records);
      } catch (e) {
        replace(general, errorBox(e.errors || [{ message: String(e) }], "Records could not be searched"));
      }
    };
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        find();
      }
    });
    const submit = async (e) => {
      e.preventDefault();
      state.recordId = records.value;
      state.startAt = start.value;
      if (draft) state.draft = draft.checked;
      placeErrors([], { recordId: recordErr, startAt: startErr }, { recordId: records, startAt: start }, general);
      if (!state.recordId) {
        placeErrors([{ message: "Choose a record.", field: ["recordId"] }], { recordId: recordErr, startAt: startErr }, { recordId: records, startAt: start }, general);
        return;
      }
      replace(out, h("p", { class: "muted" }, "Working out the timeline…"));
      try {
        const data = await this.app.gql(PREVIEW_QUERY, {
          sequenceId: this.seq.id,
          recordId: state.recordId,
          startAt: state.startAt ? new Date(state.startAt).toISOString() : null,
          draft: !!(draft && draft.checked),
        });
        state.result = data.sequencePreview;
        this.drawTimeline(out, state.result);
      } catch (err) {
        replace(out);
        const errors = (err.errors || [{ message: String(err) }]).map((x) => ({
          ...x,
          code: x.extensions?.code,
          field: x.extensions?.field || x.field,
        }));
        placeErrors(errors, { recordId: recordErr, startAt: startErr }, { recordId: records, startAt: start }, general, "No preview");
      }
    };
    replace(
      panel,
      h("h2", {}, "Timeline preview"),
      h("p", { class: "hint" }, "The dated timeline this sequence would follow for a record connected at a given time, in its assignee's working calendar and the recipient's send window, along each branch."),
      h(
        "form",
        { onsubmit: submit, class: "preview-form" },
        general,
        h("div", { class: "field" }, h("label", { for: "preview-search" }, `Find a ${this.seq.recordType.displayName.toLowerCase()}`), h("div", { class: "row" }, search, h("button", { type: "button", onclick: find }, "Search"))),
        h("div", { class: "field" }, h("label", { for: "preview-record" }, "Record"), records, recordErr),
        h("div", { class: "field" }, h("label", { for: "preview-start" }, "Start"), start, h("div", { class: "hint", id: "preview-start-hint" }, "In your browser's time; empty: now."), startErr),
        draft ? h("div", { class: "check" }, draft, h("label", { for: "preview-draft" }, `Preview the open revision ${this.seq.draft.number}`)) : null,
        h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show timeline")),
      ),
      out,
    );
    if (state.records) fill(state.records);
    else find();
    if (state.result) this.drawTimeline(out, state.result);
  }

  /** The previewed timeline as a tree (the designer's), each step with its date. */
  drawTimeline(out, p) {
    const zone = p.timeZone;
    const at = (iso) => formatIn(iso, zone);
    const byParent = new Map();
    for (const s of p.steps) byParent.set(`${s.parentKey}|${s.branch}`, s);
    const root = p.steps.find((s) => !s.parentKey);
    const WHEN = [
      ["dueAt", "Due"],
      ["sendAt", "Sent"],
      ["waitUntil", "Until"],
    ];
    const renderStep = (s) => {
      const [field, label] = WHEN.find(([f]) => s[f]) || ["reachedAt", "Reached"];
      const two = s.branches.length > 1;
      const li = h(
        "li",
        { class: `tl-step${s.problem ? " tl-problem" : ""}` },
        h("div", { class: "tl-when" }, h("span", { class: "tl-label" }, label), " ", h("time", { datetime: s[field] }, at(s[field]))),
        h(
          "div",
          { class: "tl-what" },
          this.steps.has(s.key)
            ? h("button", { type: "button", class: "link tl-name", onclick: () => this.goToStep(s.key) }, s.name)
            : h("span", { class: "tl-name" }, s.name),
          field !== "reachedAt" && s.reachedAt !== s[field] ? h("span", { class: "muted" }, ` · reached ${at(s.reachedAt)}`) : null,
          s.assumes.length ? h("div", { class: "hint" }, `Assumes ${s.assumes.join("; ")}.`) : null,
          s.ends ? h("div", { class: "problem" }, `The connection ends here: ${words(s.ends)}.`) : null,
          s.note ? h("div", { class: "hint" }, s.note) : null,
          s.problem ? h("div", { class: "problem" }, `The engine could not run this step: ${s.problem.message}`) : null,
        ),
      );
      if (!two) return [li, ...(s.branches[0]?.nextKey ? chain(byParent.get(`${s.key}|${s.branches[0].branch}`)) : [])];
      li.append(
        h(
          "div",
          { class: "branches" },
          s.branches.map((b) =>
            h(
              "section",
              { class: `branch ${b.branch.toLowerCase()}`, "aria-label": `Timeline of the ${b.branch === "YES" ? "Yes" : "No"} path of ${s.name}` },
              h(
                "div",
                { class: "branch-label" },
                b.branch === "YES" ? "Yes" : "No",
                h("span", { class: "tl-branch-when" }, ` from ${at(b.startsAt)}`),
                b.expected ? h("span", { class: "badge" }, "expected") : null,
                b.possible ? null : h("span", { class: "badge ERROR" }, "impossible"),
              ),
              b.assumes ? h("div", { class: "hint" }, b.assumes) : null,
              b.nextKey ? h("ol", { class: "timeline" }, chain(byParent.get(`${s.key}|${b.branch}`))) : h("p", { class: "muted" }, "The sequence ends here."),
            ),
          ),
        ),
      );
      return [li];
    };
    const chain = (s) => (s ? renderStep(s) : []);
    const win = p.sendWindow;
    replace(
      out,
      h("h3", {}, `Version ${p.version} (${p.versionStatus.toLowerCase()}), starting ${at(p.startsAt)}`),
      h(
        "p",
        { class: "hint" },
        `Times in ${zone}, the calendar of ${p.assignee ? p.assignee.name : "nobody"}`,
        p.skipNonWorkingTime ? ", skipping non-working time" : ", counting every hour",
        win ? `; automated email within ${dayRange(win.weekdays)} ${win.start}–${win.end} (${p.recipientTimeZone}).` : "; automated email at any time.",
      ),
      h("ol", { class: "timeline" }, chain(root)),
      p.paths.length > 1
        ? h(
            "table",
            { class: "grid tl-paths" },
            h("caption", {}, "Ways through the sequence"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "Ends"), h("th", { scope: "col" }, "How"))),
            h(
              "tbody",
              {},
              p.paths.map((path) =>
                h(
                  "tr",
                  {},
                  h("td", {}, path.choices.length ? path.choices.map((c) => (c === "YES" ? "Yes" : "No")).join(" → ") : "The only one", path.possible ? null : h("span", { class: "badge ERROR" }, " impossible")),
                  h("td", {}, at(path.endsAt)),
                  h("td", {}, words(path.ending), path.unsentStepKeys.length ? h("div", { class: "hint" }, `${path.unsentStepKeys.length} automated email(s) never sent`) : null),
                ),
              ),
            ),
          )
        : null,
    );
  }
}

/** An ISO time in a named time zone, e.g. "Wed 9 Dec 2026, 09:00". */
function formatIn(iso, timeZone) {
  if (!iso) return "—";
  try {
    const d = new Date(iso);
    return d.toLocaleString(undefined, {
      timeZone,
      weekday: "short",
      day: "numeric",
      month: "short",
      year: d.getFullYear() === new Date().getFullYear() ? undefined : "numeric",
      hour: "2-digit",
      minute: "2-digit",
    });
  } catch (e) {
    return when(iso);
  }
}

/** "SEQUENCE_COMPLETED" -> "sequence completed". */
function words(code) {
  return String(code).toLowerCase().replace(/_/g, " ");
}

function dayRange(weekdays) {
  const names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  return weekdays.map((d) => names[d - 1]).join(", ");
}

// ---- helpers ----

const GROUP_SINGULAR = { STEP: "Step", CONDITION: "Condition", COMMAND: "Command", LINKEDIN: "LinkedIn" };

function groupName(category) {
  return GROUP_SINGULAR[category] || "Step";
}

/** "Condition · Email condition"; "LinkedIn: connect" as it is. */
function kindOf(type) {
  if (!type) return "Unknown step type";
  const group = groupName(type.category);
  return type.displayName.startsWith(group) ? type.displayName : `${group} · ${type.displayName}`;
}

/** One line about a step's settings, for its card. */
function summaryOf(step, type) {
  const c = step.config || {};
  if (step.type === "core.wait") {
    const parts = [];
    if (c.days) parts.push(`${c.days} day${c.days === 1 ? "" : "s"}`);
    if (c.hours) parts.push(`${c.hours} hour${c.hours === 1 ? "" : "s"}`);
    return parts.length ? `Wait ${parts.join(" ")}` : "No duration set";
  }
  const subject = c.template?.subject || c.subject;
  if (subject) return `“${subject}”`;
  if (Array.isArray(c.events) && c.events.length) {
    return `${c.events.map((e) => e.toLowerCase().replace(/_/g, " ")).join(c.match === "ALL" ? " and " : " or ")} within ${limit(c)}`;
  }
  if (Array.isArray(c.outcomes) && c.outcomes.length) return `Outcome ${c.outcomes.join(" or ")} within ${limit(c)}`;
  if (Array.isArray(c.stages) && c.stages.length) return `Stage ${c.stages.join(" or ")}`;
  if (c.field && c.value !== undefined) return `${c.field} := ${c.value}`;
  if (typeof c.text === "string" && c.text) return `“${c.text.slice(0, 60)}${c.text.length > 60 ? "…" : ""}”`;
  if (c.sequence) return `To ${c.sequence}`;
  return "";
}

function limit(c) {
  const d = c.days ?? 1;
  const hr = c.hours ?? 0;
  return [d ? `${d} day${d === 1 ? "" : "s"}` : null, hr ? `${hr} h` : null].filter(Boolean).join(" ") || "0 hours";
}

/** The title a config path has in its JSON Schema ("template.subject" -> "Template › Subject"). */
function fieldTitle(schema, path) {
  const names = [];
  let at = schema;
  const deref = (s) => {
    let n = 0;
    while (s && s.$ref && n++ < 10) {
      const ref = s.$ref.replace(/^#\//, "").split("/");
      let t = schema;
      for (const part of ref) t = t?.[part];
      s = { ...t, ...s, $ref: undefined };
    }
    if (s && (s.anyOf || s.oneOf)) {
      const first = (s.anyOf || s.oneOf).find((x) => x.type !== "null");
      if (first) s = { ...deref(first), title: s.title || first.title };
    }
    return s;
  };
  for (const part of path) {
    at = deref(at);
    if (!at) break;
    if (/^\d+$/.test(part)) {
      names.push(`#${Number(part) + 1}`);
      at = at.items;
      continue;
    }
    const sub = at.properties?.[part];
    const resolved = deref(sub);
    names.push(sub?.title || resolved?.title || part.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()));
    at = sub;
  }
  return names.join(" › ");
}

function errSlot(id) {
  return h("div", { class: "field-error", id, hidden: true });
}

/**
 * Put a payload's errors beside the controls they concern (by the first name of `field`);
 * the rest go in `general`. Returns true when there were errors.
 */
function placeErrors(errors, slots, controls, general, label) {
  for (const slot of Object.values(slots)) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const c of Object.values(controls)) c?.removeAttribute("aria-invalid");
  replace(general);
  if (!errors.length) return false;
  const rest = [];
  for (const e of errors) {
    const name = (e.field || [])[0];
    if (name && slots[name]) {
      slots[name].hidden = false;
      slots[name].textContent = [slots[name].textContent, errorText(e)].filter(Boolean).join(" ");
      controls[name]?.setAttribute("aria-invalid", "true");
    } else rest.push(e);
  }
  if (rest.length) replace(general, errorBox(rest, label));
  const first = Object.entries(slots).find(([, s]) => !s.hidden);
  if (first && controls[first[0]]) controls[first[0]].focus();
  return true;
}

/** Ask which path of a two-way step stays when it is removed. */
function chooseBranch(step) {
  return new Promise((resolve) => {
    const yes = h("input", { type: "radio", name: "keep", id: "keep-yes", value: "YES", checked: true });
    const no = h("input", { type: "radio", name: "keep", id: "keep-no", value: "NO" });
    const dialog = h(
      "dialog",
      { "aria-labelledby": "keep-title", class: "designer-dialog" },
      h("h2", { id: "keep-title" }, `Remove “${step.name}”?`),
      h("p", {}, "It has a Yes and a No path. Which one stays in its place? The other path's steps are removed with it."),
      h(
        "fieldset",
        { class: "plain" },
        h("legend", {}, "Keep"),
        h("div", { class: "check radio" }, yes, h("label", { for: "keep-yes" }, "The Yes path")),
        h("div", { class: "check radio" }, no, h("label", { for: "keep-no" }, "The No path")),
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => close(null) }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => close(yes.checked ? "YES" : "NO") }, "Remove"),
      ),
    );
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.addEventListener("cancel", () => close(null));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Confirm activation; a revision also needs a description of what changed. */
function activationDialog(name, revision, number) {
  return new Promise((resolve) => {
    const text = h("textarea", { id: "change-description", rows: 3, "aria-required": "true" });
    const err = h("div", { class: "field-error", id: "change-description-err", hidden: true });
    text.setAttribute("aria-describedby", "change-description-err");
    const form = h(
      "form",
      {
        method: "dialog",
        onsubmit: (e) => {
          e.preventDefault();
          if (revision && !text.value.trim()) {
            err.hidden = false;
            err.textContent = "Say what changed: activating a revision needs a change description.";
            text.setAttribute("aria-invalid", "true");
            text.focus();
            return;
          }
          close({ changeDescription: text.value.trim() });
        },
      },
      h("h2", { id: "activate-title" }, revision ? `Activate revision ${number}?` : `Activate “${name}”?`),
      h(
        "p",
        {},
        revision
          ? "New connections will use this revision; records already connected stay on the version they started on."
          : "Records can be connected to it once it is active. Its steps can then only change through a revision.",
      ),
      revision ? h("div", { class: "field" }, h("label", { for: "change-description" }, "What changed"), text, err) : null,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => close(null) }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, "Activate"),
      ),
    );
    const dialog = h("dialog", { "aria-labelledby": "activate-title", class: "designer-dialog" }, form);
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.addEventListener("cancel", () => close(null));
    document.body.append(dialog);
    dialog.showModal();
    // The first thing to do: describe the revision, or confirm (Enter activates).
    if (revision) text.focus();
    else form.querySelector("button[type=submit]").focus();
  });
}
