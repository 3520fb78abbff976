// Live log: new events as they are committed, read from /v1/subscribe as NDJSON over fetch.
// (EventSource would only report the event types it was told to listen for, since each SSE
// message is named after its event's type.) On a dropped connection it reconnects after the
// last position it showed, so nothing is missed or shown twice.
"use strict";
(function () {
  const main = document.querySelector("main");
  const tbody = document.querySelector("#live-log tbody");
  const status = document.getElementById("live-status");
  const pauseButton = document.getElementById("pause");
  const form = document.getElementById("filters");
  const MAX_ROWS = 1000;
  const RETRY_MS = 1000;
  let controller = null;
  let paused = false;
  let held = [];
  let lastPosition = Number(main.dataset.after || 0);
  const startPosition = lastPosition;

  function streamUrl(stream) { return "/streams/" + encodeURIComponent(stream).replace(/%3A/g, ":"); }

  function row(event) {
    const tr = document.createElement("tr");
    tr.dataset.position = event.position;
    for (const value of [event.position, event.time.slice(0, 19).replace("T", " "), event.stream,
                         event.version, event.type, JSON.stringify(event.data)]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => { window.location.href = streamUrl(event.stream) + "#v" + event.version; });
    return tr;
  }

  function show(event) {
    tbody.insertBefore(row(event), tbody.firstChild);
    while (tbody.children.length > MAX_ROWS) tbody.removeChild(tbody.lastChild);
  }

  function receive(event) {
    if (event.position <= lastPosition) return;
    lastPosition = event.position;
    if (paused) { held.push(event); status.textContent = "paused (" + held.length + " new)"; }
    else show(event);
  }

  async function follow(signal) {
    const params = new URLSearchParams({ after: String(lastPosition), format: "ndjson" });
    for (const name of ["streams", "categories", "types"]) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    const response = await fetch("/v1/subscribe?" + params.toString(), { signal, headers: { Accept: "application/x-ndjson" } });
    if (!response.ok) {
      const body = await response.json();
      throw new Error(body.error ? body.error.message : response.statusText);
    }
    status.textContent = paused ? "paused" : "live";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line) continue;  // a heartbeat
        const item = JSON.parse(line);
        if (item.error) { status.textContent = item.error.message; continue; }
        receive(item);
      }
    }
  }

  async function connect() {
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    while (!mine.signal.aborted) {
      try {
        await follow(mine.signal);
      } catch (error) {
        if (mine.signal.aborted) return;
        status.textContent = "reconnecting… (" + error.message + ")";
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    tbody.replaceChildren();
    held = [];
    lastPosition = startPosition;
    connect();
  });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused) { held.forEach(show); held = []; status.textContent = "live"; }
    else status.textContent = "paused";
  });
  connect();
})();
