"""Static dashboard and caregiver PWA (plain ES modules, no build step, no CDN) served by the API."""
