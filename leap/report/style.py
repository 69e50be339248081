"""The look every HTML page of the project shares (run report, comparison, training), and
the shell that wraps a page's body: one offline file, no external reference."""

from __future__ import annotations

from collections.abc import Sequence

from leap.report.format import escape

BASE_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2933;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header { background: #fff; border-bottom: 1px solid #e1e5ea; padding: 20px 32px; }
main { padding: 8px 32px 40px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 22px 0 10px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
section { background: #fff; border: 1px solid #e1e5ea; border-radius: 8px;
  padding: 4px 20px 16px; margin-top: 18px; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #f1f3f5; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.sub, .note { color: #52606d; margin: 0; }
.note { font-size: 12px; margin: 4px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { border: 1px solid #e1e5ea; border-radius: 8px; padding: 10px 16px; min-width: 130px;
  background: #fbfcfd; }
.card .label { color: #52606d; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 24px; font-weight: 600; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eceff2; text-align: left;
  vertical-align: top; }
thead th { background: #f4f6f8; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
.scroll { overflow-x: auto; max-width: 100%; }
.ok { color: #2f855a; font-weight: 700; }
.bad { color: #c53030; font-weight: 700; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
svg.mpl { max-width: 100%; height: auto; }
"""


def html_page(title: str, body: Sequence[str], css: str = "") -> str:
    """A whole page: the shared style, then `css` (the page's own rules), then `body`."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{BASE_CSS}{css}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
