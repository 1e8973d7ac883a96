// Offline queue for caregiver actions: kept in localStorage, sent in order when the network is back.
// Nothing is dropped silently: an action the server refuses (404 visit moved by a re-plan, 409 out of order,
// 422 phone clock ahead …) stays in the queue marked with the reason until the caregiver retries or discards
// it; a lost session (401 after the refresh failed) pauses the queue until she logs in again.
import { post } from "./api.js";

const KEY = "eldercare.queue";

function uuid() { return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`; }

export function pending() {
  return JSON.parse(localStorage.getItem(KEY) || "[]");
}

export function rejected() { return pending().filter((i) => i.rejected); }

function save(items) { localStorage.setItem(KEY, JSON.stringify(items)); }

// Each action carries a client id so that a retry after a lost response is applied once by the server.
export function enqueue(path, body, label = {}) {
  const item = { id: uuid(), path, label, body: { ...body, client_action_id: uuid(), at: new Date().toISOString() } };
  save([...pending(), item]);
  return item;
}

const visitOf = (item) => item.path.slice(0, item.path.lastIndexOf("/"));

// The next action to send: not refused, and not behind a refused action on the same visit (a check-out
// after a refused check-in waits for the caregiver's decision on the check-in).
function next(items) {
  const blocked = new Set(items.filter((i) => i.rejected).map(visitOf));
  return items.find((i) => !i.rejected && !blocked.has(visitOf(i)));
}

let flushing = false;

// Send what can be sent. Returns "sent" (nothing left to send now), "offline" (network or server trouble:
// kept, retried later), "login" (the session is gone: log in again, then flush) or "busy".
export async function flush(onChange) {
  if (flushing) return "busy";
  if (!navigator.onLine) return "offline";
  flushing = true;
  try {
    for (let item = next(pending()); item; item = next(pending())) {
      try {
        await post(item.path, item.body);
        save(pending().filter((i) => i.id !== item.id));
      } catch (e) {
        if (e.status === undefined || e.status >= 500 || e.status === 429) return "offline";
        if (e.status === 401) return "login";
        const reason = { status: e.status, code: e.code, message: e.message, at: new Date().toISOString() };
        save(pending().map((i) => (i.id === item.id ? { ...i, rejected: reason } : i)));
      }
      onChange && onChange();
    }
    return "sent";
  } finally {
    flushing = false;
  }
}

// Put a refused action back in line; ``serverTime`` drops the phone's time so the server stamps it (the
// fix for a phone clock running fast).
export function retry(id, { serverTime = false } = {}) {
  save(pending().map((i) => {
    if (i.id !== id) return i;
    const { rejected: _gone, ...rest } = i;
    const body = { ...rest.body };
    if (serverTime) delete body.at;
    return { ...rest, body };
  }));
}

export function discard(id) { save(pending().filter((i) => i.id !== id)); }

// Logout: the queue holds notes about residents, so it goes with the session (after the caregiver confirmed).
export function clear() { localStorage.removeItem(KEY); }
