"""Report documents: a PDF with vector charts (ReportLab graphics) and a CSV of the same
figures. Functions of plain data in, bytes out."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

STYLES = getSampleStyleSheet()
WIDTH = 16 * cm


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> Drawing:
    drawing = Drawing(WIDTH, 6 * cm)
    drawing.add(String(0, 5.6 * cm, title, fontName="Helvetica-Bold", fontSize=10))
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 1.2 * cm, 1 * cm, WIDTH - 1.6 * cm, 4.2 * cm
    chart.data = [list(values) or [0]]
    chart.categoryAxis.categoryNames = list(labels) or [""]
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 45 if len(labels) > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(labels) > 8 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max([1, *values]) * 1.1
    chart.bars[0].fillColor = colors.HexColor("#3b6ea5")
    drawing.add(chart)
    return drawing


def line_chart(title: str, values: Sequence[float], x_step: float = 1.0) -> Drawing:
    drawing = Drawing(WIDTH, 6 * cm)
    drawing.add(String(0, 5.6 * cm, title, fontName="Helvetica-Bold", fontSize=10))
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 1.2 * cm, 1 * cm, WIDTH - 1.6 * cm, 4.2 * cm
    points = [(i * x_step, v) for i, v in enumerate(values)] or [(0, 0)]
    if len(points) == 1:
        points.append((x_step, points[0][1]))
    plot.data = [points]
    plot.lines[0].strokeColor = colors.HexColor("#a53b3b")
    plot.yValueAxis.valueMin = 0
    drawing.add(plot)
    return drawing


def _table(rows: list[list]) -> Table:
    table = Table([[str(cell) for cell in row] for row in rows], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ]
        )
    )
    return table


def build_pdf(title: str, subtitle: str, sections: list[tuple[str, object]]) -> bytes:
    """`sections`: (heading, content) where content is a Drawing, a table (list of rows,
    the first the header) or a paragraph of text."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, title=title, author="Lyceum")
    story: list = [Paragraph(title, STYLES["Title"]), Paragraph(subtitle, STYLES["Normal"])]
    for heading, content in sections:
        story.append(Spacer(1, 0.4 * cm))
        story.append(Paragraph(heading, STYLES["Heading2"]))
        if isinstance(content, Drawing):
            story.append(content)
        elif isinstance(content, list):
            story.append(
                _table(content) if len(content) > 1 else Paragraph("None.", STYLES["Normal"])
            )
        else:
            story.append(Paragraph(str(content), STYLES["Normal"]))
    document.build(story)
    return buffer.getvalue()


def build_csv(header: Sequence[str], rows: list[Sequence]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
