// KPI view: response times and visits done per station over a date range, as bars, with a CSV download.
import { esc, get, serviceDay } from "./api.js";
import { t } from "./i18n.js";

function bars(rows, key, unit, max) {
  const top = max || Math.max(1, ...rows.map((r) => r[key] ?? 0));
  return `<svg class="bars" viewBox="0 0 420 ${rows.length * 24 + 6}" role="img" aria-label="${esc(t(key))}">${rows.map((r, i) => {
    const v = r[key]; const w = v === null ? 0 : Math.max(1, (v / top) * 250);
    return `<text x="0" y="${i * 24 + 16}">${esc(r.station_id)}</text><rect x="140" y="${i * 24 + 4}" width="${w}" height="16"/>
      <text x="${146 + w}" y="${i * 24 + 16}">${v === null ? "–" : `${v}${unit}`}</text>`;
  }).join("")}</svg>`;
}

export async function showKpis(root) {
  const from = root.querySelector("[data-from]")?.value || serviceDay(-6);
  const to = root.querySelector("[data-to]")?.value || serviceDay(0);
  const rows = await get(`/api/reports/kpis?from=${from}&to=${to}`);
  const share = rows.map((r) => ({ ...r, done_pct: r.visits_done_share === null ? null : Math.round(r.visits_done_share * 100) }));
  root.innerHTML = `
    <div class="plan-controls"><input type="date" data-from value="${from}"> – <input type="date" data-to value="${to}">
      <a href="/api/reports/kpis?from=${from}&to=${to}&format=csv" download>CSV</a></div>
    <div class="kpis">
      <figure><figcaption>${t("ackP50")}</figcaption>${bars(rows, "ack_min_p50", ` ${t("min")}`)}</figure>
      <figure><figcaption>${t("arrivalP50")}</figcaption>${bars(rows, "arrival_min_p50", ` ${t("min")}`)}</figure>
      <figure><figcaption>${t("visitsDone")}</figcaption>${bars(share, "done_pct", "%", 100)}</figure>
      <figure><figcaption>${t("alerts")}</figcaption>${bars(rows, "alerts", "")}</figure>
    </div>`;
  root.querySelectorAll("input[type=date]").forEach((i) => i.addEventListener("change", () => showKpis(root)));
}
