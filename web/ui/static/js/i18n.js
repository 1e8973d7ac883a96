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
    plans: "Plans", runPlan: "Run plan", noPlan: "No plan for this day yet", unassigned: "Unassigned",
    break: "Break", lastReplan: "Last re-plan", moved: "moved", unchanged: "unchanged", solving: "Solving…",
    planned: "planned", started: "in progress", carerRoute: "caregiver's route / last seen", mapTitle: "Route map", kpis: "KPIs", ackP50: "Alert → acknowledged (median, min)", arrivalP50: "Alert → caregiver at the door (median, min)",
    visitsDone: "Visits done / planned", suggested: "Nearest on shift", noneOnShift: "Nobody suitable on shift", min: "min",
    taskKinds: { meal: "Meal", bathing: "Bathing", cleaning: "Cleaning", escort: "Escort", visit: "Visit",
      emergency: "Emergency" },
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
    plans: "排班计划", runPlan: "生成计划", noPlan: "当天还没有计划", unassigned: "未分配",
    break: "休息", lastReplan: "最近一次重排", moved: "调整", unchanged: "未变", solving: "正在求解…",
    planned: "已排班", started: "服务中", carerRoute: "护理员路线/最后位置", mapTitle: "路线图", kpis: "服务指标", ackP50: "告警→确认（中位数，分钟）", arrivalP50: "告警→护理员到达（中位数，分钟）",
    visitsDone: "已完成/计划上门", suggested: "最近的在岗护理员", noneOnShift: "暂无合适的在岗护理员", min: "分钟",
    taskKinds: { meal: "助餐", bathing: "助浴", cleaning: "助洁", escort: "助医/助行", visit: "巡访",
      emergency: "助急" },
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
