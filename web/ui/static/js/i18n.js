// UI text in English and zh-CN; the default follows the browser, the choice is remembered.
const TEXT = {
  en: {
    title: "Eldercare community centre", mobileTitle: "My visits today", login: "Log in", logout: "Log out",
    username: "Username", password: "Password", badLogin: "Wrong username or password",
    throttled: "Too many attempts, try again later", alerts: "Alerts", map: "Map", homes: "Homes",
    noAlerts: "No open alerts", ack: "Acknowledge", assign: "Assign", resolve: "Resolve",
    outcome: "Outcome", notes: "Notes", open: "open", acknowledged: "acknowledged", resolved: "resolved",
    assigned: "assigned", escalatesIn: "escalates in", escalated: "escalated", live: "live",
    offline: "offline", reconnecting: "reconnecting…", severity: "Severity", home: "Home", resident: "Resident",
    devices: "Devices", health: "Health", chart: "Last 7 days", activity: "Activity (events per hour)",
    temperature: "Temperature °C", stations: "Stations", legendOk: "OK", legendProblem: "device problem",
    legendAlert: "open alert", circle: "15-minute circle", route: "Today's route", checkIn: "Check in",
    checkOut: "Check out", done: "Done", queued: "queued offline", noVisits: "No visits today",
    accessNotes: "Access notes", careNotes: "Care needs", problem: "Problem", save: "Save",
    whatDone: "What was done", accept: "Accept", decline: "Decline", urgent: "Urgent job",
    sound: "Sound", select: "Select a home on the map or in the list", pending: "pending",
    outcomes: { real_incident: "Real incident", false_alarm: "False alarm", no_action_needed: "No action needed" },
    kinds: {}, kind: "Kind", room: "Room", battery: "Battery", lastSeen: "Last seen",
    audit: "Audit log", when: "When", who: "Who", what: "What", why: "Why",
    users: "Users", role: "Role", userState: "State", userActive: "active", userDisabled: "disabled",
    disableUser: "Disable", enableUser: "Enable", resetPassword: "Reset password", revokeSessions: "End sessions",
    confirmDisable: "Disable (ends every session of)", confirmReset: "Give a new password to (ends their sessions)",
    confirmRevoke: "End every session of", newPasswordOnce: "New password, shown only this once, for",
    sessionsRevoked: "Sessions ended", familyAcknowledged: "seen by family",
    plans: "Plans", runPlan: "Run plan", noPlan: "No plan for this day yet", unassigned: "Unassigned",
    break: "Break", lastReplan: "Last re-plan", moved: "moved", unchanged: "unchanged", solving: "Solving…",
    planned: "planned", started: "in progress", carerRoute: "caregiver's route / last seen", mapTitle: "Route map", kpis: "KPIs", ackP50: "Alert → acknowledged (median, min)", arrivalP50: "Alert → caregiver at the door (median, min)",
    visitsDone: "Visits done / planned", suggested: "Nearest on shift", noneOnShift: "Nobody suitable on shift", min: "min",
    taskKinds: { meal: "Meal", bathing: "Bathing", cleaning: "Cleaning", escort: "Escort", visit: "Visit",
      emergency: "Emergency" },
    rejectedActions: "Phone actions refused", planQueued: "Waiting for a free solver…", planFailed: "Planning failed", planStored: "Stored",
    sessionEnded: "Your session has ended: log in again and the queued actions will be sent",
    rejectedTitle: "Not accepted by the server", retry: "Retry", retryServerTime: "Send with the server's time",
    discard: "Discard", rejectedMoved: "This visit is no longer on your route (the plan changed). Check with the station, then retry or discard.",
    rejectedState: "The visit's state does not allow this (check in first, or it is already done).",
    rejectedClock: "Your phone's clock is ahead of the server's: send it with the server's time, or discard.",
    rejectedInvalid: "The server refused the data.", rejectedOther: "The server refused this action.",
    confirmDiscard: "Discard this action for good? The station has been told it was refused.",
    confirmLogoutQueued: "actions are not sent yet and will be lost. Log out anyway?",
    // ability assessment (GB/T 42195-2022) and entitlements
    assess: "Assessments", assessDate: "Assessment date", assessReason: "Reason",
    assessReasons: { first: "First assessment", routine: "Routine", immediate: "After a change of condition",
      review: "Review of a disputed result", other: "Other" },
    assessors: "Assessors (comma-separated)", coma: "In a coma", dementia: "Diagnosed dementia or mental disorder (ICD-10 F00–F99)",
    riskEvents: "Care-risk events in the last 30 days (falls, wandering, choking, self-harm…)", evidence: "Evidence notes",
    assessTotal: "Total", assessLevel: "Ability level", assessAnswered: "answered", assessSave: "Record assessment",
    assessSaved: "Recorded", assessHistory: "History", nextDue: "Next re-assessment", noAssessment: "No assessment yet",
    entitlements: "Monthly entitlements (proposed services)", perMonth: "a month", visitsUnit: "visits", minutesUnit: "min",
    subsidy: "Subsidy", costShare: "Share of service cost paid by subsidy", careBed: "Eligible for a family care bed",
    categories: "Categories", assessInvalid: "Please correct the marked answers",
  },
  "zh-CN": {
    title: "社区养老服务中心", mobileTitle: "今日上门任务", login: "登录", logout: "退出",
    username: "用户名", password: "密码", badLogin: "用户名或密码错误", throttled: "尝试次数过多，请稍后再试",
    alerts: "告警", map: "地图", homes: "住户", noAlerts: "暂无未处理告警", ack: "确认", assign: "指派",
    resolve: "处理完成", outcome: "处理结果", notes: "备注", open: "待处理", acknowledged: "已确认",
    resolved: "已处理", assigned: "已指派", escalatesIn: "升级倒计时", escalated: "已升级", live: "实时",
    offline: "离线", reconnecting: "正在重连…", severity: "级别", home: "住户", resident: "老人",
    devices: "设备", health: "设备状态", chart: "最近7天", activity: "活动（每小时事件数）",
    temperature: "温度 °C", stations: "服务站", legendOk: "正常", legendProblem: "设备异常",
    legendAlert: "有告警", circle: "15分钟服务圈", route: "今日路线", checkIn: "签到", checkOut: "签退",
    done: "已完成", queued: "离线排队中", noVisits: "今天没有任务", accessNotes: "入户须知",
    careNotes: "照护需求", problem: "有问题", save: "保存", whatDone: "服务内容", accept: "接受",
    decline: "拒绝", urgent: "紧急任务", sound: "声音", select: "在地图或列表中选择住户", pending: "待处理",
    outcomes: { real_incident: "确有情况", false_alarm: "误报", no_action_needed: "无需处理" },
    kinds: { sos: "紧急呼叫", fall: "跌倒", smoke: "烟雾", gas: "燃气", water_leak: "漏水",
      inactivity: "长时间无活动", device_offline: "设备离线", indoor_cold: "室温过低", indoor_heat: "室温过高",
      not_up: "未按时起床", no_water: "长时间未用水", night_exit: "夜间外出", long_bathroom: "如厕时间过长",
      no_activity: "无活动", activity_decline: "活动减少", gateway_offline: "网关离线", battery_low: "电量低",
      home_silent: "家中设备全部静默", tamper: "设备被拆" },
    kind: "类型", room: "房间", battery: "电量", lastSeen: "最后上报",
    audit: "访问审计", when: "时间", who: "访问人", what: "内容", why: "原因",
    users: "用户管理", role: "角色", userState: "状态", userActive: "正常", userDisabled: "已停用",
    disableUser: "停用", enableUser: "启用", resetPassword: "重置密码", revokeSessions: "强制下线",
    confirmDisable: "停用（并结束全部会话）", confirmReset: "为其生成新密码（并结束全部会话）",
    confirmRevoke: "结束全部会话", newPasswordOnce: "新密码（仅显示这一次），用户",
    sessionsRevoked: "已结束会话数", familyAcknowledged: "家属已查看",
    plans: "排班计划", runPlan: "生成计划", noPlan: "当天还没有计划", unassigned: "未分配",
    break: "休息", lastReplan: "最近一次重排", moved: "调整", unchanged: "未变", solving: "正在求解…",
    planned: "已排班", started: "服务中", carerRoute: "护理员路线/最后位置", mapTitle: "路线图", kpis: "服务指标", ackP50: "告警→确认（中位数，分钟）", arrivalP50: "告警→护理员到达（中位数，分钟）",
    visitsDone: "已完成/计划上门", suggested: "最近的在岗护理员", noneOnShift: "暂无合适的在岗护理员", min: "分钟",
    taskKinds: { meal: "助餐", bathing: "助浴", cleaning: "助洁", escort: "助医/助行", visit: "巡访",
      emergency: "助急" },
    rejectedActions: "被拒绝的手机操作", planQueued: "等待空闲的求解器…", planFailed: "排班失败", planStored: "已保存",
    sessionEnded: "登录已过期：请重新登录，排队的操作随后发送",
    rejectedTitle: "未被服务器接受的操作", retry: "重试", retryServerTime: "按服务器时间发送",
    discard: "放弃", rejectedMoved: "该任务已不在你的路线上（计划已调整）。请与服务站核实后重试或放弃。",
    rejectedState: "任务当前状态不允许此操作（需先签到，或已完成）。",
    rejectedClock: "手机时间比服务器快：可按服务器时间发送，或放弃。",
    rejectedInvalid: "服务器拒绝了该数据。", rejectedOther: "服务器拒绝了该操作。",
    confirmDiscard: "确定放弃该操作吗？服务站已收到被拒记录。",
    confirmLogoutQueued: "个操作尚未发送，退出后将丢失。仍要退出吗？",
    assess: "能力评估", assessDate: "评估日期", assessReason: "评估原因",
    assessReasons: { first: "首次评估", routine: "常规评估", immediate: "状况变化后的即时评估", review: "对结果有疑问的复评", other: "其他" },
    assessors: "评估员（逗号分隔）", coma: "昏迷", dementia: "确诊痴呆或其他精神和行为障碍（F00–F99）",
    riskEvents: "近30天照护风险事件次数（跌倒、走失、噎食、自杀自伤等）", evidence: "评估依据说明",
    assessTotal: "总分", assessLevel: "能力等级", assessAnswered: "已答", assessSave: "保存评估",
    assessSaved: "已保存", assessHistory: "评估记录", nextDue: "下次评估日期", noAssessment: "尚无评估",
    entitlements: "每月可享服务（建议服务计划）", perMonth: "每月", visitsUnit: "次", minutesUnit: "分钟",
    subsidy: "补贴", costShare: "服务费用补贴比例", careBed: "可申请家庭养老床位",
    categories: "对象类别", assessInvalid: "请更正标出的答案",
  },
};

