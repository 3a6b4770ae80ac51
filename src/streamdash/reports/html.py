"""A report as one self-contained HTML file: the dashboard's dark look, Plotly charts and
the tables. plotly.js is embedded inline once (about 4.7 MB), so the file opens offline and
fetches nothing — no CDN, no web font, no external style sheet."""

from __future__ import annotations

from html import escape

from streamdash.dashboard.libs import pio, plotly_js
from streamdash.reports.build import Report, SectionResult
from streamdash.reports.cells import display
from streamdash.reports.charts import figure
from streamdash.reports.markdown import summary_lines

# The DARKLY palette of the live dashboard (dashboard/assets/streamdash.css)
_STYLE = """
:root { color-scheme: dark; }
body { background: #1e1e1e; color: #dee2e6; margin: 0; padding: 1.5rem 2rem;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; font-size: 15px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; color: #fff; }
h1 code { color: #00bc8c; font-size: 1.1rem; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; color: #fff; }
.sd-summary { color: #adb5bd; margin: .1rem 0; }
.sd-message { background: #3d3212; border: 1px solid #f39c12; color: #f8d58a;
  padding: .7rem 1rem; border-radius: .3rem; margin: 1rem 0; font-weight: 600; }
/* auto-fill, not auto-fit: each chart is drawn as soon as its div exists, when the later
   ones do not yet; auto-fit would give the first one the whole row */
.sd-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
  gap: 1rem; margin: 1rem 0; }
.sd-panel { background: #2b2b2b; border: 1px solid #3a3a3a; border-radius: .35rem;
  padding: .8rem 1rem; margin: 1rem 0; overflow-x: auto; }
.sd-grid .sd-panel { margin: 0; }
.sd-description { color: #adb5bd; font-size: .88rem; margin: 0 0 .6rem; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th { color: #adb5bd; font-weight: 600; text-align: left; white-space: nowrap;
  border-bottom: 1px solid #444; padding: .35rem .6rem; }
td { border-bottom: 1px solid #333; padding: .3rem .6rem; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: rgba(255, 255, 255, .03); }
.sd-empty { color: #888; font-style: italic; }
ul.sd-notes { color: #adb5bd; font-size: .88rem; }
"""
_LEFT = frozenset({"text", "time"})


def _table(result: SectionResult) -> str:
    formats = result.section.formats
    names = result.rows.column_names
    align = {n: "" if formats.get(n, "text") in _LEFT else ' class="num"' for n in names}
    head = "".join(f"<th{align[n]}>{escape(n)}</th>" for n in names)
    body = []
    for row in result.rows.to_pylist():
        cells = "".join(
            f"<td{align[n]}>{escape(display(row[n], formats.get(n, 'float')))}</td>" for n in names
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(
            f'<tr><td class="sd-empty" colspan="{len(names)}">No rows in this period.</td></tr>'
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _charts(report: Report) -> list[str]:
    out = []
    for chart in report.definition.charts:
        result = report.result(chart.section)
        if result.rows.num_rows == 0:
            continue
        fig = figure(chart, result.rows, result.section.formats)
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,  # once, in <head>
            config={"displaylogo": False, "responsive": True},
        )
        out.append(f'<div class="sd-panel">{div}</div>')
    return out


def render_html(report: Report) -> str:
    definition = report.definition
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(definition.title)} — streamdash report</title>",
        f"<style>{_STYLE}</style>",
    ]
    charts = _charts(report)
    if charts:  # inline: a <script src> would need the network or a second file
        parts.append(f'<script type="text/javascript">{plotly_js()}</script>')
    parts += [
        "</head><body>",
        f"<h1>{escape(definition.title)} <code>{escape(definition.name)}</code></h1>",
        *(f'<p class="sd-summary">{escape(line)}</p>' for line in summary_lines(report)),
    ]
    if report.message:
        parts.append(f'<div class="sd-message">{escape(report.message)}</div>')
    if charts:
        parts += ['<div class="sd-grid">', *charts, "</div>"]
    for result in report.sections:
        if result.section.chart_only:
            continue
        section = result.section
        parts.append(f'<section class="sd-panel" id="{escape(section.name)}">')
        parts.append(f"<h2>{escape(section.title)}</h2>")
        if section.description:
            parts.append(f'<p class="sd-description">{escape(section.description)}</p>')
        parts += [_table(result), "</section>"]
    notes = "".join(f"<li>{escape(note)}</li>" for note in definition.notes)
    parts.append(
        f'<section class="sd-panel"><h2>How the numbers are derived</h2>'
        f'<ul class="sd-notes">{notes}</ul></section>'
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
