// Caregiver phone page: today's route in order, check-in / check-out with notes and a problem flag, offline queue.
import { ApiError, esc, get, login, logout, me } from "./api.js";
import { applyText, langSwitch, t } from "./i18n.js";
import { LiveFeed } from "./live.js";
import { clear as clearQueue, discard, enqueue, flush, pending, rejected, retry } from "./queue.js";

const $ = (sel) => document.querySelector(sel);
const VISITS_KEY = "visits"; // today's visits for offline use (names, addresses, door codes): gone at logout
let visits = [];
let feed = null;
let owner = null; // the logged-in user whose day the cache holds

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve({});
    navigator.geolocation.getCurrentPosition((p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      () => resolve({}), { timeout: 3000, maximumAge: 60000 });
  });
}

function hhmm(iso) { return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : ""; }

// Today's stops in order on a small offline map (our own coordinates, no tile server); done ones greyed.
function drawRoute() {
  const c = $("#route-map");
  const pts = visits.filter((v) => v.lat !== undefined);
  c.hidden = !pts.length;
  if (!pts.length) return;
  c.width = c.clientWidth * devicePixelRatio; c.height = c.clientHeight * devicePixelRatio;
  const g = c.getContext("2d");
  const lats = pts.map((v) => v.lat); const lons = pts.map((v) => v.lon);
  const pad = 0.0005; const minLat = Math.min(...lats) - pad; const maxLat = Math.max(...lats) + pad;
  const minLon = Math.min(...lons) - pad; const maxLon = Math.max(...lons) + pad;
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const scale = Math.min(c.width / ((maxLon - minLon) * k), c.height / (maxLat - minLat));
  const xy = (v) => [(v.lon - minLon) * k * scale, (maxLat - v.lat) * scale];
  g.strokeStyle = "#1565c0"; g.lineWidth = 2 * devicePixelRatio; g.beginPath();
  pts.forEach((v, i) => { const [x, y] = xy(v); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
  g.stroke();
  g.font = `${12 * devicePixelRatio}px sans-serif`; g.textAlign = "center"; g.textBaseline = "middle";
  pts.forEach((v, i) => {
    const [x, y] = xy(v);
    g.beginPath(); g.arc(x, y, 10 * devicePixelRatio, 0, 2 * Math.PI);
    g.fillStyle = v.status === "done" ? "#9e9e9e" : v.urgent ? "#c62828" : "#1565c0"; g.fill();
    g.fillStyle = "#fff"; g.fillText(String(i + 1), x, y);
  });
}

// Why the server refused a queued action, in the caregiver's words, and what she can do about it.
function refusal(reason) {
  if (reason.status === 404) return t("rejectedMoved");
  if (reason.status === 409) return t("rejectedState");
  if (reason.status === 422 && reason.code === "clock_ahead") return t("rejectedClock");
  if (reason.status === 422) return t("rejectedInvalid");
  return t("rejectedOther");
}

function renderRejected() {
  const box = $("#rejected");
  const items = rejected();
  box.hidden = !items.length;
  box.innerHTML = items.length ? `<h2>${t("rejectedTitle")}</h2>` + items.map((i) => `
    <article class="visit rejected" data-rejected="${esc(i.id)}" data-status="${esc(i.rejected.status)}">
      <header><strong>${esc(t(i.label.action === "check-out" ? "checkOut" : i.label.action === "check-in" ? "checkIn" : i.label.action || ""))}</strong>
        ${esc(t("taskKinds")[i.label.kind] || i.label.kind || "")} ${hhmm(i.label.start)} · ${esc(hhmm(i.body.at))}</header>
      <p class="error" data-reason>${esc(refusal(i.rejected))}</p>
      <p class="detail">${esc(i.rejected.status)} ${esc(i.rejected.message)}</p>
      <div class="actions">
        ${i.rejected.code === "clock_ahead" ? `<button data-retry-now>${t("retryServerTime")}</button>` : `<button data-retry>${t("retry")}</button>`}
        <button data-discard>${t("discard")}</button>
      </div>
    </article>`).join("") : "";
  box.querySelectorAll("[data-rejected]").forEach((card) => {
    const id = card.dataset.rejected;
    card.querySelector("[data-retry]")?.addEventListener("click", async () => { retry(id); await sync(); await load(); });
    card.querySelector("[data-retry-now]")?.addEventListener("click", async () => { retry(id, { serverTime: true }); await sync(); await load(); });
    card.querySelector("[data-discard]").addEventListener("click", async () => {
      if (!confirm(t("confirmDiscard"))) return;
      discard(id); await sync(); await load();
    });
  });
}

function render() {
  drawRoute();
  renderRejected();
  const queued = pending().filter((i) => !i.rejected);
  $("#queued").textContent = queued.length ? `${queued.length} ${t("queued")}` : "";
  if (!visits.length) { $("#visits").innerHTML = `<p class="empty">${t("noVisits")}</p>`; return; }
  $("#visits").innerHTML = visits.map((v, i) => `
    <article class="visit ${v.status === "done" ? "done" : ""} ${v.urgent ? "urgent" : ""}" data-task="${esc(v.task_id)}">
      <header><strong>${i + 1}. ${hhmm(v.planned_start)}–${hhmm(v.planned_end)}</strong> ${esc(t("taskKinds")[v.kind] || v.kind)}
        ${v.urgent ? `<span class="badge">${t("urgent")}</span>` : ""}
        <span class="badge" data-status>${esc(t(v.status) || v.status)}</span></header>
      <div><strong>${esc(v.resident_name)}</strong> · ${esc(v.address)}</div>
      <div>${t("accessNotes")}: ${esc(v.access_notes)}</div>
      <div>${t("careNotes")}: ${esc(v.care_notes)}</div>
      ${v.status === "started" ? `<textarea data-notes placeholder="${t("whatDone")}"></textarea>
        <label><input type="checkbox" data-problem> ${t("problem")}</label>` : ""}
      <div class="actions">
        ${v.urgent && !v.accepted && ["planned", "pending"].includes(v.status) ? `<button data-act="accept">${t("accept")}</button>
          <button data-act="decline">${t("decline")}</button>` : ""}
        ${["planned", "pending"].includes(v.status) ? `<button data-act="check-in">${t("checkIn")}</button>` : ""}
        ${v.status === "started" ? `<button data-act="check-out">${t("checkOut")}</button>` : ""}
      </div>
    </article>`).join("");
  document.querySelectorAll("button[data-act]").forEach((b) => b.addEventListener("click", () => act(b)));
}

async function act(button) {
  const card = button.closest("[data-task]");
  const visit = visits.find((v) => v.task_id === card.dataset.task);
  const body = await position();
  if (button.dataset.act === "check-out") {
    body.notes = card.querySelector("[data-notes]").value;
    body.problem = card.querySelector("[data-problem]").checked;
  }
  const act = button.dataset.act;
  enqueue(`/api/my/visits/${encodeURIComponent(visit.task_id)}/${act}`, body,
    { action: act, task_id: visit.task_id, kind: visit.kind, start: visit.planned_start });
  // optimistic; the server is the truth (the list reloads on the next task or plan event)
  if (act === "check-in") visit.status = "started";
  if (act === "check-out") visit.status = "done";
  if (act === "accept") visit.accepted = true;
  if (act === "decline") visits = visits.filter((v) => v !== visit);
  render();
  await sync();
}

// Send the queue; when the session is gone, ask her to log in again (the queue waits, then goes out).
async function sync() {
  const refused = rejected().length;
  const result = await flush(render);
  if (result === "login") askLogin();
  if (rejected().length > refused) await load(); // undo the optimistic status: the server is the truth
  else render();
  return result;
}

function askLogin() {
  const waiting = pending().length;
  $("#login").hidden = false;
  $("#login-note").textContent = waiting ? `${t("sessionEnded")} (${waiting} ${t("queued")})` : t("sessionEnded");
}

async function load() {
  try {
    visits = await get("/api/my/visits");
    localStorage.setItem(VISITS_KEY, JSON.stringify({ owner: owner, visits }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) askLogin();
    const cached = JSON.parse(localStorage.getItem(VISITS_KEY) || "{}");
    visits = cached.owner === owner ? cached.visits || [] : []; // never another caregiver's day
  }
  render();
}

async function start(user) {
  owner = user.id ?? user.username;
  const cached = JSON.parse(localStorage.getItem(VISITS_KEY) || "{}");
  if (cached.owner !== owner) localStorage.removeItem(VISITS_KEY);
  $("#login").hidden = true; $("#app").hidden = false; $("#login-note").textContent = "";
  $("#who").textContent = user.name;
  await sync();
  await load();
  if (feed) return; // logged in again after the session ended: the feed is already running
  feed = new LiveFeed(async (ev) => {
    if (ev.topic !== "task" && ev.topic !== "plan") return;
    const known = new Set(visits.map((v) => v.task_id));
    await load();
    const fresh = visits.filter((v) => v.urgent && !known.has(v.task_id));
    if (fresh.length && navigator.vibrate) navigator.vibrate([300, 100, 300]); // a new urgent job
  });
  feed.start();
}

// Logout leaves no resident data on the phone: the cached visits and the queue (its notes) are removed,
// after one more try to send the queue and, if actions are still unsent, the caregiver's confirmation.
async function logoutHere() {
  await sync();
  if (pending().length && !confirm(`${pending().length} ${t("confirmLogoutQueued")}`)) return;
  await logout();
  localStorage.removeItem(VISITS_KEY);
  clearQueue();
  location.reload();
}

async function main() {
  langSwitch($("#lang"), () => { applyText(document); render(); });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  window.addEventListener("online", () => sync());
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await start((await login($("#username").value, $("#password").value)).user); }
    catch (err) { $("#login-error").textContent = err instanceof ApiError && err.status === 429 ? t("throttled") : t("badLogin"); }
  });
  $("#logout").addEventListener("click", logoutHere);
  const user = await me().catch(() => null);
  if (user) await start(user);
  else if (pending().length) askLogin(); // the session ended with actions still queued: they wait for her
}

main();
