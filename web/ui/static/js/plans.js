// Plans view: each caregiver's day as a timeline, unassigned tasks with their reasons, run a plan, the last re-plan's diff.
import { ApiError, esc, get, post, serviceDay } from "./api.js";
import { t } from "./i18n.js";

const COLOURS = { meal: "#2e7d32", bathing: "#1565c0", cleaning: "#6a1b9a", escort: "#ef6c00", visit: "#00838f",
  emergency: "#c62828" };
const ROW = 26, LABEL = 110, WIDTH = 1100;

function hhmm(minute) { return `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`; }

export class PlanView {
  constructor(root) { this.root = root; this.station = null; this.day = serviceDay(); this.running = false; }

  async load() {
    const stations = await get("/api/stations");
    if (!this.station && stations.length) this.station = stations[0].id;
    this.root.innerHTML = `
      <div class="plan-controls">
        <select data-station>${stations.map((s) => `<option value="${esc(s.id)}" ${s.id === this.station ? "selected" : ""}>${esc(s.name)}</option>`).join("")}</select>
        <input type="date" data-day value="${esc(this.day)}">
        <button data-run>${t("runPlan")}</button>
        <progress data-progress hidden></progress> <span data-status></span>
      </div>
      <div data-timeline class="timeline"></div><div data-diff></div><div data-unassigned></div><div data-rejected></div>`;
    this.root.querySelector("[data-station]").addEventListener("change", (e) => { this.station = e.target.value; this.show(); });
    this.root.querySelector("[data-day]").addEventListener("change", (e) => { this.day = e.target.value; this.show(); });
    this.root.querySelector("[data-run]").addEventListener("click", () => this.run());
    await this.show();
  }

