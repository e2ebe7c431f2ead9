// Shared by the dashboard's pages: JSON posts to the dashboard, and following registry changes.
"use strict";

// POSTs `body` as JSON to `path`; resolves to {ok, status, json} (json null if none).
async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  return { ok: response.ok, status: response.status, json, text };
}

// Calls `onChange(change)` for each registry change ({action, service}), reconnecting as
// EventSource does by itself.
function followRegistry(onChange) {
  const source = new EventSource("/events");
  source.addEventListener("change", (event) => {
    try { onChange(JSON.parse(event.data)); } catch (e) { console.error(e); }
  });
  return source;
}

// Runs `task` at most once per `ms`, the last call winning (a burst of changes, one fetch).
function debounce(task, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => task(...args), ms);
  };
}
