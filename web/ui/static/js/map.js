// Offline map drawn from our own data on a canvas: homes by status, stations with their 15-minute circles,
// caregivers' planned routes today and where each one last checked in or out.
import { get } from "./api.js";
import { t } from "./i18n.js";

const COLOURS = { ok: "#2e7d32", device_problem: "#f9a825", alert: "#c62828" };
const ROUTE_COLOURS = ["#6a1b9a", "#00838f", "#ef6c00", "#283593", "#ad1457", "#558b2f", "#4e342e", "#0277bd"];

export class HomeMap {
  constructor(canvas, onPick) {
    this.canvas = canvas;
    this.onPick = onPick;
    this.data = { stations: [], homes: [] };
    this.routes = [];
    this.alertHomes = new Set();
    canvas.addEventListener("click", (e) => this.pick(e));
    window.addEventListener("resize", () => this.draw());
    window.addEventListener("langchange", () => this.draw());
  }

  async load() {
    this.data = await get("/api/map");
    this.routes = await get("/api/map/routes").catch(() => []); // staff and admins only
    this.draw();
  }

  setAlertHomes(homes) { this.alertHomes = new Set(homes); this.draw(); }

  bounds() {
    const pts = [...this.data.homes, ...this.data.stations];
    if (!pts.length) return null;
    let minLat = Infinity; let maxLat = -Infinity; let minLon = Infinity; let maxLon = -Infinity;
    for (const p of pts) {
      const r = (p.circle_m || 300) / 111320; // a station's circle must fit too
      minLat = Math.min(minLat, p.lat - r); maxLat = Math.max(maxLat, p.lat + r);
      minLon = Math.min(minLon, p.lon - r); maxLon = Math.max(maxLon, p.lon + r);
    }
    return { minLat, maxLat, minLon, maxLon };
  }

  // Equirectangular projection, corrected for latitude so that circles stay round.
  projector() {
    const b = this.bounds(); const c = this.canvas;
    const k = Math.cos(((b.minLat + b.maxLat) / 2) * Math.PI / 180);
    const scale = Math.min(c.width / ((b.maxLon - b.minLon) * k), c.height / (b.maxLat - b.minLat));
    return { scale, k, xy: (lat, lon) => [(lon - b.minLon) * k * scale, (b.maxLat - lat) * scale] };
  }

  draw() {
    const c = this.canvas;
    c.width = c.clientWidth * devicePixelRatio; c.height = c.clientHeight * devicePixelRatio;
    const g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    if (!this.bounds()) return;
    const p = this.projector();
    for (const s of this.data.stations) {
      const [x, y] = p.xy(s.lat, s.lon);
      const r = (s.circle_m / 111320) * p.scale;
      g.beginPath(); g.arc(x, y, r, 0, 2 * Math.PI);
      g.fillStyle = "rgba(21,101,192,0.08)"; g.fill(); g.strokeStyle = "#1565c0"; g.stroke();
      g.fillStyle = "#1565c0"; g.fillRect(x - 5, y - 5, 10, 10);
      g.font = `${12 * devicePixelRatio}px sans-serif`; g.fillText(s.name, x + 8, y - 8);
    }
    const size = Math.max(2, devicePixelRatio * (this.data.homes.length > 2000 ? 2 : 4));
    for (const h of this.data.homes) {
      const [x, y] = p.xy(h.lat, h.lon);
      g.fillStyle = COLOURS[this.alertHomes.has(h.id) ? "alert" : h.status] || "#555";
      g.fillRect(x - size / 2, y - size / 2, size, size);
    }
    this.drawRoutes(g, p);
  }

  drawRoutes(g, p) {
    this.routes.forEach((r, i) => {
      g.strokeStyle = ROUTE_COLOURS[i % ROUTE_COLOURS.length]; g.lineWidth = 1.5 * devicePixelRatio;
      g.beginPath();
      r.points.forEach(([lat, lon], k) => { const [x, y] = p.xy(lat, lon); if (k) g.lineTo(x, y); else g.moveTo(x, y); });
      g.stroke();
      if (r.at) {
        const [x, y] = p.xy(r.at[0], r.at[1]);
        g.beginPath(); g.arc(x, y, 6 * devicePixelRatio, 0, 2 * Math.PI); g.fillStyle = g.strokeStyle; g.fill();
        g.strokeStyle = "#fff"; g.stroke();
        g.fillStyle = "#222"; g.fillText(r.caregiver_id, x + 8, y + 4);
      }
    });
    g.lineWidth = 1;
  }

  pick(e) {
    if (!this.bounds()) return;
    const p = this.projector(); const r = this.canvas.getBoundingClientRect();
    const x = (e.clientX - r.left) * devicePixelRatio; const y = (e.clientY - r.top) * devicePixelRatio;
    let best = null; let bestD = 100 * devicePixelRatio;
    for (const h of this.data.homes) {
      const [hx, hy] = p.xy(h.lat, h.lon); const d = Math.hypot(hx - x, hy - y);
      if (d < bestD) { best = h; bestD = d; }
    }
    if (best) this.onPick(best.id);
  }

  legend() {
    return `<span style="color:${COLOURS.ok}">■</span> ${t("legendOk")} <span style="color:${COLOURS.device_problem}">■</span>
      ${t("legendProblem")} <span style="color:${COLOURS.alert}">■</span> ${t("legendAlert")}
      <span style="color:#1565c0">◯</span> ${t("circle")} <span style="color:${ROUTE_COLOURS[0]}">—●</span> ${t("carerRoute")}`;
  }
}
