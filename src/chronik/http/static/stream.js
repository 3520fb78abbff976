// Stream view: time travel. The slider (or the date picker) picks a point; the state there comes
// from /v1/streams/{stream}/state and the changes from the version before from /diff, and the
// events that caused each change are highlighted in the list below.
"use strict";
(function () {
  const main = document.querySelector("main");
  const stream = main.dataset.stream;
  const slider = document.getElementById("slider");
  if (!slider) return;  // no reducer for this stream
  const output = document.getElementById("slider-version");
  const reducer = document.getElementById("reducer");
  const at = document.getElementById("at");
  const stateView = document.getElementById("state");
  const stateVersion = document.getElementById("state-version");
  const diffList = document.getElementById("diff");
  const base = "/v1/streams/" + encodeURIComponent(stream);
  let request = 0;

  async function getJson(url) {
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body;
  }

  function mark(causes, version) {
    document.querySelectorAll("article.event.cause, article.event.current")
      .forEach((node) => node.classList.remove("cause", "current"));
    for (const cause of causes) {
      const node = document.getElementById("v" + cause.version);
      if (node) node.classList.add("cause");
    }
    const current = document.getElementById("v" + version);
    if (current) current.classList.add("current");
  }

  function showDiff(diff) {
    diffList.replaceChildren();
    if (!diff.changes.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "no change";
      diffList.appendChild(li);
    }
    for (const change of diff.changes) {
      const li = document.createElement("li");
      li.className = change.kind;
      const was = JSON.stringify(change.old), now = JSON.stringify(change.new);
      const text = change.kind === "added" ? "+ " + change.path + " = " + now
        : change.kind === "removed" ? "- " + change.path + " (was " + was + ")"
        : "~ " + change.path + ": " + was + " → " + now;
      const by = change.events.map((e) => "v" + e.version + " " + e.type).join(", ");
      li.textContent = text + (by ? "   by " + by : "");
      diffList.appendChild(li);
    }
    mark(diff.events, diff.b.version);
  }

  async function showPoint(query) {
    const mine = ++request;
    const name = encodeURIComponent(reducer.value);
    try {
      const state = await getJson(base + "/state?reducer=" + name + "&" + query);
      if (mine !== request) return;
      stateVersion.textContent = "version " + state.version;
      stateView.textContent = JSON.stringify(state.state, null, 2);
      output.value = String(state.version);
      slider.value = String(state.version);
      const before = Math.max(state.version - 1, 0);
      const diff = await getJson(base + "/diff?reducer=" + name + "&a=" + before + "&b=" + state.version);
      if (mine !== request) return;
      showDiff(diff);
    } catch (error) {
      if (mine === request) stateView.textContent = "error: " + error.message;
    }
  }

  slider.addEventListener("input", () => { output.value = slider.value; showPoint("version=" + slider.value); });
  reducer.addEventListener("change", () => showPoint("version=" + slider.value));
  at.addEventListener("change", () => {
    if (at.value) showPoint("at=" + encodeURIComponent(at.value + (at.value.length === 16 ? ":00" : "") + "Z"));
  });
  showPoint("version=" + slider.value);
})();
