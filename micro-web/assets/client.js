// The call form: choosing a service or endpoint reloads the form for it (its request skeleton
// comes from the server); Call posts to /rpc, or reads /stream's replies as they arrive.
"use strict";

const form = document.getElementById("call");
const service = document.getElementById("service");
const endpoint = document.getElementById("endpoint");
const request = document.getElementById("request");
const metadata = document.getElementById("metadata");
const address = document.getElementById("address");
const reply = document.getElementById("reply");
const copied = document.getElementById("copied");

service.addEventListener("change", () => {
  location.search = "?service=" + encodeURIComponent(service.value);
});
endpoint.addEventListener("change", () => {
  location.search = "?service=" + encodeURIComponent(service.value) +
    "&endpoint=" + encodeURIComponent(endpoint.value);
});

function show(text, failed) {
  reply.textContent = text;
  reply.classList.toggle("error", !!failed);
}

function pretty(value) { return JSON.stringify(value, null, 2); }

// The call the form describes, or an error message.
function described() {
  if (!service.value || !endpoint.value) return { error: "choose a service and an endpoint" };
  let body, md;
  try { body = JSON.parse(request.value || "{}"); } catch (e) { return { error: "the request is not JSON: " + e.message }; }
  try { md = JSON.parse(metadata.value || "{}"); } catch (e) { return { error: "the metadata is not JSON: " + e.message }; }
  const call = { service: service.value, endpoint: endpoint.value, request: body, metadata: md };
  if (address.value.trim()) call.address = address.value.trim();
  return { call };
}

async function stream(call) {
  const response = await fetch("/stream", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(call),
  });
  if (!response.ok) {
    const text = await response.text();
    try { show(pretty(JSON.parse(text)), true); } catch (e) { show(text, true); }
    return;
  }
  show("");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  let count = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!line.trim()) continue;
      const item = JSON.parse(line);
      if (item && item.error) { reply.textContent += pretty(item.error) + "\n"; reply.classList.add("error"); continue; }
      count += 1;
      reply.textContent += pretty(item) + "\n";
    }
  }
  reply.dataset.replies = String(count);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const { call, error } = described();
  if (error) { show(error, true); return; }
  show("calling…");
  try {
    if (form.dataset.stream === "true") {
      await stream(call);
    } else {
      const result = await postJSON("/rpc", call);
      show(result.json ? pretty(result.json) : result.text, !result.ok);
    }
  } catch (e) {
    show("the dashboard did not answer: " + e.message, true);
  }
});

// Single quotes for a POSIX shell.
function quoted(text) { return "'" + text.replace(/'/g, "'\\''") + "'"; }

function copy(text) {
  copied.hidden = false;
  copied.textContent = text;
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
}

document.getElementById("copy-cli").addEventListener("click", () => {
  const { call, error } = described();
  if (error) { show(error, true); return; }
  const verb = form.dataset.stream === "true" ? "stream" : "call";
  copy(`micro ${verb} ${call.service} ${call.endpoint} ${quoted(JSON.stringify(call.request))}`);
});

document.getElementById("copy-curl").addEventListener("click", () => {
  const { call, error } = described();
  if (error) { show(error, true); return; }
  const body = JSON.stringify({ service: call.service, endpoint: call.endpoint, request: call.request });
  // Through the gateway: micro api --enable_rpc, on its default address.
  copy(`curl -H 'Content-Type: application/json' -d ${quoted(body)} http://localhost:8080/rpc`);
});
