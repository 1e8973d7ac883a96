// Home page: resident card, devices with health, and canvas charts of the last 7 days.
import { esc, get } from "./api.js";
import { t } from "./i18n.js";

function chart(canvas, points, value, colour) {
  canvas.width = canvas.clientWidth * devicePixelRatio; canvas.height = canvas.clientHeight * devicePixelRatio;
  const g = canvas.getContext("2d"); const w = canvas.width; const h = canvas.height; const pad = 30 * devicePixelRatio;
  g.clearRect(0, 0, w, h);
  const vals = points.map(value).filter((v) => v !== null && v !== undefined);
  if (!vals.length) return;
  const lo = Math.min(0, ...vals); const hi = Math.max(...vals, lo + 1);
  const t0 = Date.parse(points[0].t); const t1 = Math.max(Date.parse(points[points.length - 1].t), t0 + 1);
  g.strokeStyle = "#999"; g.strokeRect(pad, 4, w - pad - 4, h - pad);
  g.fillStyle = "#333"; g.font = `${10 * devicePixelRatio}px sans-serif`;
  g.fillText(hi.toFixed(1), 2, 14 * devicePixelRatio); g.fillText(lo.toFixed(1), 2, h - pad);
  g.beginPath(); g.strokeStyle = colour; g.lineWidth = 1.5 * devicePixelRatio;
  points.forEach((p, i) => {
    const v = value(p); if (v === null || v === undefined) return;
    const x = pad + ((Date.parse(p.t) - t0) / (t1 - t0)) * (w - pad - 8);
    const y = 4 + (1 - (v - lo) / (hi - lo)) * (h - pad - 4);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

export async function showHome(root, homeId) {
  const home = await get(`/api/homes/${encodeURIComponent(homeId)}`);
  const [devices, activity, temp] = await Promise.all([
    get(`/api/devices?home_id=${encodeURIComponent(homeId)}`),
    get(`/api/homes/${encodeURIComponent(homeId)}/readings?metric=occupancy&hours=168&bucket_minutes=60`),
    get(`/api/homes/${encodeURIComponent(homeId)}/readings?metric=temperature&hours=168&bucket_minutes=60`),
  ]);
  root.innerHTML = `
    <h2>${esc(home.address)} <small>${esc(home.id)}</small></h2>
    ${home.residents.map((r) => `<div class="card resident"><strong>${esc(r.name)}</strong>
      ${r.birth_year ? `(${esc(r.birth_year)})` : ""} ${esc(r.sex || "")}
      <div>${t("careNotes")}: ${esc(r.care_notes)}</div><div>${t("accessNotes")}: ${esc(r.access_notes)}</div></div>`).join("")}
    <h3>${t("devices")}</h3>
    <table class="devices"><tr><th>id</th><th>${t("kind")}</th><th>${t("room")}</th><th>${t("health")}</th><th>${t("battery")}</th><th>${t("lastSeen")}</th></tr>
    ${devices.map((d) => `<tr class="${d.reported_status === "offline" || d.battery_low ? "bad" : ""}">
      <td>${esc(d.id)}</td><td>${esc(d.kind)}</td><td>${esc(d.room || "")}</td><td>${esc(d.reported_status || "-")}</td>
      <td>${d.battery ?? "-"}</td><td>${d.last_seen ? new Date(d.last_seen).toLocaleString() : "-"}</td></tr>`).join("")}
    </table>
    <h3>${t("activity")} · ${t("chart")}</h3><canvas class="chart" id="c-activity"></canvas>
    <h3>${t("temperature")} · ${t("chart")}</h3><canvas class="chart" id="c-temp"></canvas>`;
  chart(root.querySelector("#c-activity"), activity.points, (p) => p.events, "#1565c0");
  chart(root.querySelector("#c-temp"), temp.points, (p) => p.avg, "#c62828");
}
