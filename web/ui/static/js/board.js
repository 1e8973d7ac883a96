// Live alert board: colour by severity, a tone for new alerts, acknowledge / assign / resolve, escalation countdown.
import { ApiError, esc, get, post } from "./api.js";
import { currentLang, kindName, t } from "./i18n.js";

const SEVERITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3 };

export class AlertBoard {
  constructor(root) {
    this.root = root;
    this.alerts = new Map();
    this.sound = localStorage.getItem("sound") !== "off";
    this.available = true;
    setInterval(() => this.tick(), 1000);
    window.addEventListener("langchange", () => this.render());
  }

  async load() {
    try {
      const rows = await get("/api/alerts?status=active&limit=200");
      this.alerts = new Map(rows.map((a) => [a.id, a]));
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      this.available = false; // alert service not deployed: the board shows live events only
    }
    this.render();
  }

  // A live event about an alert: fetch its current state (scoped and audited by the API) and redraw.
  async onEvent(ev) {
    if (ev.topic !== "alert") return;
    const id = ev.subject_id;
    let alert = null;
    if (this.available) {
      try { alert = await get(`/api/alerts/${encodeURIComponent(id)}`); } catch (e) { if (e.status !== 404) throw e; }
    }
    alert = alert || { id, ...ev.body, home_id: ev.home_id, station_id: ev.station_id };
    const isNew = !this.alerts.has(alert.id);
    if (alert.status === "resolved") this.alerts.delete(alert.id); else this.alerts.set(alert.id, alert);
    if (isNew && alert.status !== "resolved") this.beep(alert.severity);
    this.render();
  }

  beep(severity) {
    if (!this.sound) return;
    try {
      const ctx = this.ctx || (this.ctx = new AudioContext());
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = severity === "critical" ? 880 : 660;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + (severity === "critical" ? 0.6 : 0.25));
    } catch (e) { /* no audio device */ }
  }

  countdown(a) {
    if (!a.escalate_at || a.status !== "open") return "";
    const s = Math.round((Date.parse(a.escalate_at) - Date.now()) / 1000);
    if (s <= 0) return `<span class="esc late">${t("escalated")}</span>`;
    return `<span class="esc">${t("escalatesIn")} ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}</span>`;
  }

  tick() { this.root.querySelectorAll("[data-countdown]").forEach((el) => {
    const a = this.alerts.get(el.dataset.countdown); if (a) el.innerHTML = this.countdown(a); }); }

  render() {
    const rows = [...this.alerts.values()].sort((a, b) =>
      (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || String(b.raised_at).localeCompare(String(a.raised_at)));
    if (!rows.length) { this.root.innerHTML = `<p class="empty">${t("noAlerts")}</p>`; return; }
    this.root.innerHTML = rows.map((a) => `
      <article class="alert sev-${esc(a.severity)}" data-alert="${esc(a.id)}">
        <header><strong class="kind">${esc(kindName(a.kind))}</strong>
          <span class="status">${esc(t(a.status) || a.status)}</span>
          ${a.family_acknowledged_at ? `<span class="family-ack">${t("familyAcknowledged")}</span>` : ""}
          <span data-countdown="${esc(a.id)}">${this.countdown(a)}</span></header>
        <div>${esc(a.resident_name || "")} · ${esc(a.address || a.home_id || "")}
          <time>${a.raised_at ? new Date(a.raised_at).toLocaleTimeString() : ""}</time>
          ${a.assigned_to ? `· ${t("assigned")}: ${esc(a.assigned_to)}` : ""}</div>
        <div class="reason">${esc(currentLang() === "zh-CN" ? a.reason_zh || a.reason_en : a.reason_en || a.reason_zh)}</div>
        <footer>
          ${a.status === "open" ? `<button data-act="ack">${t("ack")}</button>` : ""}
          <button data-act="assign">${t("assign")}</button>
          <select data-outcome>${Object.entries(t("outcomes")).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("")}</select>
          <input data-notes placeholder="${t("notes")}">
          <button data-act="resolve">${t("resolve")}</button>
        </footer>
        <div class="suggest" data-suggest></div>
      </article>`).join("");
    this.root.querySelectorAll("button[data-act]").forEach((b) => b.addEventListener("click", () => this.act(b)));
  }

  async act(button) {
    const card = button.closest("[data-alert]");
    const id = card.dataset.alert;
    const path = `/api/alerts/${encodeURIComponent(id)}`;
    button.disabled = true;
    try {
      let updated;
      if (button.dataset.act === "ack") updated = await post(`${path}/ack`, {});
      if (button.dataset.act === "assign") {  // show the planner's nearest suitable caregivers on shift
        const suggestions = await get(`${path}/suggestions`).catch(() => []);
        const box = card.querySelector("[data-suggest]");
        box.innerHTML = suggestions.length ? `${t("suggested")}: ${suggestions.map((s) =>
          `<button data-send="${esc(s.caregiver_id)}" title="${esc(s.reason)}">${esc(s.name)} · ${Math.round(s.eta_min)} ${t("min")}</button>`).join("")}`
          : t("noneOnShift");
        box.querySelectorAll("[data-send]").forEach((b) => b.addEventListener("click", async () => {
          const done = await post(`${path}/assign`, { caregiver_id: b.dataset.send }).catch((e) => { alert(e.message); });
          if (done) await this.onEvent({ topic: "alert", subject_id: done.id, body: done });
        }));
      }
      if (button.dataset.act === "resolve") {
        updated = await post(`${path}/resolve`, {
          outcome: card.querySelector("[data-outcome]").value, notes: card.querySelector("[data-notes]").value });
      }
      if (updated) await this.onEvent({ topic: "alert", subject_id: updated.id, body: updated });
    } catch (e) {
      alert(e.message);
    } finally {
      button.disabled = false;
    }
  }
}
