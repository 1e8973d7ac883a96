// Community-centre dashboard: login, live alert board, offline map, home page.
import { ApiError, esc, get, login, logout, me } from "./api.js";
import { AlertBoard } from "./board.js";
import { showHome } from "./home.js";
import { applyText, langSwitch, t } from "./i18n.js";
import { LiveFeed } from "./live.js";
import { HomeMap } from "./map.js";
import { showKpis } from "./kpis.js";
import { PlanView } from "./plans.js";
import { showUsers } from "./users.js";
import { showAssessments } from "./assess.js";

const $ = (sel) => document.querySelector(sel);
let feed = null;

function show(view) {
  document.querySelectorAll("main > section").forEach((s) => { s.hidden = s.id !== view; });
  document.querySelectorAll("nav [data-view]").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
}

async function listHomes() {
  const homes = await get("/api/homes?limit=200");
  $("#home").innerHTML = `<p>${t("select")}</p><ul class="homes">${homes.map((h) =>
    `<li><a href="#" data-home="${esc(h.id)}">${esc(h.address)}</a> <small>${esc(h.id)}</small></li>`).join("")}</ul>`;
  $("#home").querySelectorAll("[data-home]").forEach((a) => a.addEventListener("click", async (e) => {
    e.preventDefault(); await showHome($("#home"), a.dataset.home); }));
}

async function listAudit() {
  const rows = await get("/api/audit?limit=200");
  $("#audit").innerHTML = `<table class="devices"><tr><th>${t("when")}</th><th>${t("who")}</th><th>${t("what")}</th>
    <th>${t("resident")}</th><th>${t("why")}</th></tr>${rows.map((r) => `<tr><td>${new Date(r.at).toLocaleString()}</td>
    <td>${esc(r.username)} (${esc(r.role)})</td><td>${esc(r.action)} ${esc(r.resource)}</td>
    <td>${esc(r.resident_ids.join(", "))}</td><td>${esc(r.reason)}</td></tr>`).join("")}</table>`;
}

async function start(user) {
  $("#login").hidden = true; $("#app").hidden = false;
  $("#who").textContent = `${user.name} (${user.role})`;
  document.querySelector("nav [data-view=audit]").hidden = user.role !== "admin";
  document.querySelector("nav [data-view=users]").hidden = user.role !== "admin";
  document.querySelector("nav [data-view=plans]").hidden = !["admin", "staff"].includes(user.role);
  document.querySelector("nav [data-view=kpis]").hidden = !["admin", "staff"].includes(user.role);
  document.querySelector("nav [data-view=assess]").hidden = !["admin", "staff"].includes(user.role);
  const plans = new PlanView($("#plans"));
  const board = new AlertBoard($("#board"));
  const map = new HomeMap($("#map-canvas"), async (homeId) => { show("home"); await showHome($("#home"), homeId); });
  $("#legend").innerHTML = map.legend();
  window.addEventListener("langchange", () => { $("#legend").innerHTML = map.legend(); });
  await board.load();
  feed = new LiveFeed((ev) => {
    board.onEvent(ev).then(() => map.setAlertHomes([...board.alerts.values()].map((a) => a.home_id)));
    plans.onEvent(ev);
  }, (state) => { $("#live-state").dataset.t = state; $("#live-state").textContent = t(state); $("#live-state").className = state; });
  feed.start();
  document.querySelectorAll("nav [data-view]").forEach((b) => b.addEventListener("click", async () => {
    show(b.dataset.view);
    if (b.dataset.view === "map") await map.load();
    if (b.dataset.view === "home") await listHomes();
    if (b.dataset.view === "audit") await listAudit();
    if (b.dataset.view === "users") await showUsers($("#users"), user);
    if (b.dataset.view === "plans") await plans.load();
    if (b.dataset.view === "kpis") await showKpis($("#kpis"));
    if (b.dataset.view === "assess") await showAssessments($("#assess"));
  }));
  $("#sound").checked = board.sound;
  $("#sound").addEventListener("change", () => { board.sound = $("#sound").checked; localStorage.setItem("sound", board.sound ? "on" : "off"); });
  show("alerts");
}

async function main() {
  langSwitch($("#lang"), () => applyText(document));
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#login-error").textContent = "";
    try {
      const res = await login($("#username").value, $("#password").value);
      await start(res.user);
    } catch (err) {
      $("#login-error").textContent = err instanceof ApiError && err.status === 429 ? t("throttled") : t("badLogin");
    }
  });
  $("#logout").addEventListener("click", async () => { if (feed) feed.stop(); await logout(); location.reload(); });
  const user = await me();
  if (user) await start(user);
}

main();
