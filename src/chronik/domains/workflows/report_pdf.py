"""The audit report as a PDF: reportlab for the pages, matplotlib for the charts (the
`chronik[reports]` extra). Page 1 opens with the verification result, so a report over a
tampered ledger says so before anything else.
"""

from __future__ import annotations

import io
from typing import Any

from chronik.domains.workflows.report import ReportData
from chronik.errors import ValidationError

EXTRA_FIX = "install the reports extra: pip install 'chronik[reports]'"
MAX_BARS = 30  # days or types drawn in one chart (the newest days, the most frequent types)


def _require() -> None:
    try:
        import matplotlib  # noqa: F401
        import reportlab  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise ValidationError("pdf", f"PDF reports need reportlab and matplotlib ({exc.name} is missing)",
                              EXTRA_FIX) from None


def _chart(title: str, labels: list[str], values: list[int], horizontal: bool = False) -> io.BytesIO:
    import matplotlib

    matplotlib.use("Agg")  # no display: draw to memory
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3.2), dpi=100)
    try:
        if horizontal:
            axes.barh(labels[::-1], values[::-1], color="#4a6fa5")
        else:
            axes.bar(labels, values, color="#4a6fa5")
            axes.tick_params(axis="x", labelrotation=60, labelsize=7)
        axes.set_title(title, fontsize=10)
        figure.tight_layout()
        picture = io.BytesIO()
        figure.savefig(picture, format="png")
    finally:
        pyplot.close(figure)
    picture.seek(0)
    return picture


def render(data: ReportData, path: str) -> None:
    """Write the report to `path`."""
    _require()
    from xml.sax.saxutils import escape

    # reportlab ships no type information
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.styles import getSampleStyleSheet  # type: ignore[import-untyped]
    from reportlab.lib.units import cm  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        Image,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    story: list[Any] = []

    def para(text: str, style: str = "BodyText") -> None:
        story.append(Paragraph(escape(text), styles[style]))

    def table(rows: list[list[Any]], widths: list[float] | None = None) -> None:
        if len(rows) == 1:
            para("(none)")
            return
        cells = [[Paragraph(escape(str(cell)), styles["BodyText"]) for cell in row] for row in rows]
        shown = Table(cells, colWidths=widths, repeatRows=1)
        shown.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde5f0")),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(shown)
        story.append(Spacer(1, 0.3 * cm))

    title = f"Audit report: workflow {data.workflow_id}" if data.workflow_id else "Audit report"
    para(title, "Title")
    check = data.verification
    if check.ok:
        para(f"VERIFICATION PASSED: {check.checked} events checked, no problem found.", "Heading2")
    else:
        para(f"VERIFICATION FAILED: the ledger has been tampered with or damaged. First bad position: "
             f"{check.first_bad_position} ({check.first_bad_kind}); {len(check.problems)} problem(s).", "Heading2")
        for problem in check.problems[:10]:
            para(problem)
    para(f"Ledger: {data.ledger}. Generated {data.generated_at}. Period: since {data.since or 'the beginning'}"
         + (f", category {data.category}" if data.category else "") + ".")
    para(f"Head: position {data.head_position}, hash {data.head_hash}")
    para(f"Signing key ids: {', '.join(check.key_ids) or 'none (events are not signed)'}; "
         f"anchor: {check.anchor or 'none given'}.")
    table([["Check", "Status", "Detail"], *[list(item) for item in check.checks]], [4 * cm, 2.5 * cm, 10.5 * cm])
    para("Workflows by status", "Heading2")
    table([["Status", "Workflows"], *[[status, count] for status, count in data.by_status.items()]])
    para(f"Activity: {data.events} events in the period", "Heading2")
    if data.by_day:
        days = list(data.by_day)[-MAX_BARS:]
        story.append(Image(_chart("Events per day", days, [data.by_day[d] for d in days]), 16 * cm, 7.3 * cm))
        types = list(data.by_type)[:MAX_BARS]
        story.append(Image(_chart("Events per type", types, [data.by_type[t] for t in types], horizontal=True),
                           16 * cm, 7.3 * cm))
    story.append(PageBreak())
    para("Failures", "Heading2")
    table([["Workflow", "Step", "Error", "At"],
           *[[f["workflow_id"], f["step_id"], f["error"], f["at"]] for f in data.failures]],
          [3 * cm, 3 * cm, 6.5 * cm, 4.5 * cm])
    para("Gate decisions", "Heading2")
    table([["Workflow", "Gate", "Decision", "By", "Role", "At"],
           *[[d["workflow_id"], d["gate_id"], d["decision"], d["approver"], d["role"] or "", d["at"]]
             for d in data.decisions]])
    para("Retention and archives", "Heading2")
    table([["Category", "Max age (s)", "Max count"],
           *[[p["category"], p.get("max_age_s", ""), p.get("max_count", "")] for p in data.retention]])
    table([["Archive segment", "Positions", "Events", "Created", "Removed from live"],
           *[[a["name"], f"{a['first_position']}-{a['last_position']}", a["count"], a["created"], a["removed"]]
             for a in data.archives]])
    if data.workflow is not None:
        state = data.workflow
        para("Workflow", "Heading2")
        para(f"{state['workflow_id']} ({state['name']}): {state['status']}; steps completed: "
             f"{', '.join(state['steps_completed']) or '-'}; retries: "
             f"{', '.join(f'{k} x{v}' for k, v in state['retries'].items()) or 'none'}.")
        table([["#", "At", "Action", "Details", "Signature"],
               *[[t["version"], t["at"], t["action"], ", ".join(f"{k}={v}" for k, v in t["data"].items()),
                  t["signature"]] for t in data.timeline]], [1 * cm, 4 * cm, 3.5 * cm, 6.5 * cm, 2 * cm])
    SimpleDocTemplate(path, pagesize=A4, title=title, author="chronik").build(story)
