// The operator console: signs in through GraphQL, reads everything through the admin API,
// and stays live from the subscriptions. Live events only mark views dirty; one timer
// redraws at most once a second, so a burst of thousands of events never starves it.
"use strict";
const $ = (sel) => document.querySelector(sel);
const QUEUES = ["media", "certificates", "email", "notifications", "analytics", "default"];
const PAGE = 25;
const store = sessionStorage;
let session = JSON.parse(store.getItem("lms.console") || "null");
let socket = null, nextId = 1, tick = null, refreshTimer = null;
const dirty = {dashboard: true, jobs: true, audit: true, charts: true};
let busy = false, lastFull = 0, lastCharts = 0, offset = 0, openJob = null, pending = null;

// ---------- small DOM helpers ----------
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function button(parent, label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = label; b.addEventListener("click", onClick);
  if (cls) b.className = cls;
  parent.appendChild(b);
  return b;
}
function fill(selector, items, render, empty) {
  const body = $(selector + " tbody");
  body.replaceChildren();
  for (const item of items) { const tr = document.createElement("tr"); render(tr, item); body.appendChild(tr); }
  if (!items.length && empty) {
    const tr = document.createElement("tr"); const td = cell(tr, empty);
    td.colSpan = $(selector + " thead tr").children.length; body.appendChild(tr);
  }
}
function when(iso) {  // readable local time, the exact instant in the tooltip
  if (!iso) return null;
  return new Date(iso).toLocaleString([], {dateStyle: "short", timeStyle: "medium"});
}
function timeCell(row, iso) { const td = cell(row, when(iso)); if (iso) td.title = iso; return td; }
function status(text) { $("#status").textContent = text; }
function notice(text) { const n = $("#notice"); n.textContent = text || ""; n.classList.toggle("hidden", !text); }
const isAdmin = () => session && session.role === "ADMIN";

// ---------- the API ----------
class ApiError extends Error { constructor(message, code) { super(message); this.code = code; } }
const EXPIRED = new Set(["UNAUTHENTICATED", "TOKEN_EXPIRED"]);

async function post(query, variables, token) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: {"Content-Type": "application/json", ...(token ? {Authorization: "Bearer " + token} : {})},
    body: JSON.stringify({query, variables: variables || {}}),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions && e.extensions.code);
  }
  return body.data;
}

async function gql(query, variables) {
  if (!session) throw new ApiError("not signed in", "UNAUTHENTICATED");
  try {
    return await post(query, variables, session.accessToken);
  } catch (error) {
    if (!EXPIRED.has(error.code)) throw error;
    if (await renew()) return post(query, variables, session.accessToken);
    expired();
    throw error;
  }
}

const AUTH = "accessToken accessTokenExpiresAt refreshToken user { email role }";
function keep(auth) {
  session = {accessToken: auth.accessToken, refreshToken: auth.refreshToken,
    expiresAt: auth.accessTokenExpiresAt, email: auth.user.email, role: auth.user.role};
  store.setItem("lms.console", JSON.stringify(session));
  scheduleRenewal();
}
let renewing = null;
async function renew() {  // one refresh at a time; the refresh token is single-use
  if (!session || !session.refreshToken) return false;
  renewing = renewing || post(`mutation($i: RefreshTokenInput!) { refreshToken(input: $i) { ${AUTH} } }`,
    {i: {refreshToken: session.refreshToken}})
    .then((d) => { keep(d.refreshToken); reconnect(); return true; })
    .catch(() => false)
    .finally(() => { renewing = null; });
  return renewing;
}
function scheduleRenewal() {  // renew a minute before the access token runs out
  clearTimeout(refreshTimer);
  if (!session || !session.expiresAt) return;
  const wait = Math.max(5000, new Date(session.expiresAt) - Date.now() - 60000);
  refreshTimer = setTimeout(async () => { if (!(await renew())) expired(); }, wait);
}
function expired() {
  stop();
  session = null; store.removeItem("lms.console");
  notice("Your session expired. Sign in again to continue" + (pending ? ` (then ${pending}).` : "."));
  showSignIn();
}

