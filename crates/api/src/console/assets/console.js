// The iotjobs web console: a client of the server's public API only. Every request is
// an AWS IoT control-plane operation (or iotjobs' own /iotjobs-api/whoami and
// /iotjobs-api/audit), signed in the browser with SigV4 using the key the user typed,
// exactly as the AWS CLI would send it. The key lives in sessionStorage (this tab only).
//
// Hash routes: #/jobs, #/jobs/<jobId>, #/jobs/<jobId>/things/<thingName>, #/create,
// #/things, #/things/<thingName>, #/groups, #/groups/<groupName>, #/templates, #/audit.
// The DOM is built with createElement and textContent only (no innerHTML), so no value
// from the server is ever parsed as markup.

import { sign, queryString, encodeLabel, selfCheckError } from "./sigv4.js";

const STORAGE_KEY = "iotjobs.console.session";
const PAGE_SIZE = 25;
const REFRESH_MS = 2000;
const DEVICE_REFUSAL = "This key's role (device) cannot use the control plane.";

const JOB_STATUSES = ["IN_PROGRESS", "SCHEDULED", "COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"];
const EXECUTION_STATUSES = [
  "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED",
];
// The progress bar's segments, in the order of its label: [counter, words, css class].
const COUNTERS = [
  ["numberOfSucceededThings", "succeeded", "succeeded"],
  ["numberOfFailedThings", "failed", "failed"],
  ["numberOfCanceledThings", "canceled", "canceled"],
  ["numberOfInProgressThings", "in progress", "in-progress"],
  ["numberOfQueuedThings", "queued", "queued"],
  ["numberOfRejectedThings", "rejected", "rejected"],
  ["numberOfTimedOutThings", "timed out", "timed-out"],
  ["numberOfRemovedThings", "removed", "removed"],
];

// ---------------------------------------------------------------------------------------
// DOM helpers

