// Admin: users, with disable / enable, password reset (the new password is shown once) and ending sessions.
import { esc, get, post } from "./api.js";
import { t } from "./i18n.js";

export async function showUsers(root, me) {
  const rows = await get("/api/users");
  root.innerHTML = `<p id="users-result" class="notice" role="status"></p>
    <table class="devices"><tr><th>${t("username")}</th><th>${t("who")}</th><th>${t("role")}</th>
    <th>${t("stations")}</th><th>${t("userState")}</th><th></th></tr>${rows.map((u) => `<tr data-user="${u.id}">
    <td>${esc(u.username)}</td><td>${esc(u.name)}</td><td>${esc(u.role)}</td><td>${esc(u.station_ids.join(", "))}</td>
    <td>${u.disabled_at ? `<span class="error">${t("userDisabled")}</span>` : t("userActive")}</td>
    <td>${u.id === me.id ? "" : `${u.disabled_at
      ? `<button data-act="enable">${t("enableUser")}</button>`
      : `<button data-act="disable">${t("disableUser")}</button>`}
      <button data-act="reset-password">${t("resetPassword")}</button>
      <button data-act="revoke-sessions">${t("revokeSessions")}</button>`}</td></tr>`).join("")}</table>`;
  root.querySelectorAll("button[data-act]").forEach((button) => button.addEventListener("click", async () => {
    const row = button.closest("tr");
    const name = row.querySelector("td").textContent;
    const act = button.dataset.act;
    const confirmKey = { disable: "confirmDisable", "reset-password": "confirmReset", "revoke-sessions": "confirmRevoke" }[act];
    if (confirmKey && !window.confirm(`${t(confirmKey)} ${name}?`)) return;
    const result = await post(`/api/users/${row.dataset.user}/${act}`, {});
    await showUsers(root, me);
    const out = root.querySelector("#users-result");
    if (act === "reset-password") {
      out.innerHTML = `${t("newPasswordOnce")} <b>${esc(result.username)}</b>: <code>${esc(result.password)}</code>`;
    } else if (act === "revoke-sessions") {
      out.textContent = `${t("sessionsRevoked")}: ${result.revoked}`;
    }
  }));
}
