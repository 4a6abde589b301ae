"""Chart, KPI and anomaly specs: what the page draws and what the CSV downloads contain."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ChartKind = Literal["line", "area", "bar", "hbar", "doughnut"]
Number = int | float | None
# The CSV cell of a value withheld under k-anonymity (blank means no data).
SUPPRESSED = "suppressed"


@dataclass(slots=True)
class Series:
    """One named row of values, aligned with the chart's labels."""

    name: str
    values: list[Number]
    # True where a value is withheld (under k installations, or folded into "other"). In a
    # chart with a `suppressed_note` the page marks it and the CSV cell reads "suppressed";
    # elsewhere (a version folded into "other") the cell is blank.
    suppressed: list[bool] = field(default_factory=list)


@dataclass(slots=True)
class Chart:
    """One chart: labels along one axis, one or more series of values."""

    id: str
    title: str
    kind: ChartKind
    labels: list[str]
    series: list[Series]
    subtitle: str = ""
    unit: str = ""
    stacked: bool = False
    wide: bool = False
    label_header: str = "label"
    # Why a suppressed value is withheld ("fewer than 5 installations"), for trends whose
    # suppressed weeks must not read as missing data: legend, tooltip and CSV say so.
    suppressed_note: str = ""

    @property
    def has_data(self) -> bool:
        """Whether there is any value to draw (0 % is a value; only withheld ones are not)."""
        return bool(self.labels) and any(v is not None for s in self.series for v in s.values)

    def csv(self) -> str:
        """The chart's numbers as CSV: one row per label, one column per series (headers of
        percentage columns say so). No data is a blank cell; in a chart with a
        `suppressed_note` a withheld value is the word `suppressed`."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        unit = f" ({self.unit})" if self.unit else ""
        mark = SUPPRESSED if self.suppressed_note else ""
        writer.writerow([self.label_header, *(_csv_safe(s.name) + unit for s in self.series)])
        for i, label in enumerate(self.labels):
            writer.writerow([_csv_safe(label), *(_cell(s, i, mark) for s in self.series)])
        return out.getvalue()


@dataclass(slots=True)
class Kpi:
    """A headline figure."""

    id: str
    label: str
    value: Number | str
    sub: str = ""
    unit: str = ""
    trend: Literal["up", "down"] | None = None
    # Further (figure, value) pairs behind the tile, for the KPI CSV.
    details: list[tuple[str, Number | str]] = field(default_factory=list)


@dataclass(slots=True)
class Anomaly:
    """Something unusual, with the numbers behind it."""

    kind: str
    title: str
    severity: str = "warning"
    message: str = ""
    # (figure, value) pairs in display order: observed, baseline, threshold...
    numbers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Dashboard:
    """Everything the page shows."""

    subtitle: str
    kpis: list[Kpi]
    charts: list[Chart]
    anomalies: list[Anomaly]

    def as_json(self) -> dict[str, Any]:
        """The JSON document the page's script renders."""
        document = asdict(self)
        for chart, spec in zip(self.charts, document["charts"], strict=True):
            spec["has_data"] = chart.has_data
        return document

    def csv(self, chart_id: str) -> str:
        """CSV of one chart (or of the anomalies panel, or the KPIs)."""
        if chart_id == "anomalies":
            return self._anomalies_csv()
        if chart_id == "kpis":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["figure", "value", "unit"])
            for kpi in self.kpis:
                writer.writerow([kpi.label, "" if kpi.value is None else kpi.value, kpi.unit])
                for name, value in kpi.details:
                    writer.writerow([name, "" if value is None else value, ""])
            return out.getvalue()
        for chart in self.charts:
            if chart.id == chart_id:
                return chart.csv()
        raise KeyError(chart_id)

    def _anomalies_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["kind", "severity", "title", "figure", "value"])
        for anomaly in self.anomalies:
            rows = anomaly.numbers or [("", "")]
            for name, value in rows:
                writer.writerow(
                    [anomaly.kind, anomaly.severity, _csv_safe(anomaly.title), name, value]
                )
        return out.getvalue()


def _cell(series: Series, index: int, suppressed: str) -> str:
    if index < len(series.suppressed) and series.suppressed[index]:
        return suppressed
    value = series.values[index] if index < len(series.values) else None
    if value is None:
        return ""
    return str(round(value, 3)) if isinstance(value, float) else str(value)


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in labels."""
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text