  async show() {
    const box = this.root.querySelector("[data-timeline]");
    if (!box || !this.station) return;
    let plan;
    try {
      plan = await get(`/api/stations/${encodeURIComponent(this.station)}/plan?day=${this.day}`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      box.innerHTML = `<p class="empty">${t("noPlan")}</p>`;
      this.root.querySelector("[data-unassigned]").innerHTML = ""; this.root.querySelector("[data-diff]").innerHTML = "";
      return;
    }
    this.root.querySelector("[data-status]").textContent = `v${plan.version} · ${plan.body.status} · ${plan.reason}`;
    this.rejected();
    box.innerHTML = this.timeline(plan.body);
    this.root.querySelector("[data-diff]").innerHTML = this.diff(plan.diff);
    const kinds = Object.fromEntries(plan.body.problem.tasks.map((task) => [task.id, task]));
    this.root.querySelector("[data-unassigned]").innerHTML = plan.body.unassigned.length ? `<h3>${t("unassigned")} (${plan.body.unassigned.length})</h3>
      <ul>${plan.body.unassigned.map((u) => `<li>${esc(u.task_id)} ${esc(kinds[u.task_id]?.kind || "")} · ${esc(kinds[u.task_id]?.home_id || "")}: ${esc(u.reason)}</li>`).join("")}</ul>` : "";
  }

  timeline(body) {
    const tasks = Object.fromEntries(body.problem.tasks.map((task) => [task.id, task]));
    const routes = body.routes.filter((r) => r.visits.length);
    if (!routes.length) return `<p class="empty">${t("noVisits")}</p>`;
    const from = Math.floor(Math.min(...routes.map((r) => r.depart)) / 60) * 60;
    const to = Math.ceil(Math.max(...routes.map((r) => r.back)) / 60) * 60;
    const x = (m) => LABEL + ((m - from) / Math.max(60, to - from)) * (WIDTH - LABEL - 10);
    const hours = [];
    for (let h = from; h <= to; h += 60) hours.push(`<line x1="${x(h)}" y1="14" x2="${x(h)}" y2="${20 + routes.length * ROW}" class="grid"/><text x="${x(h)}" y="11" class="hour">${hhmm(h)}</text>`);
    const rows = routes.map((r, i) => {
      const y = 20 + i * ROW;
      const bars = r.visits.map((v) => {
        const task = tasks[v.task_id] || {};
        return `<rect x="${x(v.start)}" y="${y + 3}" width="${Math.max(2, x(v.end) - x(v.start))}" height="${ROW - 8}" fill="${COLOURS[task.kind] || "#555"}" data-task="${esc(v.task_id)}">
          <title>${esc(task.kind || "")} ${esc(task.home_id || "")} ${hhmm(v.start)}–${hhmm(v.end)}${v.partner ? " + " + esc(v.partner) : ""}</title></rect>`;
      }).join("");
      const rests = r.breaks.map((b) => `<rect x="${x(b.start)}" y="${y + 9}" width="${Math.max(2, x(b.end) - x(b.start))}" height="${ROW - 20}" class="break"><title>${t("break")} ${hhmm(b.start)}–${hhmm(b.end)}</title></rect>`).join("");
      return `<text x="4" y="${y + ROW / 2 + 4}" class="who">${esc(r.caregiver_id)}</text>
        <line x1="${x(r.depart)}" y1="${y + ROW / 2}" x2="${x(r.back)}" y2="${y + ROW / 2}" class="shift"/>${rests}${bars}`;
    }).join("");
    const legend = Object.entries(COLOURS).map(([k, c]) => `<span><i style="background:${c}"></i>${esc(t("kinds")[k] || t("taskKinds")[k] || k)}</span>`).join("");
    return `<div class="legend">${legend}</div><svg class="gantt" viewBox="0 0 ${WIDTH} ${30 + routes.length * ROW}" role="img" aria-label="${t("plans")}">${hours.join("")}${rows}</svg>`;
  }

  diff(diff) {
    if (!diff) return "";
    const moved = diff.moved.map((m) => `<li>${esc(m.task_id)}: ${esc(m.from_caregiver || "–")} → ${esc(m.to_caregiver || "–")} (${m.old_start === null ? "–" : hhmm(m.old_start)} → ${m.new_start === null ? "–" : hhmm(m.new_start)})</li>`).join("");
    return `<div class="diff"><strong>${t("lastReplan")}</strong>: ${t("urgent")} ${esc(diff.urgent_task_id)} → ${esc(diff.assigned_to.join(" + ") || t("unassigned"))}
      ${diff.urgent_start === null ? "" : `@ ${hhmm(diff.urgent_start)}`} · ${t("moved")}: ${diff.moved.length}, ${t("unchanged")}: ${diff.unchanged}<ul>${moved}</ul></div>`;
  }

  // Run plan starts a background job (202) and polls it: the solve may take up to two minutes and must not
  // hold the API's connections; the progress lines and the stored version show as they come.
  async run() {
    if (this.running || !this.station) return;
    this.running = true;
    const bar = this.root.querySelector("[data-progress]");
    const status = this.root.querySelector("[data-status]");
    const limit = 10, began = Date.now(), station = this.station;
    bar.hidden = false; bar.max = limit; bar.value = 0;
    const timer = setInterval(() => { bar.value = Math.min(limit, (Date.now() - began) / 1000); }, 200);
    status.textContent = t("solving");
    try {
      let job = await post(`/api/stations/${encodeURIComponent(station)}/plan`, { day: this.day, time_limit_s: limit });
      const path = `/api/stations/${encodeURIComponent(station)}/plan/jobs/${encodeURIComponent(job.id)}`;
      while (job.state === "queued" || job.state === "running") {
        status.textContent = `${t(job.state === "queued" ? "planQueued" : "solving")} ${job.progress.length ? job.progress[job.progress.length - 1] : ""}`;
        await new Promise((resolve) => setTimeout(resolve, 500));
        job = await get(path);
      }
      if (job.state === "failed") throw new Error(`${t("planFailed")}: ${job.error || ""}`);
      await this.show();
      status.textContent = `${t("planStored")} v${job.version} · ${status.textContent}`;
    } catch (e) {
      status.textContent = e.message;
    } finally {
      clearInterval(timer); bar.hidden = true; this.running = false;
    }
  }

  // Check-ins and check-outs the server refused from caregivers' phones today (visit moved, out of order,
  // phone clock ahead): the caregiver sees them on the phone, the station sees them here.
  async rejected() {
    const box = this.root.querySelector("[data-rejected]");
    if (!box || !this.station) return;
    const rows = await get(`/api/stations/${encodeURIComponent(this.station)}/rejected-actions?day=${this.day}`).catch(() => []);
    box.innerHTML = rows.length ? `<h3>${t("rejectedActions")} (${rows.length})</h3><ul>${rows.map((r) => `<li data-rejected-task="${esc(r.task_id)}">
      ${esc(new Date(r.at).toLocaleTimeString())} · ${esc(r.caregiver_id)} · ${esc(r.action)} ${esc(r.task_id)}: ${esc(r.code)} — ${esc(r.reason)}</li>`).join("")}</ul>` : "";
  }

  onEvent(ev) {
    if (ev.topic === "task" && ev.body?.action === "rejected" && ev.station_id === this.station && !this.root.hidden) this.rejected();
    if (ev.topic === "plan" && ev.station_id === this.station && !this.root.hidden) this.show();
  }
}