/** An element: h("a", {href: "#/x", class: "y"}, "text", child, ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A route's hash: route("jobs", id, "things", thing). */
function route(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

/** The API path of labels: apiPath("jobs", id, "things") → /jobs/<id>/things. */
function apiPath(...parts) {
  return "/" + parts.map((p) => encodeLabel(String(p))).join("/");
}

function time(epochSeconds) {
  if (epochSeconds === undefined || epochSeconds === null) return "";
  const d = new Date(Number(epochSeconds) * 1000);
  if (Number.isNaN(d.getTime())) return String(epochSeconds);
  return d.toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "Z");
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function thingNameOfArn(arn) {
  const i = (arn || "").indexOf(":thing/");
  return i < 0 ? arn || "" : arn.slice(i + ":thing/".length);
}

/** `<code>: <message>` of an error, as the server answered it. */
function errorText(e) {
  if (e instanceof ApiError) return `${e.code}: ${e.message}`;
  return `${e && e.name ? e.name : "Error"}: ${e && e.message ? e.message : e}`;
}

/** A role="alert" element for `text`. */
function alertBox(text) {
  return h("p", { role: "alert", class: "alert" }, text);
}

/** A place for at most one alert; `show(e)` replaces it, `clear()` removes it. */
function alertSlot() {
  const slot = h("div", { class: "alert-slot" });
  return {
    el: slot,
    show(errOrText) {
      slot.replaceChildren(alertBox(typeof errOrText === "string" ? errOrText : errorText(errOrText)));
    },
    clear() {
      slot.replaceChildren();
    },
  };
}

/** One alert element for several loads of a page (so a page never shows two alerts):
 * `source(name)` gives each load its own show/clear; the alert lists each distinct
 * message once, and disappears when every load has cleared its own. */
function alertGroup() {
  const slot = h("div", { class: "alert-slot" });
  const messages = new Map();
  const sync = () => {
    const texts = [...new Set(messages.values())];
    if (texts.length === 0) slot.replaceChildren();
    else if (slot.firstChild && slot.firstChild.textContent === texts.join("\n")) return;
    else slot.replaceChildren(alertBox(texts.join("\n")));
  };
  return {
    el: slot,
    source(name) {
      return {
        show(errOrText) {
          messages.set(name, typeof errOrText === "string" ? errOrText : errorText(errOrText));
          sync();
        },
        clear() {
          messages.delete(name);
          sync();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Session and API

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    return s && s.accessKeyId && s.secretAccessKey && s.region ? s : null;
  } catch {
    return null;
  }
}

let session = loadSession();

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** One signed request; resolves to the parsed JSON answer, rejects with an ApiError. */
async function api(method, path, { query, body, credentials } = {}) {
  const creds = credentials || session;
  if (!creds) throw new ApiError("NotSignedIn", "Sign in first.", 0);
  const qs = queryString(query || {});
  const text = body === undefined ? "" : JSON.stringify(body);
  const headers = sign({ method, path, query: qs, body: text, host: location.host, credentials: creds });
  let resp;
  try {
    resp = await fetch(path + (qs ? "?" + qs : ""), {
      method,
      headers,
      body: text === "" ? undefined : text,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError("NetworkError", `The server could not be reached (${e.message}).`, 0);
  }
  const raw = await resp.text();
  let data = null;
  try {
    data = raw ? JSON.parse(raw) : {};
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const header = resp.headers.get("x-amzn-ErrorType");
    let code = header ? header.split(":")[0] : (data && (data.__type || data.code)) || `HTTP ${resp.status}`;
    if (!header && code.includes("#")) code = code.slice(code.indexOf("#") + 1);
    const message = (data && (data.message || data.Message)) || raw || resp.statusText;
    throw new ApiError(code, message, resp.status);
  }
  return data || {};
}

// ---------------------------------------------------------------------------------------
// Views: each route renders into <main>; a view's timers stop when the route changes.

const main = () => document.getElementById("main");
let view = { alive: false, timers: [] };

function newView() {
  view.alive = false;
  for (const t of view.timers) clearInterval(t);
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
  view = { alive: true, timers: [] };
  return view;
}

/** Run `fn` every REFRESH_MS while this view is current and the page is visible. */
function live(v, fn) {
  let busy = false;
  const tick = async () => {
    if (!v.alive || v.stopped || busy || document.visibilityState !== "visible") return;
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
    }
  };
  v.timers.push(setInterval(tick, REFRESH_MS));
}

/** Replace `container`'s content by `build()`'s only when `key` changed (so a refresh
 * that changes nothing keeps focus, selection and scroll). */
function updateIf(container, key, build) {
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  container.replaceChildren(...[build()].flat(Infinity).filter((c) => c !== null && c !== undefined));
}

/** Each call starts a load and returns a check that it is still the latest one, so that
 * an older answer (a filter changed meanwhile, a slow refresh) never overwrites a newer. */
function sequencer() {
  let n = 0;
  return () => {
    const mine = ++n;
    return () => mine === n;
  };
}

function page(title, ...children) {
  const h1 = h("h1", { tabindex: "-1" }, title);
  main().replaceChildren(h1, ...children.flat());
  return h1;
}

/** A device key may not use the control plane: say so, request nothing. */
function refuseDevice(title) {
  if (session && session.who && session.who.role === "device") {
    page(title, alertBox(DEVICE_REFUSAL));
    return true;
  }
  return false;
}

/** Next page / Previous page over a token-paginated listing. */
function pager(onChange) {
  const tokens = [undefined];
  let index = 0;
  let next = undefined;
  const prevBtn = h("button", { type: "button" }, "Previous page");
  const nextBtn = h("button", { type: "button" }, "Next page");
  const sync = () => {
    prevBtn.disabled = index === 0;
    nextBtn.disabled = !next;
  };
  prevBtn.addEventListener("click", () => {
    if (index > 0) {
      index -= 1;
      onChange();
    }
  });
  nextBtn.addEventListener("click", () => {
    if (next) {
      tokens.length = index + 1;
      tokens.push(next);
      index += 1;
      onChange();
    }
  });
  sync();
  return {
    el: h("div", { class: "pager" }, prevBtn, nextBtn),
    get token() {
      return tokens[index];
    },
    set nextToken(t) {
      next = t || undefined;
      sync();
    },
    reset() {
      tokens.length = 1;
      index = 0;
      next = undefined;
      sync();
    },
  };
}

/** A table with its caption; an empty one says so below it (its body has no rows, so
 * that a row count is the item count). */
function table(caption, headings, rows, empty = "None.") {
  const wrap = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
    ),
  );
  return rows.length ? [wrap] : [wrap, h("p", { class: "empty" }, empty)];
}

function statusBadge(status) {
  return h("span", { class: `status status-${String(status || "").toLowerCase().replace(/_/g, "-")}` }, status || "");
}

/** The progress bar of a job's counters, with its accessible label. */
function progressBar(jobId, details) {
  const d = details || {};
  const counts = COUNTERS.map(([k, words, cls]) => [Number(d[k] || 0), words, cls]);
  const label = `Progress of ${jobId}: ` + counts.map(([n, words]) => `${n} ${words}`).join(", ");
  const total = counts.reduce((a, [n]) => a + n, 0);
  const bar = h("div", { class: "progress", role: "img", "aria-label": label, title: label });
  for (const [n, , cls] of counts) {
    if (n === 0) continue;
    const seg = h("span", { class: `seg seg-${cls}` });
    seg.style.flexGrow = String(n);
    bar.append(seg);
  }
  if (total === 0) bar.append(h("span", { class: "seg seg-none" }));
  return bar;
}

function legend() {
  return h(
    "ul",
    { class: "legend", "aria-label": "Progress legend" },
    COUNTERS.map(([, words, cls]) => h("li", {}, h("span", { class: `swatch seg-${cls}`, "aria-hidden": "true" }), words)),
  );
}

function select(id, labelText, options, value) {
  const sel = h(
    "select",
    { id },
    options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)),
  );
  return [h("label", { for: id }, labelText), sel];
}

/** A <dialog> with a form: `fields` (elements), a confirm button, and an alert slot.
 * `onConfirm(alert)` returns true when done (the dialog then closes). */
function dialog(title, fields, confirmText, onConfirm) {
  const alert = alertSlot();
  const confirm = h("button", { type: "submit" }, confirmText);
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const form = h("form", { method: "dialog" }, h("h2", {}, title), fields, alert.el, h("div", { class: "actions" }, confirm, close));
  const dlg = h("dialog", { "aria-label": title }, form);
  let opener = null;
  close.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => {
    alert.clear();
    if (opener && opener.isConnected) opener.focus();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    alert.clear();
    confirm.disabled = true;
    try {
      if (await onConfirm(alert)) dlg.close();
    } catch (e) {
      alert.show(e);
    } finally {
      confirm.disabled = false;
    }
  });
  return {
    el: dlg,
    open(from) {
      opener = from || document.activeElement;
      alert.clear();
      if (!dlg.isConnected) document.body.append(dlg);
      dlg.showModal();
      const first = form.querySelector("input, textarea, select, button");
      if (first) first.focus();
    },
  };
}

