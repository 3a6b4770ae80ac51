"""A report as GitHub Markdown: a heading, the period and coverage, one pipe table per
section (numbers right-aligned), and the notes on how the numbers are derived."""

from __future__ import annotations

from streamdash.reports.build import Report, SectionResult
from streamdash.reports.cells import display
from streamdash.reports.period import iso

_LEFT = frozenset({"text", "time"})


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table_lines(result: SectionResult) -> list[str]:
    formats = result.section.formats
    names = result.rows.column_names
    header = "| " + " | ".join(_cell(n) for n in names) + " |"
    rule = "|" + "|".join("---" if formats.get(n, "text") in _LEFT else "---:" for n in names)
    lines = [header, rule + "|"]
    for row in result.rows.to_pylist():
        cells = (_cell(display(row[n], formats.get(n, "float"))) for n in names)
        lines.append("| " + " | ".join(cells) + " |")
    if result.rows.num_rows == 0:
        lines.append("")
        lines.append("_No rows in this period._")
    return lines


def summary_lines(report: Report) -> list[str]:
    """Period, engine and coverage: the same lines head every format."""
    coverage = report.coverage
    lines = [
        f"Period: {report.period.describe()} (windows that start in it). "
        f"Engine: {report.engine}. Generated {iso(report.generated_at.replace(microsecond=0))}.",
    ]
    if not report.empty:
        assert coverage.first_window is not None and coverage.last_window_end is not None
        table = report.definition.tables[report.definition.coverage_table].table
        text = (
            f"From {coverage.rows:,} rows of {table} (one per window and key), the first "
            f"window starting {iso(coverage.first_window)}, the last ending "
            f"{iso(coverage.last_window_end)}"
        )
        if coverage.open_rows:
            text += f"; {coverage.open_rows:,} of them in windows not final yet (may still grow)"
        lines.append(text + ".")
    return lines


def render_markdown(report: Report) -> str:
    definition = report.definition
    lines = [f"# {definition.title} (`{definition.name}`)", ""]
    lines += [line + "  " for line in summary_lines(report)]
    lines.append("")
    if report.message:
        lines += [f"**{report.message}**", ""]
    for result in report.sections:
        if result.section.chart_only:
            continue
        lines += [f"## {result.section.title}", ""]
        if result.section.description:
            lines += [result.section.description, ""]
        lines += [*table_lines(result), ""]
    lines += ["## How the numbers are derived", ""]
    lines += [f"- {note}" for note in definition.notes]
    return "\n".join(lines) + "\n"