// ---------- live updates ----------
function subscribe(query) {
  socket.send(JSON.stringify({id: String(nextId++), type: "subscribe", payload: {query}}));
}
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
  const ws = socket = new WebSocket(url, "graphql-transport-ws");
  ws.onopen = () => ws.send(JSON.stringify({type: "connection_init", payload: {Authorization: "Bearer " + session.accessToken}}));
  ws.onmessage = (message) => {
    const msg = JSON.parse(message.data);
    if (msg.type === "connection_ack") {
      subscribe("subscription { queueStatsUpdated { at queues { queueName depth consumers waiting running retrying succeeded failed oldestWaitingSeconds paused draining } } }");
      subscribe("subscription { jobAlerts { id } }");
      subscribe("subscription { jobEvents { jobId status } }");
    } else if (msg.type === "ping") {
      ws.send(JSON.stringify({type: "pong"}));
    } else if (msg.type === "next" && msg.payload && msg.payload.data) {
      const data = msg.payload.data;
      if (data.queueStatsUpdated) latestStats = data.queueStatsUpdated;
      else if (data.jobEvents) { dirty.jobs = true; dirty.dashboard = true; if (openJob === data.jobEvents.jobId) dirty.detail = true; }
      else dirty.dashboard = true;
    } else if (msg.type === "error") {
      status("subscription error: " + JSON.stringify(msg.payload));
    }
  };
  ws.onclose = () => { if (session && socket === ws) setTimeout(() => { if (session && socket === ws) connect(); }, 2000); };
}
function reconnect() { if (socket) { const old = socket; socket = null; old.close(); } if (session) connect(); }
let latestStats = null;

// The one redraw loop: at most one request in flight, a full refresh once a second while
// anything changed (and every 5 s regardless), charts every 30 s.
async function onTick() {
  if (busy || !session) return;
  busy = true;
  // stop() ends the loop: a tick already under way asks for nothing more after it.
  const loop = tick, running = () => tick !== null && tick === loop;
  try {
    const now = Date.now();
    if (latestStats) { updateStats(latestStats.queues); latestStats = null; }
    if (dirty.dashboard || now - lastFull > 5000) {
      dirty.dashboard = false; lastFull = now;
      await loadDashboard();
    }
    if (running() && dirty.jobs) { dirty.jobs = false; await loadJobs(); }
    if (running() && dirty.detail && openJob) { dirty.detail = false; await loadDetail(openJob.queue, openJob.id, false); }
    if (running() && dirty.audit) { dirty.audit = false; await loadAudit(); }
    if (running() && (dirty.charts || now - lastCharts > 30000)) { dirty.charts = false; lastCharts = now; await loadCharts(); }
    if (!running()) return;
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (session) status("error: " + error.message);
  } finally { busy = false; }
}

// ---------- dashboard ----------
const DASHBOARD = `{ jobDashboard { health workersAnswering inspectionError
  queues { queueName health { status reasons { code message } }
    stats { depth consumers waiting running retrying succeeded failed oldestWaitingSeconds paused draining } }
  workers { hostname state queues active reserved poolSize processed lastSeenAt heartbeatAt activeJobs { jobId kind } }
  alerts { id severity queueName rule message raisedAt resolvedAt } } }`;

async function loadDashboard() {
  const d = (await gql(DASHBOARD)).jobDashboard;
  $("#health").textContent = "· " + d.health; $("#health").className = d.health;
  fill("#queues", d.queues, renderQueue);
  fill("#workers", d.workers, (tr, w) => {
    cell(tr, w.hostname); cell(tr, w.state, w.state); cell(tr, w.queues.join(", "));
    for (const key of ["active", "reserved", "poolSize", "processed"]) cell(tr, w[key], "num");
    cell(tr, w.activeJobs.map((j) => `${j.kind || "?"} ${(j.jobId || "").slice(0, 8)}`).join(", "));
    timeCell(tr, w.lastSeenAt);
    timeCell(tr, w.heartbeatAt);
  }, "no worker known");
  $("#inspection").textContent = d.workersAnswering ? "" : (d.inspectionError || "no worker answering");
  fill("#alerts", d.alerts, (tr, a) => {
    cell(tr, a.severity, a.severity); cell(tr, a.queueName || "system"); cell(tr, a.rule); cell(tr, a.message);
    timeCell(tr, a.raisedAt);
    const td = timeCell(tr, a.resolvedAt);
    if (a.resolvedAt) td.textContent = "resolved " + td.textContent;
  }, "no open alerts");
}