function checkbox(id, text) {
  const input = h("input", { type: "checkbox", id });
  return { input, el: h("div", { class: "field check" }, input, h("label", { for: id }, text)) };
}

function field(id, text, control) {
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, text), control);
}

// ---------------------------------------------------------------------------------------
// Sign-in

function renderSignIn() {
  newView();
  document.getElementById("nav").hidden = true;
  document.getElementById("session").hidden = true;
  const key = h("input", { type: "text", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { type: "password", autocomplete: "current-password", required: true });
  const region = h("input", { type: "text", value: "us-east-1", required: true, spellcheck: "false" });
  const token = h("input", { type: "password", autocomplete: "off" });
  const alert = alertSlot();
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "signin" },
    field("access-key-id", "Access key ID", key),
    field("secret-access-key", "Secret access key", secret),
    field("region", "Region", region),
    field("session-token", "Session token (temporary credentials only)", token),
    alert.el,
    button,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    alert.clear();
    button.disabled = true;
    const credentials = {
      accessKeyId: key.value.trim(),
      secretAccessKey: secret.value,
      region: region.value.trim(),
    };
    if (token.value.trim() !== "") credentials.sessionToken = token.value.trim();
    try {
      const who = await api("GET", "/iotjobs-api/whoami", { credentials });
      session = { ...credentials, who };
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
      showSession();
      if (!location.hash.startsWith("#/") || location.hash === "#/") location.hash = "#/jobs";
      else render(true);
    } catch (e) {
      alert.show(e);
      button.disabled = false;
    }
  });
  const h1 = page("Sign in", h("p", {}, "Sign in with an access key of this server. It is kept for this tab only."), form);
  key.focus();
  return h1;
}

function showSession() {
  const who = session.who || {};
  const parts = [`Account ${who.accountId}`, `Role ${who.role}`, `Key ${who.accessKeyId}`];
  if (who.thingName) parts.push(`Thing ${who.thingName}`);
  document.getElementById("whoami").textContent = parts.join(" · ");
  document.getElementById("session").hidden = false;
  document.getElementById("nav").hidden = false;
}

function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  session = null;
  location.hash = "#/jobs";
  render(true);
}

// ---------------------------------------------------------------------------------------
// Jobs list

function renderJobs() {
  const v = newView();
  if (refuseDevice("Jobs")) return;
  const [statusLabel, status] = select(
    "job-status-filter",
    "Status",
    [["", "(any)"], ...JOB_STATUSES.map((s) => [s, s])],
    "",
  );
  const alert = alertSlot();
  const content = h("div", { class: "jobs" });
  const pages = pager(() => load());
  status.addEventListener("change", () => {
    pages.reset();
    load();
  });
  const next = sequencer();
  const load = async () => {
    const latest = next();
    try {
      const list = await api("GET", "/jobs", {
        query: { status: status.value, maxResults: PAGE_SIZE, nextToken: pages.token },
      });
      const jobs = list.jobs || [];
      const described = await Promise.all(
        jobs.map((j) =>
          api("GET", apiPath("jobs", j.jobId)).then(
            (d) => d.job || {},
            (e) => ({ error: e }),
          ),
        ),
      );
      if (!v.alive || !latest()) return;
      pages.nextToken = list.nextToken;
      alert.clear();
      const failed = described.find((d) => d.error);
      if (failed) alert.show(failed.error);
      const rows = jobs.map((j, i) => {
        const d = described[i];
        return [
          h("a", { href: route("jobs", j.jobId) }, j.jobId),
          statusBadge(j.status),
          d.targets ? String(d.targets.length) : "",
          d.error ? "" : progressBar(j.jobId, d.jobProcessDetails),
          time(j.createdAt),
        ];
      });
      const key = JSON.stringify([jobs, described.map((d) => [d.targets, d.jobProcessDetails])]);
      updateIf(content, key, () => table("Jobs", ["Job ID", "Status", "Targets", "Progress", "Created"], rows, "No jobs."));
    } catch (e) {
      if (v.alive && latest()) alert.show(e);
    }
  };
  const h1 = page(
    "Jobs",
    h("div", { class: "toolbar" }, h("div", { class: "field inline" }, statusLabel, status), h("a", { href: "#/create", class: "button" }, "New job")),
    alert.el,
    content,
    legend(),
    pages.el,
  );
  load();
  live(v, load);
  return h1;
}

