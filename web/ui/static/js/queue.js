// Offline queue for caregiver actions: kept in localStorage, sent in order when the network is back.
import { post } from "./api.js";

const KEY = "eldercare.queue";

export function pending() {
  return JSON.parse(localStorage.getItem(KEY) || "[]");
}

function save(items) { localStorage.setItem(KEY, JSON.stringify(items)); }

// Each action carries a client id so that a retry after a lost response is applied once by the server.
export function enqueue(path, body) {
  const item = { path, body: { ...body, client_action_id: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()), at: new Date().toISOString() } };
  save([...pending(), item]);
  return item;
}

let flushing = false;

export async function flush(onChange) {
  if (flushing || !navigator.onLine) return;
  flushing = true;
  try {
    for (let items = pending(); items.length; items = pending()) {
      try {
        await post(items[0].path, items[0].body);
      } catch (e) {
        if (e.status === undefined || e.status >= 500) break; // network or server trouble: keep it, retry later
        // a 4xx will not succeed on retry (e.g. already checked out): drop it, keep the rest moving
      }
      save(pending().slice(1));
      onChange && onChange();
    }
  } finally {
    flushing = false;
  }
}