function renderQueue(tr, q) {
  const s = q.stats;
  tr.dataset.queue = q.queueName;
  const th = document.createElement("th"); th.scope = "row"; th.textContent = q.queueName; tr.appendChild(th);
  const h = cell(tr, q.health.status, q.health.status);
  h.title = q.health.reasons.map((r) => r.code + ": " + r.message).join("\n");
  for (const key of ["depth", "consumers", "waiting", "running", "retrying", "succeeded", "failed"]) cell(tr, s[key], "num");
  cell(tr, s.oldestWaitingSeconds === null ? null : Math.round(s.oldestWaitingSeconds) + " s", "num");
  cell(tr, stateOf(s));
  const td = cell(tr, ""); td.textContent = "";
  const held = s.paused || s.draining;
  const control = (label, action, confirmText) => {
    const b = button(td, label, () => manage(q.queueName, action, confirmText), "control");
    b.setAttribute("aria-label", `${label} ${q.queueName}`);
    return b;
  };
  control(held ? "Resume" : "Pause", held ? "RESUME" : "PAUSE");
  control("Drain", "DRAIN", `Drain ${q.queueName}? New jobs will be refused until resumed.`);
  control("Clear", "CLEAR", `Clear ${q.queueName}? Its ${s.depth ?? "?"} waiting messages are purged and their jobs cancelled.`);
  const r = button(td, "Retry failed", () => retryQueue(q.queueName, s.failed), "control");
  r.setAttribute("aria-label", `Retry all failed jobs of ${q.queueName}`);
  r.disabled = !s.failed;
  applyRole(td);
}
function stateOf(s) { return s.paused ? "paused" : s.draining ? "draining" : "running"; }

function updateStats(queues) {  // live counts between full refreshes
  for (const q of queues) {
    const tr = document.querySelector(`#queues tr[data-queue="${q.queueName}"]`);
    if (!tr) continue;
    const cells = tr.children;
    ["depth", "consumers", "waiting", "running", "retrying", "succeeded", "failed"].forEach((key, i) => {
      cells[2 + i].textContent = q[key] === null ? "–" : String(q[key]);
    });
    cells[9].textContent = q.oldestWaitingSeconds === null ? "–" : Math.round(q.oldestWaitingSeconds) + " s";
    cells[10].textContent = stateOf(q);
  }
}

function applyRole(root) {  // operators see the controls, disabled, with the reason
  if (isAdmin()) return;
  for (const b of root.querySelectorAll("button.control")) {
    b.disabled = true; b.title = "read-only operator: admins only";
  }
}

// ---------- controls: confirmed in the page only once the API confirmed ----------
async function act(description, run) {
  pending = description;
  status(description + "…");
  try {
    const message = await run();
    status(message); pending = null;
    dirty.dashboard = dirty.jobs = dirty.audit = dirty.charts = true;
    if (openJob) dirty.detail = true;
    return true;
  } catch (error) {
    status(`${description} failed: ${error.message}${error.code ? " (" + error.code + ")" : ""}`);
    return false;
  }
}
function manage(queueName, action, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  const verb = action.toLowerCase();
  return act(`${verb} ${queueName}`, async () => {
    const d = await gql(`mutation($i: QueueManagementInput!) { manageQueue(input: $i) {
      message paused draining purgedMessages cancelledJobs } }`, {i: {queueName, action, reason: "operator console"}});
    return `${verb} ${queueName}: done — ${d.manageQueue.message}`;
  });
}
function retryQueue(queueName, count) {
  if (!window.confirm(`Retry all ${count} failed jobs of ${queueName}?`)) return;
  return act(`retry failed jobs of ${queueName}`, async () => {
    const d = await gql("mutation($q: String) { retryJobs(input: {queueName: $q}) { retriedCount } }", {q: queueName});
    return `retried ${d.retryJobs.retriedCount} job(s) of ${queueName}`;
  });
}
function retryJob(jobId) {
  return act(`retry job ${jobId.slice(0, 8)}`, async () => {
    const d = await gql("mutation($id: ID) { retryJobs(input: {jobId: $id}) { jobs { id status attempts } } }", {id: jobId});
    const job = d.retryJobs.jobs[0];
    return `job ${job.id.slice(0, 8)} retried: now ${job.status}`;
  });
}
$("#clear-alerts").addEventListener("click", () => act("clear alerts", async () => {
  const d = await gql("mutation { clearQueueAlerts { clearedCount } }");
  return `cleared ${d.clearQueueAlerts.clearedCount} alert(s)`;
}));

// ---------- jobs table ----------
function localToIso(value) { return value ? new Date(value).toISOString() : null; }
function currentFilter() {
  const f = {
    queueName: $("#f-queue").value || null, status: $("#f-status").value || null,
    kind: $("#f-kind").value.trim() || null, errorCode: $("#f-error").value.trim() || null,
    createdAfter: localToIso($("#f-from").value), createdBefore: localToIso($("#f-to").value),
    search: $("#f-search").value.trim() || null,
  };
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== null));
}
const JOBS = `query($f: JobFilter, $o: Int, $n: Int) { jobs(filter: $f, offset: $o, limit: $n) {
  total items { id kind queueName status attempts maxAttempts errorCode errorMessage createdAt } } }`;