// ---------------------------------------------------------------------------------------
// Job page

const CONFIGURATION = [
  ["Description", "description"],
  ["Target selection", "targetSelection"],
  ["Targets", "targets"],
  ["Rollout", "jobExecutionsRolloutConfig"],
  ["Abort", "abortConfig"],
  ["Retry", "jobExecutionsRetryConfig"],
  ["Scheduling", "schedulingConfig"],
  ["Timeouts", "timeoutConfig"],
  ["Presigned URL config", "presignedUrlConfig"],
  ["Job template", "jobTemplateArn"],
  ["Document parameters", "documentParameters"],
  ["Reason code", "reasonCode"],
  ["Comment", "comment"],
  ["Force canceled", "forceCanceled"],
  ["Created at", "createdAt", time],
  ["Last updated at", "lastUpdatedAt", time],
  ["Completed at", "completedAt", time],
  ["Job ARN", "jobArn"],
];

function valueCell(value, fmt) {
  if (value === undefined || value === null || value === "") return h("span", { class: "none" }, "none");
  if (fmt) return fmt(value);
  if (typeof value === "object") return h("pre", {}, pretty(value));
  return String(value);
}

function definitionList(items) {
  return h(
    "dl",
    {},
    items.map(([dt, dd]) => [h("dt", {}, dt), h("dd", {}, dd)]),
  );
}

function renderJob(jobId) {
  const v = newView();
  if (refuseDevice(`Job ${jobId}`)) return;
  const alerts = alertGroup();
  const alert = alerts.source("job");
  const docAlert = alerts.source("document");
  const execAlert = alerts.source("executions");
  const statusEl = h("p", { class: "job-status" });
  const docEl = h("div", {}, h("p", {}, "Loading…"));
  const configEl = h("div");
  const countersEl = h("div");
  const [execStatusLabel, execStatus] = select(
    "execution-status-filter",
    "Execution status",
    [["", "(any)"], ...EXECUTION_STATUSES.map((s) => [s, s])],
    "",
  );
  const execEl = h("div");
  const pages = pager(() => loadExecutions());
  execStatus.addEventListener("change", () => {
    pages.reset();
    loadExecutions();
  });

  const nextJob = sequencer();
  const loadJob = async () => {
    const latest = nextJob();
    try {
      const { job = {} } = await api("GET", apiPath("jobs", jobId));
      if (!v.alive || !latest()) return;
      alert.clear();
      updateIf(statusEl, JSON.stringify([job.status, job.forceCanceled]), () => [
        "Status ",
        statusBadge(job.status),
        job.forceCanceled ? " (force canceled)" : "",
      ]);
      updateIf(configEl, JSON.stringify(job), () =>
        definitionList(CONFIGURATION.map(([label, k, fmt]) => [label, valueCell(job[k], fmt)])),
      );
      const d = job.jobProcessDetails || {};
      updateIf(countersEl, JSON.stringify(d), () => [
        progressBar(jobId, d),
        legend(),
        definitionList([
          ...COUNTERS.map(([k, words]) => [words[0].toUpperCase() + words.slice(1), String(d[k] || 0)]),
          ["Processing targets", valueCell(d.processingTargets)],
        ]),
      ]);
    } catch (e) {
      // A job that does not exist (any more) will not come back: stop asking.
      if (e instanceof ApiError && e.code === "ResourceNotFoundException") v.stopped = true;
      if (v.alive && latest()) alert.show(e);
    }
  };
  const loadDocument = async () => {
    try {
      const { document: doc } = await api("GET", apiPath("jobs", jobId, "job-document"));
      let text = doc || "";
      try {
        text = pretty(JSON.parse(doc));
      } catch {
        // Shown as stored.
      }
      if (!v.alive) return;
      docAlert.clear();
      docEl.replaceChildren(doc === undefined ? h("p", { class: "none" }, "none") : h("pre", { class: "document" }, text));
    } catch (e) {
      if (!v.alive) return;
      docEl.replaceChildren(h("p", { class: "none" }, "Not available."));
      docAlert.show(e);
    }
  };
  const nextExecutions = sequencer();
  const loadExecutions = async () => {
    const latest = nextExecutions();
    try {
      const list = await api("GET", apiPath("jobs", jobId, "things"), {
        query: { status: execStatus.value, maxResults: PAGE_SIZE, nextToken: pages.token },
      });
      if (!v.alive || !latest()) return;
      execAlert.clear();
      pages.nextToken = list.nextToken;
      const items = list.executionSummaries || [];
      updateIf(execEl, JSON.stringify(items), () =>
        table(
          "Executions",
          ["Thing", "Status", "Execution number", "Last updated"],
          items.map((x) => {
            const thing = thingNameOfArn(x.thingArn);
            const s = x.jobExecutionSummary || {};
            return [
              h("a", { href: route("jobs", jobId, "things", thing) }, thing),
              statusBadge(s.status),
              s.executionNumber === undefined ? "" : String(s.executionNumber),
              time(s.lastUpdatedAt),
            ];
          }),
          "No executions.",
        ),
      );
    } catch (e) {
      if (v.alive && latest()) execAlert.show(e);
    }
  };

  // Cancel job
  const force = checkbox("cancel-job-force", "Force");
  const reason = h("input", { type: "text" });
  const comment = h("textarea", { rows: "3" });
  const cancelDialog = dialog(
    `Cancel job ${jobId}`,
    [force.el, field("cancel-job-reason", "Reason code", reason), field("cancel-job-comment", "Comment", comment)],
    "Confirm cancel job",
    async () => {
      const body = {};
      if (reason.value !== "") body.reasonCode = reason.value;
      if (comment.value !== "") body.comment = comment.value;
      await api("PUT", apiPath("jobs", jobId, "cancel"), {
        query: { force: force.input.checked ? "true" : undefined },
        body,
      });
      await Promise.all([loadJob(), loadExecutions()]);
      return true;
    },
  );
  // Delete job
  const delForce = checkbox("delete-job-force", "Force");
  const deleteDialog = dialog(`Delete job ${jobId}`, [delForce.el], "Confirm delete job", async () => {
    await api("DELETE", apiPath("jobs", jobId), { query: { force: delForce.input.checked ? "true" : undefined } });
    location.hash = "#/jobs";
    return true;
  });
  const cancelBtn = h("button", { type: "button" }, "Cancel job");
  cancelBtn.addEventListener("click", () => cancelDialog.open(cancelBtn));
  const deleteBtn = h("button", { type: "button", class: "danger" }, "Delete job");
  deleteBtn.addEventListener("click", () => deleteDialog.open(deleteBtn));

  const h1 = page(
    `Job ${jobId}`,
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Back to the job list")),
    statusEl,
    h("div", { class: "actions" }, cancelBtn, deleteBtn),
    alerts.el,
    h("section", { "aria-labelledby": "h-document" }, h("h2", { id: "h-document" }, "Document"), docEl),
    h("section", { "aria-labelledby": "h-configuration" }, h("h2", { id: "h-configuration" }, "Configuration"), configEl),
    h("section", { "aria-labelledby": "h-counters" }, h("h2", { id: "h-counters" }, "Counters"), countersEl),
    h(
      "section",
      { "aria-labelledby": "h-executions" },
      h("h2", { id: "h-executions" }, "Executions"),
      h("div", { class: "toolbar" }, h("div", { class: "field inline" }, execStatusLabel, execStatus)),
      execEl,
      pages.el,
    ),
    cancelDialog.el,
    deleteDialog.el,
  );
  loadJob();
  loadDocument();
  loadExecutions();
  live(v, () => Promise.all([loadJob(), loadExecutions()]));
  return h1;
}

