// Sequence insight: the sequence's connections with status and reason, and a per-step funnel
// (completed, skipped, opened, replied, clicked, against the connections made) drawn as an
// SVG chart with a table alternative; both kept live through connectionChanged.

import { errorBox, field, h, keepFocus, replace, when } from "./ui.js";

const CONNECTION = `fragment InsightConnection on SequenceTarget {
  id status reason pauseReason error errorCode createdAt endedAt resumeAt version stepsDone
  daysInCurrentStep
  currentStep { id name }
  record { id name }
}`;

const STATS = `fragment InsightStats on SequenceStats {
  connected running paused completed disconnected inError
  byReason { reason count }
  steps {
    stepKey current open completed skipped canceled opened replied clicked
    step { id name type }
  }
}`;

const INSIGHT = `query Insight($id: ID!) {
  sequence(id: $id) {
    id name status
    recordType { displayName }
    stats { ...InsightStats }
  }
}
${STATS}`;

const STATS_ONLY = `query InsightStatsAgain($id: ID!) {
  sequence(id: $id) { id stats { ...InsightStats } }
}
${STATS}`;

const CONNECTIONS = `query InsightConnections($filter: ConnectionFilter!, $first: Int, $after: String) {
  connections(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { ...InsightConnection }
  }
}
${CONNECTION}`;

const CHANGED = `subscription InsightConnectionChanged($sequenceId: ID!) {
  connectionChanged(sequenceId: $sequenceId) { ...InsightConnection }
}
${CONNECTION}`;

const PAGE = 50;
/** The funnel's measures, in order, with their colours (each bar also carries its number). */
const MEASURES = [
  ["completed", "Completed", "#1a7f37"],
  ["skipped", "Skipped", "#9a6700"],
  ["opened", "Opened", "#0b5cad"],
  ["replied", "Replied", "#8250df"],
  ["clicked", "Clicked", "#bf3989"],
];
const STATUSES = ["CONNECTED", "PAUSED", "COMPLETED", "DISCONNECTED", "ERROR"];
const STATS_EVERY_MS = 1000;