async function loadJobs() {
  let page;
  try { page = (await gql(JOBS, {f: currentFilter(), o: offset, n: PAGE})).jobs; }
  catch (error) {
    $("#jobs-summary").textContent = `filter refused: ${error.message}${error.code ? " (" + error.code + ")" : ""}`;
    fill("#jobs", [], () => {}, "—");
    return;
  }
  const last = Math.min(offset + PAGE, page.total);
  $("#jobs-summary").textContent = page.total ? `${offset + 1}–${last} of ${page.total} jobs` : "no jobs match";
  $("#prev").disabled = offset === 0; $("#next").disabled = last >= page.total;
  fill("#jobs", page.items, (tr, j) => {
    tr.dataset.jobId = j.id;
    const th = document.createElement("th"); th.scope = "row"; th.textContent = j.id.slice(0, 8); th.title = j.id; tr.appendChild(th);
    cell(tr, j.kind); cell(tr, j.queueName); cell(tr, j.status, j.status);
    cell(tr, `${j.attempts}/${j.maxAttempts}`, "num");
    cell(tr, j.errorCode ? `${j.errorCode}: ${j.errorMessage || ""}` : null);
    timeCell(tr, j.createdAt);
    const open = button(cell(tr, ""), "Open", () => loadDetail(j.queueName, j.id, true), "open");
    open.setAttribute("aria-label", `Open job ${j.id}`);
  }, "no jobs match");
}
$("#job-filters").addEventListener("submit", (event) => { event.preventDefault(); offset = 0; loadJobs(); });
$("#f-reset").addEventListener("click", () => { $("#job-filters").reset(); offset = 0; loadJobs(); });
$("#prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadJobs(); });
$("#next").addEventListener("click", () => { offset += PAGE; loadJobs(); });

// ---------- one job ----------
const DETAIL = `query($q: String!, $id: String!) { jobDetails(queueName: $q, jobId: $id) {
  id kind queueName status progress progressMessage attempts maxAttempts payload result errorCode errorMessage
  errorTraceback parentId subjectType subjectId worker celeryTaskId createdAt publishedAt startedAt finishedAt
  children { id kind queueName status }
  events { at status attempt message errorCode worker } } }`;
async function loadDetail(queueName, jobId, focus) {
  let j;
  try { j = (await gql(DETAIL, {q: queueName, id: jobId})).jobDetails; }
  catch (error) { status(`could not open job: ${error.message}`); return; }
  openJob = {queue: j.queueName, id: j.id};
  $("#detail").classList.remove("hidden");
  $("#d-id").textContent = j.id;
  const dl = $("#d-fields"); dl.replaceChildren();
  const field = (name, value) => {
    const dt = document.createElement("dt"); dt.textContent = name;
    const dd = document.createElement("dd"); dd.textContent = value === null || value === undefined ? "–" : String(value);
    dl.append(dt, dd);
    return dd;
  };
  field("kind", j.kind); field("queue", j.queueName);
  field("status", j.status).className = j.status;
  field("attempts", `${j.attempts} of ${j.maxAttempts}`);
  field("progress", `${Math.round(j.progress * 100)} %${j.progressMessage ? " · " + j.progressMessage : ""}`);
  field("subject", j.subjectType ? `${j.subjectType} ${j.subjectId}` : null);
  field("worker", j.worker); field("Celery task", j.celeryTaskId);
  for (const [name, key] of [["created", "createdAt"], ["published", "publishedAt"], ["started", "startedAt"], ["finished", "finishedAt"]]) {
    field(name, when(j[key]));
  }
  $("#d-payload").textContent = JSON.stringify(j.payload, null, 2);
  $("#d-result").textContent = j.result === null ? "–" : JSON.stringify(j.result, null, 2);
  $("#d-error-box").classList.toggle("hidden", !j.errorCode);
  $("#d-error").textContent = j.errorCode ? `${j.errorCode}: ${j.errorMessage || ""}` : "";
  $("#d-trace-box").classList.toggle("hidden", !j.errorTraceback);
  $("#d-trace").textContent = j.errorTraceback || "";
  const family = $("#d-family"); family.replaceChildren();
  const link = (label, target) => {
    const li = document.createElement("li");
    button(li, label, () => loadDetail(target.queueName || j.queueName, target.id, true), "open");
    family.appendChild(li);
  };
  if (j.parentId) link(`parent ${j.parentId.slice(0, 8)}`, {id: j.parentId});
  for (const c of j.children) link(`child ${c.id.slice(0, 8)} · ${c.kind} · ${c.status}`, c);
  if (!family.children.length) { const li = document.createElement("li"); li.textContent = "none"; family.appendChild(li); }
  fill("#d-events", j.events, (tr, e) => {
    timeCell(tr, e.at); cell(tr, e.status, e.status); cell(tr, e.attempt, "num"); cell(tr, e.message);
    cell(tr, e.errorCode); cell(tr, e.worker);
  });
  const actions = $("#d-actions"); actions.replaceChildren();
  if (j.status === "FAILED" || j.status === "CANCELLED") {
    button(actions, "Retry this job", () => retryJob(j.id), "control retry");
    applyRole(actions);
  }
  if (focus) $("#detail").focus();
}
$("#d-close").addEventListener("click", () => { openJob = null; $("#detail").classList.add("hidden"); });

// ---------- audit and charts ----------
async function loadAudit() {
  const entries = (await gql("{ adminAuditLog(limit: 20) { at action actorEmail subjectType subjectId details } }")).adminAuditLog;
  fill("#audit", entries, (tr, e) => {
    timeCell(tr, e.at); cell(tr, e.actorEmail || "system"); cell(tr, e.action.replace(/^admin\./, ""));
    cell(tr, e.subjectType ? `${e.subjectType} ${e.subjectId}` : null);
    const details = Object.entries(e.details || {}).filter(([, v]) => v !== null && !(Array.isArray(v) && v.length > 3));
    cell(tr, details.map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join("; "));
  }, "no control actions yet");
}
async function loadCharts() {
  const hours = Number($("#chart-hours").value);
  const minutes = hours <= 1 ? 2 : hours <= 6 ? 10 : hours <= 24 ? 30 : 240;
  const points = (await gql(`query($q: String, $h: Int, $m: Int) { jobHistory(queueName: $q, hours: $h, bucketMinutes: $m) {
    at succeeded failed failureRate p50DurationSeconds p95DurationSeconds } }`,
    {q: $("#chart-queue").value || null, h: hours, m: minutes})).jobHistory;
  LyceumCharts.bars($("#chart-throughput"), points, minutes, "throughput per bucket");
  LyceumCharts.lines($("#chart-durations"), points, [
    {name: "p50", color: "#1a5fb4", value: (p) => p.p50DurationSeconds},
    {name: "p95", color: "#8a5300", value: (p) => p.p95DurationSeconds}], "run time p50 and p95");
  LyceumCharts.lines($("#chart-failures"), points, [
    {name: "failure rate", color: "#b3261e", value: (p) => p.failureRate === null ? null : p.failureRate * 100}], "failure rate");
}
for (const id of ["#chart-queue", "#chart-hours"]) $(id).addEventListener("change", () => { dirty.charts = true; });

// ---------- signing in and out ----------
function showSignIn() {
  $("#signin").classList.remove("hidden"); $("#main").classList.add("hidden"); $("#who").classList.add("hidden");
  $("#email").focus();
}
function start() {
  $("#signin").classList.add("hidden"); $("#main").classList.remove("hidden"); $("#who").classList.remove("hidden");
  $("#whoami").textContent = `${session.email} · ${isAdmin() ? "admin" : "read-only operator"}`;
  status(isAdmin() ? "signed in" : "signed in as a read-only operator: controls are disabled");
  Object.keys(dirty).forEach((k) => { dirty[k] = true; });
  scheduleRenewal();
  connect();
  clearInterval(tick); tick = setInterval(onTick, 1000); onTick();
}
function stop() {
  clearInterval(tick); clearTimeout(refreshTimer); tick = null;
  const old = socket; socket = null; if (old) old.close();
}
$("#signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const d = await post(`mutation($i: LoginInput!) { login(input: $i) { ${AUTH} } }`,
      {i: {email: $("#email").value, password: $("#password").value}});
    if (!["ADMIN", "OPERATOR"].includes(d.login.user.role)) { status("this account is not an admin or operator"); return; }
    keep(d.login); $("#password").value = ""; notice(null); start();
  } catch (error) { status("sign-in failed: " + error.message); }
});
$("#signout").addEventListener("click", async () => {
  const refreshToken = session && session.refreshToken;
  stop();
  session = null; store.removeItem("lms.console");
  if (refreshToken) {
    try { await post("mutation($i: LogoutInput) { logout(input: $i) { revokedSessions } }", {i: {refreshToken}}); } catch (error) { /* signed out here anyway */ }
  }
  notice(null); status("signed out"); showSignIn();
});

for (const select of [$("#f-queue"), $("#chart-queue")]) {
  for (const q of QUEUES) { const o = document.createElement("option"); o.textContent = q; select.appendChild(o); }
}
if (session) start(); else showSignIn();
