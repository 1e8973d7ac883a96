// Caregiver phone page: today's route in order, check-in / check-out with notes and a problem flag, offline queue.
import { ApiError, esc, get, login, logout, me } from "./api.js";
import { applyText, langSwitch, t } from "./i18n.js";
import { LiveFeed } from "./live.js";
import { enqueue, flush, pending } from "./queue.js";

const $ = (sel) => document.querySelector(sel);
let visits = [];

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

function render() {
  drawRoute();
  const queued = pending();
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
  enqueue(`/api/my/visits/${encodeURIComponent(visit.task_id)}/${act}`, body);
  // optimistic; the server is the truth (the list reloads on the next task or plan event)
  if (act === "check-in") visit.status = "started";
  if (act === "check-out") visit.status = "done";
  if (act === "accept") visit.accepted = true;
  if (act === "decline") visits = visits.filter((v) => v !== visit);
  render();
  await flush(render);
}

async function load() {
  try { visits = await get("/api/my/visits"); localStorage.setItem("visits", JSON.stringify(visits)); }
  catch (e) { visits = JSON.parse(localStorage.getItem("visits") || "[]"); }
  render();
}

async function start(user) {
  $("#login").hidden = true; $("#app").hidden = false;
  $("#who").textContent = user.name;
  await flush(render);
  await load();
  new LiveFeed(async (ev) => {
    if (ev.topic !== "task" && ev.topic !== "plan") return;
    const known = new Set(visits.map((v) => v.task_id));
    await load();
    const fresh = visits.filter((v) => v.urgent && !known.has(v.task_id));
    if (fresh.length && navigator.vibrate) navigator.vibrate([300, 100, 300]); // a new urgent job
  }).start();
}

async function main() {
  langSwitch($("#lang"), () => { applyText(document); render(); });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  window.addEventListener("online", () => flush(render));
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await start((await login($("#username").value, $("#password").value)).user); }
    catch (err) { $("#login-error").textContent = err instanceof ApiError && err.status === 429 ? t("throttled") : t("badLogin"); }
  });
  $("#logout").addEventListener("click", async () => { await logout(); location.reload(); });
  const user = await me().catch(() => null);
  if (user) await start(user);
}

main();
