// /ws/live client: resumes from the last `resume_after`, skips ids it already has, reconnects with back-off.
export class LiveFeed {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.resumeAfter = null;
    this.seen = new Set();
    this.delay = 500;
    this.closed = false;
  }

  start() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const after = this.resumeAfter === null ? "" : `?after=${this.resumeAfter}`;
    this.ws = new WebSocket(`${proto}//${location.host}/ws/live${after}`);
    this.ws.onmessage = (m) => this.handle(JSON.parse(m.data));
    this.ws.onopen = () => { this.delay = 500; };
    this.ws.onclose = () => {
      this.onState("reconnecting");
      // The access cookie is short-lived: renew it (refresh cookie) before reconnecting.
      const again = () => fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin",
        headers: { "X-Requested-With": "eldercare" } }).catch(() => null).finally(() => this.start());
      if (!this.closed) setTimeout(again, this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  handle(msg) {
    if (msg.type === "hello" && this.resumeAfter === null) this.resumeAfter = msg.resume_after;
    if (msg.type === "live") { this.onState("live"); return; }
    if (msg.type !== "event") return;
    this.resumeAfter = Math.max(this.resumeAfter ?? 0, msg.resume_after);
    if (this.seen.has(msg.id)) return;
    this.seen.add(msg.id);
    for (const id of this.seen) if (id <= this.resumeAfter) this.seen.delete(id);
    this.onEvent(msg);
  }

  stop() { this.closed = true; if (this.ws) this.ws.close(); }
}