// ---------------------------------------------------------------------------------------
// Execution page

/** The status details a user typed: "" → undefined; otherwise a JSON object of strings,
 * or an Error saying why not. */
function parseStatusDetails(text) {
  if (text.trim() === "") return undefined;
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`Status details are not valid JSON: ${e.message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error("Status details must be a JSON object of strings.");
  }
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") throw new Error(`Status details must be a JSON object of strings: "${k}" is not a string.`);
  }
  return v;
}

function renderExecution(jobId, thingName) {
  const v = newView();
  if (refuseDevice(`Execution of ${jobId} on ${thingName}`)) return;
  const alert = alertSlot();
  const detailsEl = h("div", {}, h("p", {}, "Loading…"));
  const historyEl = h("div");

  const nextExecution = sequencer();
  const loadExecution = async () => {
    const latest = nextExecution();
    try {
      const { execution: x = {} } = await api("GET", apiPath("things", thingName, "jobs", jobId));
      if (!v.alive || !latest()) return;
      alert.clear();
      updateIf(detailsEl, JSON.stringify(x), () =>
        definitionList([
          ["Status", statusBadge(x.status)],
          ["Version", valueCell(x.versionNumber)],
          ["Execution number", valueCell(x.executionNumber)],
          ["Queued at", valueCell(x.queuedAt, time)],
          ["Started at", valueCell(x.startedAt, time)],
          ["Last updated at", valueCell(x.lastUpdatedAt, time)],
          ["Force canceled", valueCell(x.forceCanceled === undefined ? undefined : String(x.forceCanceled))],
          ["Status details", x.statusDetails ? h("pre", {}, pretty(x.statusDetails)) : valueCell(undefined)],
          ["Seconds before timeout", valueCell(x.approximateSecondsBeforeTimedOut)],
        ]),
      );
    } catch (e) {
      if (v.alive && latest()) alert.show(e);
    }
  };
  const nextHistory = sequencer();
  const loadHistory = async () => {
    const latest = nextHistory();
    const records = [];
    try {
      let token;
      for (let i = 0; i < 20; i++) {
        const r = await api("GET", "/iotjobs-api/audit", { query: { jobId, thingName, maxResults: 250, nextToken: token } });
        records.push(...(r.records || []));
        token = r.nextToken;
        if (!token) break;
      }
    } catch (e) {
      if (v.alive && latest()) {
        historyEl.dataset.key = "";
        historyEl.replaceChildren(h("p", { class: "note" }, `The audit log could not be read with this key (${errorText(e)}).`));
      }
      return;
    }
    if (!v.alive || !latest()) return;
    records.reverse();
    updateIf(historyEl, JSON.stringify(records.map((r) => r.seq)), () =>
      table(
        "History",
        ["Time", "Operation", "Principal", "Status"],
        records.map((r) => [
          time(r.at),
          r.operation || "",
          r.principal || "",
          r.oldStatus || r.newStatus ? `${r.oldStatus || "—"} → ${r.newStatus || "—"}` : r.detail || "",
        ]),
        "No records.",
      ),
    );
  };

  const force = checkbox("cancel-execution-force", "Force");
  const expected = h("input", { type: "text", inputmode: "numeric" });
  const details = h("textarea", { rows: "4", spellcheck: "false" });
  const cancelDialog = dialog(
    `Cancel execution of ${jobId} on ${thingName}`,
    [force.el, field("cancel-execution-expected-version", "Expected version", expected), field("cancel-execution-status-details", "Status details (JSON)", details)],
    "Confirm cancel execution",
    async (dialogAlert) => {
      const body = {};
      let statusDetails;
      try {
        statusDetails = parseStatusDetails(details.value);
      } catch (e) {
        dialogAlert.show(e.message);
        return false;
      }
      if (statusDetails !== undefined) body.statusDetails = statusDetails;
      if (expected.value.trim() !== "") {
        const n = Number(expected.value.trim());
        if (!Number.isInteger(n)) {
          dialogAlert.show("Expected version must be a whole number.");
          return false;
        }
        body.expectedVersion = n;
      }
      await api("PUT", apiPath("things", thingName, "jobs", jobId, "cancel"), {
        query: { force: force.input.checked ? "true" : undefined },
        body,
      });
      await Promise.all([loadExecution(), loadHistory()]);
      return true;
    },
  );
  const cancelBtn = h("button", { type: "button" }, "Cancel execution");
  cancelBtn.addEventListener("click", () => cancelDialog.open(cancelBtn));

  const h1 = page(
    `Execution of ${jobId} on ${thingName}`,
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: route("jobs", jobId) }, `Job ${jobId}`),
      " · ",
      h("a", { href: route("things", thingName) }, `Thing ${thingName}`),
    ),
    h("div", { class: "actions" }, cancelBtn),
    alert.el,
    detailsEl,
    h("section", { "aria-labelledby": "h-history" }, h("h2", { id: "h-history" }, "History"), historyEl),
    cancelDialog.el,
  );
  loadExecution();
  loadHistory();
  live(v, () => Promise.all([loadExecution(), loadHistory()]));
  return h1;
}

// ---------------------------------------------------------------------------------------
// Create job

/** Every item of a paginated listing (at most `limit` pages). */
async function listAll(path, member, query = {}, limit = 20) {
  const out = [];
  let token;
  for (let i = 0; i < limit; i++) {
    const r = await api("GET", path, { query: { ...query, maxResults: 250, nextToken: token } });
    out.push(...(r[member] || []));
    token = r.nextToken;
    if (!token) break;
  }
  return out;
}

function renderCreate() {
  const v = newView();
  if (refuseDevice("Create job")) return;
  const alerts = alertGroup();
  const alert = alerts.source("create");
  const docAlert = alerts.source("document");
  const jobId = h("input", { type: "text", required: true, spellcheck: "false", autocomplete: "off" });
  const things = h("select", { multiple: true, size: "6" });
  const groups = h("select", { multiple: true, size: "6" });
  const [selLabel, selection] = select(
    "create-target-selection",
    "Target selection",
    [["SNAPSHOT", "SNAPSHOT"], ["CONTINUOUS", "CONTINUOUS"]],
    "SNAPSHOT",
  );
  const template = h("select", {}, h("option", { value: "" }, "(none)"));
  const documentText = h("textarea", { rows: "8", spellcheck: "false" });
  const description = h("input", { type: "text" });
  const create = h("button", { type: "submit" }, "Create job");
  const templateArns = new Map();

  const validate = () => {
    const text = documentText.value;
    docAlert.clear();
    create.disabled = false;
    if (text.trim() === "") return true;
    try {
      JSON.parse(text);
      return true;
    } catch (e) {
      alert.clear(); // an earlier refusal is not what is wrong now
      docAlert.show(`Document is not valid JSON: ${e.message}`);
      create.disabled = true;
      return false;
    }
  };
  documentText.addEventListener("input", validate);

  const form = h(
    "form",
    { class: "create" },
    field("create-job-id", "Job ID", jobId),
    h("div", { class: "two" }, field("create-things", "Things", things), field("create-groups", "Groups", groups)),
    h("div", { class: "field" }, selLabel, selection),
    field("create-template", "Template", template),
    field("create-document", "Document (JSON)", documentText),
    field("create-description", "Description", description),
    alerts.el,
    h("div", { class: "actions" }, create),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    alert.clear();
    if (!validate()) return;
    const id = jobId.value.trim();
    const body = {
      targets: [...things.selectedOptions, ...groups.selectedOptions].map((o) => o.value),
      targetSelection: selection.value,
    };
    if (documentText.value.trim() !== "") body.document = documentText.value;
    if (template.value) body.jobTemplateArn = templateArns.get(template.value);
    if (description.value !== "") body.description = description.value;
    create.disabled = true;
    try {
      await api("PUT", apiPath("jobs", id), { body });
      location.hash = route("jobs", id);
    } catch (e) {
      if (v.alive) {
        alert.show(e);
        create.disabled = false;
      }
    }
  });

  const h1 = page("Create job", form);
  const fill = (sel, items) => {
    sel.replaceChildren(...items.map(([value, text]) => h("option", { value }, text)));
  };
  Promise.all([
    listAll("/things", "things").then((xs) => fill(things, xs.map((t) => [t.thingArn, t.thingName]))),
    listAll("/thing-groups", "thingGroups").then((xs) => fill(groups, xs.map((g) => [g.groupArn, g.groupName]))),
    listAll("/job-templates", "jobTemplates").then((xs) => {
      for (const t of xs) {
        templateArns.set(t.jobTemplateId, t.jobTemplateArn);
        template.append(h("option", { value: t.jobTemplateId }, t.jobTemplateId));
      }
    }),
  ]).catch((e) => {
    if (v.alive) alert.show(e);
  });
  return h1;
}

// ---------------------------------------------------------------------------------------
// Things, groups, templates

/** A paginated table page: `fetchPage(token)` → {rows, nextToken}. */
function listPage(v, title, caption, headings, fetchPage, empty, before = []) {
  const alert = alertSlot();
  const content = h("div");
  const pages = pager(() => load());
  const next = sequencer();
  const load = async () => {
    const latest = next();
    try {
      const { rows, nextToken, key } = await fetchPage(pages.token);
      if (!v.alive || !latest()) return;
      alert.clear();
      pages.nextToken = nextToken;
      updateIf(content, key, () => table(caption, headings, rows, empty));
    } catch (e) {
      if (v.alive && latest()) alert.show(e);
    }
  };
  const h1 = page(title, before, alert.el, content, pages.el);
  load();
  return h1;
}

function renderThings() {
  const v = newView();
  if (refuseDevice("Things")) return;
  return listPage(v, "Things", "Things", ["Name", "Type", "Version"], async (token) => {
    const r = await api("GET", "/things", { query: { maxResults: PAGE_SIZE, nextToken: token } });
    const things = r.things || [];
    return {
      key: JSON.stringify(things),
      nextToken: r.nextToken,
      rows: things.map((t) => [
        h("a", { href: route("things", t.thingName) }, t.thingName),
        t.thingTypeName || "",
        t.version === undefined ? "" : String(t.version),
      ]),
    };
  }, "No things.");
}

function renderThing(thingName) {
  const v = newView();
  if (refuseDevice(`Thing ${thingName}`)) return;
  return listPage(v, `Thing ${thingName}`, "Executions", ["Job", "Status", "Execution number", "Last updated"], async (token) => {
    const r = await api("GET", apiPath("things", thingName, "jobs"), { query: { maxResults: PAGE_SIZE, nextToken: token } });
    const items = r.executionSummaries || [];
    return {
      key: JSON.stringify(items),
      nextToken: r.nextToken,
      rows: items.map((x) => {
        const s = x.jobExecutionSummary || {};
        return [
          h("a", { href: route("jobs", x.jobId, "things", thingName) }, x.jobId),
          statusBadge(s.status),
          s.executionNumber === undefined ? "" : String(s.executionNumber),
          time(s.lastUpdatedAt),
        ];
      }),
    };
  }, "No executions.", h("p", { class: "crumbs" }, h("a", { href: "#/things" }, "Back to the thing list")));
}

function renderGroups() {
  const v = newView();
  if (refuseDevice("Groups")) return;
  return listPage(v, "Groups", "Groups", ["Name", "ARN"], async (token) => {
    const r = await api("GET", "/thing-groups", { query: { maxResults: PAGE_SIZE, nextToken: token } });
    const items = r.thingGroups || [];
    return {
      key: JSON.stringify(items),
      nextToken: r.nextToken,
      rows: items.map((g) => [h("a", { href: route("groups", g.groupName) }, g.groupName), g.groupArn || ""]),
    };
  }, "No groups.");
}

function renderGroup(groupName) {
  const v = newView();
  if (refuseDevice(`Group ${groupName}`)) return;
  return listPage(v, `Group ${groupName}`, `Things in ${groupName}`, ["Thing"], async (token) => {
    const r = await api("GET", apiPath("thing-groups", groupName, "things"), { query: { maxResults: PAGE_SIZE, nextToken: token } });
    const items = r.things || [];
    return {
      key: JSON.stringify(items),
      nextToken: r.nextToken,
      rows: items.map((t) => [h("a", { href: route("things", t) }, t)]),
    };
  }, "No things.", h("p", { class: "crumbs" }, h("a", { href: "#/groups" }, "Back to the group list")));
}

function renderTemplates() {
  const v = newView();
  if (refuseDevice("Templates")) return;
  return listPage(v, "Templates", "Templates", ["Template ID", "Description", "Created", "ARN"], async (token) => {
    const r = await api("GET", "/job-templates", { query: { maxResults: PAGE_SIZE, nextToken: token } });
    const items = r.jobTemplates || [];
    return {
      key: JSON.stringify(items),
      nextToken: r.nextToken,
      rows: items.map((t) => [t.jobTemplateId, t.description || "", time(t.createdAt), t.jobTemplateArn || ""]),
    };
  }, "No templates.");
}

// ---------------------------------------------------------------------------------------
// Audit log: the API answers oldest first; the console reads it all (up to AUDIT_MAX
// records) and shows it newest first, a page at a time.

const AUDIT_MAX = 10000;

function renderAudit() {
  const v = newView();
  if (refuseDevice("Audit log")) return;
  const alert = alertSlot();
  const note = h("div");
  const content = h("div", {}, h("p", {}, "Loading…"));
  let records = [];
  let index = 0;
  const prevBtn = h("button", { type: "button", disabled: true }, "Previous page");
  const nextBtn = h("button", { type: "button", disabled: true }, "Next page");
  const show = () => {
    const slice = records.slice(index, index + PAGE_SIZE);
    prevBtn.disabled = index === 0;
    nextBtn.disabled = index + PAGE_SIZE >= records.length;
    content.replaceChildren(
      ...table(
        "Audit log",
        ["Time", "Operation", "Principal", "Subject", "Job", "Name", "Status", "Detail", "Source"],
        slice.map((r) => [
          time(r.at),
          r.operation || "",
          r.principal || "",
          r.subject || "",
          r.jobId ? h("a", { href: route("jobs", r.jobId) }, r.jobId) : "",
          r.name || "",
          r.oldStatus || r.newStatus ? `${r.oldStatus || "—"} → ${r.newStatus || "—"}` : "",
          r.detail || "",
          r.source || "",
        ]),
        "No records.",
      ),
    );
  };
  prevBtn.addEventListener("click", () => {
    index = Math.max(0, index - PAGE_SIZE);
    show();
  });
  nextBtn.addEventListener("click", () => {
    index += PAGE_SIZE;
    show();
  });
  const h1 = page("Audit log", alert.el, note, content, h("div", { class: "pager" }, prevBtn, nextBtn));
  (async () => {
    try {
      let token;
      const all = [];
      do {
        const r = await api("GET", "/iotjobs-api/audit", { query: { maxResults: 250, nextToken: token } });
        all.push(...(r.records || []));
        token = r.nextToken;
      } while (token && all.length < AUDIT_MAX && v.alive);
      if (!v.alive) return;
      if (token) note.replaceChildren(h("p", { class: "note" }, `Showing the first ${all.length} records of the log, newest first; later ones are not loaded.`));
      records = all.reverse();
      show();
    } catch (e) {
      if (v.alive) {
        content.replaceChildren();
        alert.show(e);
      }
    }
  })();
  return h1;
}

// ---------------------------------------------------------------------------------------
// Router

function parseRoute() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "";
  return hash
    .split("/")
    .filter((p) => p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
}

function notFound() {
  newView();
  return page("Not found", h("p", {}, "No console page here. "), h("p", {}, h("a", { href: "#/jobs" }, "Jobs")));
}

function render(moveFocus) {
  if (!session) {
    renderSignIn();
    return;
  }
  showSession();
  const [a, b, c, d, ...rest] = parseRoute();
  let h1;
  if (rest.length) h1 = notFound();
  else if (a === undefined || (a === "jobs" && b === undefined)) h1 = renderJobs();
  else if (a === "jobs" && c === undefined) h1 = renderJob(b);
  else if (a === "jobs" && c === "things" && d !== undefined) h1 = renderExecution(b, d);
  else if (a === "create" && b === undefined) h1 = renderCreate();
  else if (a === "things" && b === undefined) h1 = renderThings();
  else if (a === "things" && c === undefined) h1 = renderThing(b);
  else if (a === "groups" && b === undefined) h1 = renderGroups();
  else if (a === "groups" && c === undefined) h1 = renderGroup(b);
  else if (a === "templates" && b === undefined) h1 = renderTemplates();
  else if (a === "audit" && b === undefined) h1 = renderAudit();
  else h1 = notFound();
  for (const link of document.querySelectorAll("#nav a")) {
    const current = link.getAttribute("href") === "#/" + (a || "jobs");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (moveFocus) (h1 || document.querySelector("#main h1") || main()).focus();
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/") || location.hash === "") render(true);
});
document.getElementById("sign-out").addEventListener("click", signOut);
document.querySelector("a.skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main().focus();
});
if (selfCheckError) document.body.prepend(alertBox(selfCheckError));
render(false);
