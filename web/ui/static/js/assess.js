// Ability assessment to GB/T 42195-2022: a form that scores as it is filled, the resident's history and the
// monthly entitlements the recorded level gives. The server scores again and is the record; this page only
// shows the same arithmetic early (items, maxima and level floors come from /api/assessment-form).
import { ApiError, esc, get, post, serviceDay } from "./api.js";
import { currentLang, t } from "./i18n.js";

let form = null; // the standard's items and level table, loaded once

const name = (n) => (currentLang() === "zh-CN" ? n.zh : n.en);

// The level table: the first level whose floor the total reaches; a coma is the last level; a diagnosed
// dementia / mental disorder or two care-risk events in 30 days raise the level by one (at most to the last).
export function levelFor(levels, total, { coma, dementia, riskEvents }) {
  let i = levels.findIndex((l) => total >= l.min_total);
  if (coma) i = levels.length - 1;
  else if (dementia || riskEvents >= 2) i = Math.min(i + 1, levels.length - 1);
  return levels[i];
}

function itemRow(item) {
  const options = item.points.map((p) => `<option value="${p}">${p}</option>`).join("");
  return `<tr data-item="${esc(item.code)}"><td>${esc(item.code)}</td><td>${esc(name(item.name))}</td>
    <td><select name="${esc(item.code)}" aria-label="${esc(item.code)}"><option value="">—</option>${options}</select></td>
    <td class="error item-error"></td></tr>`;
}

function formHtml() {
  const dims = Object.entries(form.dimensions).map(([code, dim]) => `<tbody data-dim="${esc(code)}">
    <tr><th colspan="2">${esc(code)} ${esc(name(dim))}</th><th><span class="dim-score">0</span> / ${form.dimension_max[code]}</th><th></th></tr>
    ${form.items.filter((i) => i.dimension === code).map(itemRow).join("")}</tbody>`).join("");
  const reasons = Object.entries(t("assessReasons")).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("");
  return `<form id="assess-form" class="card">
    <p><label>${t("assessDate")} <input type="date" name="assessed_on" value="${serviceDay()}" required></label>
      <label>${t("assessReason")} <select name="reason">${reasons}</select></label>
      <label>${t("assessors")} <input name="assessors" required size="30"></label></p>
    <table class="devices">${dims}</table>
    <p><label><input type="checkbox" name="coma"> ${t("coma")}</label>
      <label><input type="checkbox" name="dementia"> ${t("dementia")}</label>
      <label>${t("riskEvents")} <input type="number" name="risk_events_30d" min="0" max="1000" value="0" style="width:5em"></label></p>
    <p><label>${t("evidence")}<br><textarea name="evidence_notes" rows="2" cols="80" maxlength="4000"></textarea></label></p>
    <p class="card"><b>${t("assessTotal")}: <span id="assess-total">0</span> / ${form.total_max}</b>
      (<span id="assess-answered">0</span>/${form.items.length} ${t("assessAnswered")})
      — ${t("assessLevel")}: <b id="assess-level">—</b></p>
    <p><button type="submit">${t("assessSave")}</button> <span id="assess-result" role="status"></span></p>
  </form>`;
}

function readForm(el) {
  const answers = {};
  el.querySelectorAll("select[name^='B.']").forEach((s) => { if (s.value !== "") answers[s.name] = Number(s.value); });
  return {
    answers,
    coma: el.coma.checked,
    dementia: el.dementia.checked,
    riskEvents: Number(el.risk_events_30d.value || 0),
  };
}

function rescore(el) {
  const { answers, coma, dementia, riskEvents } = readForm(el);
  let total = 0;
  el.querySelectorAll("tbody[data-dim]").forEach((tb) => {
    const sum = form.items.filter((i) => i.dimension === tb.dataset.dim && i.code in answers)
      .reduce((acc, i) => acc + answers[i.code], 0);
    tb.querySelector(".dim-score").textContent = sum;
    total += sum;
  });
  const answered = Object.keys(answers).length;
  el.querySelector("#assess-total").textContent = total;
  el.querySelector("#assess-answered").textContent = answered;
  const level = answered === form.items.length ? levelFor(form.levels, total, { coma, dementia, riskEvents }) : null;
  const out = el.querySelector("#assess-level");
  out.textContent = level ? name(level.name) : "—";
  out.dataset.level = level ? level.code : "";
}