export async function render(root, params, app) {
  const id = decodeURIComponent(params.id);
  const data = await app.gql(INSIGHT, { id });
  if (!data.sequence) {
    replace(
      root,
      h("h1", {}, "Insight"),
      errorBox([{ code: "NOT_FOUND", message: "" }], "This sequence can't be shown"),
      h("p", {}, h("a", { href: "#/sequences" }, "Back to the sequences")),
    );
    return;
  }
  const seq = data.sequence;
  const state = {
    stats: seq.stats,
    statsErrors: [],
    status: "",
    rows: [],
    total: 0,
    next: null,
    listErrors: [],
    live: true,
    asTable: false,
  };

  const summarySlot = h("div");
  const chartSlot = h("div");
  const listSlot = h("div");
  const moreSlot = h("div");
  const liveSlot = h("span", { class: "muted small" }, "Live: changes appear as they happen.");

  // --- Loading and live changes -----------------------------------------------------------

  async function loadConnections(more = false) {
    const filter = { sequenceId: id };
    if (state.status) filter.status = state.status;
    try {
      const page = (
        await app.gql(CONNECTIONS, { filter, first: PAGE, after: more ? state.next : null })
      ).connections;
      const seen = new Set(more ? state.rows.map((r) => r.id) : []);
      state.rows = more ? [...state.rows, ...page.nodes.filter((r) => !seen.has(r.id))] : page.nodes;
      state.total = page.totalCount;
      state.next = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      state.listErrors = [];
    } catch (e) {
      state.listErrors = e.errors || [{ message: String(e) }];
    }
    keepFocus(root, drawList);
  }

  let statsTimer = null;
  let statsAt = 0;
  /** Refetch the stats after a change, at most once a second. */
  function statsSoon() {
    if (statsTimer) return;
    const wait = Math.max(0, STATS_EVERY_MS - (Date.now() - statsAt));
    statsTimer = setTimeout(async () => {
      statsTimer = null;
      statsAt = Date.now();
      try {
        const again = await app.gql(STATS_ONLY, { id });
        if (again.sequence) state.stats = again.sequence.stats;
        state.statsErrors = [];
      } catch (e) {
        state.statsErrors = e.errors || [{ message: String(e) }];
      }
      keepFocus(root, () => {
        drawSummary();
        drawChart();
      });
    }, wait);
  }

  function applyConnection(c) {
    const at = state.rows.findIndex((r) => r.id === c.id);
    const fits = !state.status || c.status === state.status;
    if (at >= 0 && fits) state.rows[at] = c;
    else if (at >= 0) {
      state.rows.splice(at, 1);
      state.total = Math.max(0, state.total - 1);
    } else if (fits) {
      state.rows.unshift(c); // newest first, as the list is
      state.total += 1;
    }
    return fits;
  }

  const stop = app.subscribe(
    CHANGED,
    { sequenceId: id },
    (payload) => {
      const c = payload.connectionChanged;
      if (applyConnection(c)) {
        keepFocus(root, drawList);
        const row = listSlot.querySelector(`tr[data-id="${CSS.escape(c.id)}"]`);
        if (row) {
          row.classList.add("changed");
          setTimeout(() => row.classList.remove("changed"), 2500);
        }
      }
      statsSoon();
    },
    (error) => {
      state.live = false;
      liveSlot.textContent = "Live updates stopped.";
      state.listErrors = error.errors || [];
      keepFocus(root, drawList);
    },
  );

  // --- Summary ----------------------------------------------------------------------------

  function drawSummary() {
    const s = state.stats;
    const item = (label, value, cls) =>
      h("div", { class: `stat ${cls || ""}` }, h("dt", {}, label), h("dd", {}, String(value)));
    replace(
      summarySlot,
      errorBox(state.statsErrors, "The numbers could not be refreshed"),
      h(
        "dl",
        { class: "stats" },
        item("Connected", s.connected),
        item("Running", s.running),
        item("Paused", s.paused),
        item("Completed", s.completed),
        item("Disconnected", s.disconnected),
        item("In error", s.inError, s.inError ? "bad" : ""),
      ),
      s.byReason.length
        ? h(
            "p",
            { class: "muted small" },
            "Ended by reason: ",
            s.byReason.map((r) => `${reasonWords(r.reason)} ${r.count}`).join(" · "),
          )
        : null,
    );
  }

  // --- The funnel chart -------------------------------------------------------------------

  function drawChart() {
    const steps = state.stats.steps;
    if (!steps.length) {
      replace(chartSlot, h("p", { class: "muted" }, "The sequence has no steps yet."));
      return;
    }
    const toggle = h("input", {
      type: "checkbox",
      checked: state.asTable,
      "data-focus": "as-table",
      onchange: (e) => {
        state.asTable = e.target.checked;
        keepFocus(root, drawChart);
      },
    });
    replace(
      chartSlot,
      h(
        "div",
        { class: "chart-head" },
        h("h2", { id: "funnel-title" }, "Funnel by step"),
        h("label", { class: "inline" }, toggle, " Show the numbers as a table"),
      ),
      state.asTable ? null : legend(),
      state.asTable ? null : chart(steps),
      funnelTable(steps, !state.asTable),
    );
  }

  function legend() {
    return h(
      "ul",
      { class: "legend", "aria-hidden": "true" },
      MEASURES.map(([, label, colour]) =>
        h("li", {}, h("span", { class: "swatch", style: { background: colour } }), label),
      ),
      h("li", {}, h("span", { class: "swatch line" }), `Connected (${state.stats.connected})`),
    );
  }

  function chart(steps) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = (tag, attrs = {}, ...children) => {
      const el = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      for (const c of children) el.append(c);
      return el;
    };
    const bar = 14;
    const gap = 3;
    const groupWidth = MEASURES.length * (bar + gap) + 26;
    const left = 44;
    const top = 22;
    const plot = 170;
    const width = Math.max(600, left + steps.length * groupWidth + 10);
    const height = top + plot + 46;
    const max = Math.max(
      1,
      state.stats.connected,
      ...steps.flatMap((s) => MEASURES.map(([key]) => s[key])),
    );
    const y = (v) => top + plot - (v / max) * plot;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      class: "funnel",
      "aria-hidden": "true",
      focusable: "false",
    });
    // Axis: 0, half and the maximum.
    for (const v of [0, Math.round(max / 2), max]) {
      root.append(
        svg("line", { x1: left - 4, x2: width - 6, y1: y(v), y2: y(v), class: "grid-line" }),
        svg("text", { x: left - 8, y: y(v) + 4, "text-anchor": "end", class: "axis" }, String(v)),
      );
    }
    steps.forEach((s, i) => {
      const x0 = left + i * groupWidth + 10;
      MEASURES.forEach(([key, label, colour], j) => {
        const v = s[key];
        const x = x0 + j * (bar + gap);
        const g = svg("g", {});
        g.append(
          svg("title", {}, `${stepName(s)}: ${label} ${v}`),
          svg("rect", {
            x,
            y: y(v),
            width: bar,
            height: Math.max(v ? 1 : 0, top + plot - y(v)),
            fill: colour,
          }),
          svg(
            "text",
            { x: x + bar / 2, y: y(v) - 3, "text-anchor": "middle", class: "value" },
            String(v),
          ),
        );
        root.append(g);
      });
      const words = shorten(stepName(s), 24);
      const label = svg("text", { x: x0, y: top + plot + 16, class: "step-label" });
      splitLines(words, 13).forEach((line, k) => {
        label.append(svg("tspan", { x: x0, dy: k === 0 ? 0 : 14 }, line));
      });
      label.append(svg("title", {}, stepName(s)));
      root.append(label);
    });
    const connected = state.stats.connected;
    root.append(
      svg("line", {
        x1: left - 4,
        x2: width - 6,
        y1: y(connected),
        y2: y(connected),
        class: "connected-line",
      }),
      svg(
        "text",
        { x: width - 8, y: y(connected) - 5, "text-anchor": "end", class: "axis" },
        `Connected ${connected}`,
      ),
    );
    return h("div", { class: "chart-wrap" }, root);
  }

  function funnelTable(steps, hidden) {
    return h(
      "table",
      { class: `grid funnel-table ${hidden ? "sr-only" : ""}` },
      h(
        "caption",
        { class: hidden ? "" : "muted small" },
        `Funnel by step of ${state.stats.connected} connection(s) made`,
      ),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Step"),
          h("th", { scope: "col" }, "At it now"),
          h("th", { scope: "col" }, "Open"),
          MEASURES.map(([, label]) => h("th", { scope: "col" }, label)),
        ),
      ),
      h(
        "tbody",
        {},
        steps.map((s) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, stepName(s)),
            h("td", { class: "num" }, String(s.current)),
            h("td", { class: "num" }, String(s.open)),
            MEASURES.map(([key]) => h("td", { class: "num" }, String(s[key]))),
          ),
        ),
      ),
    );
  }

  // --- The connections --------------------------------------------------------------------

  function drawList() {
    const body = state.rows.map((c) =>
      h(
        "tr",
        { dataset: { id: c.id } },
        h("td", {}, c.record.name),
        h("td", {}, h("span", { class: `badge ${c.status}` }, statusWords(c))),
        h(
          "td",
          {},
          c.reason ? reasonWords(c.reason) : "—",
          c.error ? h("div", { class: "problem small" }, c.error) : null,
        ),
        h(
          "td",
          {},
          c.currentStep?.name || "—",
          c.daysInCurrentStep != null && !c.endedAt
            ? h("div", { class: "muted small" }, `${c.daysInCurrentStep.toFixed(1)} days there`)
            : null,
        ),
        h("td", { class: "num" }, String(c.stepsDone)),
        h("td", { class: "num" }, String(c.version)),
        h("td", {}, when(c.createdAt)),
        h("td", {}, c.endedAt ? when(c.endedAt) : c.resumeAt ? `Resumes ${when(c.resumeAt)}` : "—"),
      ),
    );
    replace(
      listSlot,
      errorBox(state.listErrors, "The connections could not be loaded"),
      state.rows.length
        ? h(
            "table",
            { class: "grid" },
            h("caption", { class: "sr-only" }, "Connections, newest first"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Record", "Status", "Reason", "Current step", "Steps done", "Version", "Connected", "Ended"].map(
                  (t) => h("th", { scope: "col" }, t),
                ),
              ),
            ),
            h("tbody", {}, body),
          )
        : h("p", { class: "empty" }, "No connections match."),
    );
    replace(
      moreSlot,
      h(
        "div",
        { class: "pager" },
        h("span", {}, `${state.rows.length} of ${state.total} shown`),
        state.next
          ? h(
              "button",
              { type: "button", "data-focus": "more", onclick: () => loadConnections(true) },
              "Show more",
            )
          : null,
      ),
    );
  }

  const statusFilter = h(
    "select",
    {
      name: "status",
      onchange: (e) => {
        state.status = e.target.value;
        loadConnections();
      },
    },
    h("option", { value: "" }, "Any"),
    STATUSES.map((s) => h("option", { value: s }, statusWords({ status: s }))),
  );

  replace(
    root,
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: "#/sequences" }, "Sequences"),
      " › ",
      h("a", { href: `#/sequences/${encodeURIComponent(id)}` }, seq.name),
    ),
    h(
      "div",
      { class: "page-head" },
      h(
        "h1",
        {},
        `Insight: ${seq.name} `,
        h("span", { class: `badge ${seq.status}` }, seq.status === "ACTIVE" ? "Active" : "Inactive"),
      ),
      liveSlot,
    ),
    summarySlot,
    h("section", { "aria-labelledby": "funnel-title" }, chartSlot),
    h(
      "section",
      { "aria-labelledby": "connections-title" },
      h("h2", { id: "connections-title" }, "Connections"),
      h(
        "form",
        { class: "filters", onsubmit: (e) => e.preventDefault(), "aria-label": "Filter connections" },
        field("Status", statusFilter),
      ),
      listSlot,
      moreSlot,
    ),
  );
  drawSummary();
  drawChart();
  await loadConnections();
  return () => {
    stop();
    clearTimeout(statsTimer);
  };
}

function stepName(s) {
  return s.step?.name || `${s.stepKey} (removed since)`;
}

function shorten(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** Words in lines of about `n` characters (two at most). */
function splitLines(text, n) {
  const lines = [""];
  for (const word of text.split(" ")) {
    const last = lines[lines.length - 1];
    if (last && (last + " " + word).length > n && lines.length < 2) lines.push(word);
    else lines[lines.length - 1] = last ? `${last} ${word}` : word;
  }
  return lines;
}

function statusWords(c) {
  return (
    {
      CONNECTED: "Running",
      PAUSED: "Paused",
      COMPLETED: "Completed",
      DISCONNECTED: "Disconnected",
      ERROR: "Error",
    }[c.status] || c.status
  );
}

function reasonWords(reason) {
  const words = reason.toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
