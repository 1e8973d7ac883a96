// Service worker: the caregiver app shell works offline; API calls always go to the network and are never
// cached, so no resident data is kept here (the page's own cache in localStorage is cleared at logout).
const CACHE = "eldercare-shell-v3"; // bump when the shell changes
const SHELL = ["/m", "/static/css/app.css", "/static/js/mobile.js", "/static/js/api.js", "/static/js/i18n.js",
  "/static/js/live.js", "/static/js/queue.js", "/static/manifest.webmanifest", "/static/icon.svg"];

self.addEventListener("install", (e) => e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL))));
self.addEventListener("activate", (e) => e.waitUntil(
  caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))));
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.pathname.startsWith("/api/") || url.pathname.startsWith("/ws/")) return;
  e.respondWith(fetch(e.request).then((res) => {
    const copy = res.clone(); caches.open(CACHE).then((c) => c.put(e.request, copy)); return res;
  }).catch(() => caches.match(e.request)));
});