export const LANGS = ["en", "zh-CN"];

export function defaultLang() {
  const saved = localStorage.getItem("lang");
  if (saved && TEXT[saved]) return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return langs.some((l) => (l || "").toLowerCase().startsWith("zh")) ? "zh-CN" : "en";
}

let lang = defaultLang();

export function t(key) {
  const table = TEXT[lang];
  return key in table ? table[key] : TEXT.en[key] ?? key;
}

export function kindName(kind) {
  return (TEXT[lang].kinds || {})[kind] || kind;
}

export function currentLang() {
  return lang;
}

export function setLang(value) {
  lang = TEXT[value] ? value : "en";
  localStorage.setItem("lang", lang);
  document.documentElement.lang = lang;
  applyText(document);
  window.dispatchEvent(new Event("langchange"));
}

// Elements with data-t="key" get their text; data-t-placeholder their placeholder.
export function applyText(root) {
  root.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  root.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.tPlaceholder); });
  document.title = t(document.body.dataset.titleKey || "title");
}

export function langSwitch(select, onChange) {
  select.innerHTML = LANGS.map((l) => `<option value="${l}">${l === "en" ? "English" : "简体中文"}</option>`).join("");
  select.value = lang;
  select.addEventListener("change", () => { setLang(select.value); onChange && onChange(); });
  setLang(lang);
}
