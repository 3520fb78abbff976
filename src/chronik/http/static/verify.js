// Verify page: POST /v1/verify (with the anchor file's JSON, if one is chosen) and show each
// check, the first bad position and the problems.
"use strict";
(function () {
  const form = document.getElementById("verify-form");
  const result = document.getElementById("verify-result");

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function table(columns, rows) {
    const t = element("table");
    const head = element("tr");
    columns.forEach((c) => head.appendChild(element("th", c)));
    t.appendChild(element("thead")).appendChild(head);
    const body = t.appendChild(element("tbody"));
    rows.forEach((row) => {
      const tr = element("tr");
      row.forEach((value) => tr.appendChild(element("td", value === null ? "" : value)));
      body.appendChild(tr);
    });
    return t;
  }

  function show(report) {
    result.replaceChildren();
    result.className = "";
    const verdict = report.ok
      ? element("p", "verify: OK, " + report.checked + " events checked", "good")
      : element("p", "verify: FAILED, " + report.checked + " events checked, first bad position "
                + report.first_bad_position + " (" + report.first_bad_kind + ")", "bad");
    verdict.id = "verify-verdict";
    result.appendChild(verdict);
    result.appendChild(table(["check", "result", "detail"],
      report.checks.map((c) => [c.name, c.status.replace("_", " "), c.detail])));
    if (report.problems.length) {
      result.appendChild(element("h2", "Problems"));
      result.appendChild(table(["position", "problem", "detail"],
        report.problems.map((p) => [p.position, p.kind, p.detail])));
    }
    report.notes.forEach((note) => result.appendChild(element("p", "note: " + note, "muted")));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    result.className = "muted";
    result.textContent = "verifying…";
    const body = { require_signatures: document.getElementById("require-signatures").checked };
    const file = document.getElementById("anchor").files[0];
    try {
      if (file) body.anchor = JSON.parse(await file.text());
      const response = await fetch("/v1/verify", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error.message);
      show(answer);
    } catch (error) {
      result.className = "bad";
      result.textContent = "error: " + error.message;
    }
  });
})();