function entitlementsHtml(ent) {
  const services = ent.services.map((s) => `<li>${esc(t("taskKinds")[s.kind] || s.kind)}: ${s.amount}
    ${s.unit === "count" ? t("visitsUnit") : t("minutesUnit")} ${t("perMonth")}</li>`).join("");
  const subsidies = ent.subsidies.map((s) => `<li>${t("subsidy")} ${esc(name(s.name))}: ¥${esc(s.monthly_yuan)} ${t("perMonth")}</li>`).join("");
  return `<div class="card" id="entitlements"><h3>${t("entitlements")}</h3>
    <p>${t("assessLevel")}: <b>${ent.level ? esc(name(form.levels.find((l) => l.code === ent.level).name)) : t("noAssessment")}</b>
      · ${t("categories")}: ${esc(ent.category_names.map(name).join("、") || "—")}</p>
    <ul>${services}${subsidies}
      ${Number(ent.service_cost_share) > 0 ? `<li>${t("costShare")}: ${Math.round(Number(ent.service_cost_share) * 100)}%</li>` : ""}
      ${ent.care_bed ? `<li>${t("careBed")}</li>` : ""}</ul></div>`;
}

function historyHtml(rows) {
  if (!rows.length) return `<p class="empty">${t("noAssessment")}</p>`;
  return `<h3>${t("assessHistory")}</h3><table class="devices" id="assess-history"><tr><th>${t("assessDate")}</th>
    <th>${t("assessTotal")}</th><th>${t("assessLevel")}</th><th>${t("who")}</th><th>${t("nextDue")}</th></tr>
    ${rows.map((a) => `<tr><td>${esc(a.assessed_on)}</td><td>${a.total}</td><td>${esc(name(a.level_name))}</td>
    <td>${esc(a.assessors.join(", "))}</td><td>${esc(a.next_due)}</td></tr>`).join("")}</table>`;
}

async function showResident(root, residentId) {
  const [rows, ent] = await Promise.all([
    get(`/api/residents/${encodeURIComponent(residentId)}/assessments`),
    get(`/api/residents/${encodeURIComponent(residentId)}/entitlements`),
  ]);
  const pane = root.querySelector("#assess-resident");
  pane.innerHTML = formHtml() + entitlementsHtml(ent) + historyHtml(rows);
  const el = pane.querySelector("#assess-form");
  el.addEventListener("change", () => rescore(el));
  el.addEventListener("input", () => rescore(el));
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    el.querySelectorAll(".item-error").forEach((td) => { td.textContent = ""; });
    const { answers, coma, dementia, riskEvents } = readForm(el);
    const body = {
      assessed_on: el.assessed_on.value, reason: el.reason.value, answers, coma,
      dementia_or_mental_disorder: dementia, risk_events_30d: riskEvents, evidence_notes: el.evidence_notes.value,
      assessors: el.assessors.value.split(/[,，、]/).map((s) => s.trim()).filter(Boolean),
    };
    const result = el.querySelector("#assess-result");
    try {
      const saved = await post(`/api/residents/${encodeURIComponent(residentId)}/assessments`, body);
      await showResident(root, residentId);
      const again = root.querySelector("#assess-result");
      again.textContent = `${t("assessSaved")}: ${saved.total} — ${name(saved.level_name)}`;
      again.dataset.level = saved.level;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      result.textContent = err.status === 422 ? t("assessInvalid") : err.message;
      result.className = "error";
      if (err.details) {
        err.details.forEach((d) => {
          const cell = el.querySelector(`tr[data-item="${CSS.escape(d.loc[2] || "")}"] .item-error`);
          if (cell) cell.textContent = d.msg;
        });
      }
    }
  });
}

export async function showAssessments(root) {
  if (!form) form = await get("/api/assessment-form");
  const residents = await get("/api/residents?limit=1000");
  root.innerHTML = `<p><label>${t("resident")} <select id="assess-pick"><option value="">—</option>
    ${residents.map((r) => `<option value="${esc(r.id)}">${esc(r.name)} (${esc(r.id)})</option>`).join("")}</select></label></p>
    <div id="assess-resident"></div>`;
  root.querySelector("#assess-pick").addEventListener("change", async (e) => {
    if (e.target.value) await showResident(root, e.target.value);
  });
}
