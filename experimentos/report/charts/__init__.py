"""Pictures of an analysis: forest plot, sequential looks, lift by exposure day and power curve
(PNG bytes out).

Pure functions of the result model, drawn with matplotlib's Agg canvas and no pyplot state, so
the Slack shell can render them in a worker thread. Each ``*_figure`` returns a
:class:`matplotlib.figure.Figure` (for tests and further drawing); each ``*_png`` its PNG bytes.
"""

from experimentos.model import Analysis
from experimentos.report.charts._style import STATUS_COLOURS, data_uri
from experimentos.report.charts.forest import forest_figure, forest_png
from experimentos.report.charts.lift_by_day import (
    lift_by_day_alt_text,
    lift_by_day_figure,
    lift_by_day_png,
)
from experimentos.report.charts.look_trend import LookPoint, looks_figure, looks_png
from experimentos.report.charts.power_curve import power_curve_figure, power_curve_png
from experimentos.report.charts.rows import ForestRow, forest_alt_text, forest_rows


def forest_data_uri(analysis: Analysis) -> str:
    """The forest plot as a ``data:image/png;base64,…`` URI for the HTML memo."""
    return data_uri(forest_png(analysis))


__all__ = [
    "STATUS_COLOURS",
    "ForestRow",
    "LookPoint",
    "data_uri",
    "forest_alt_text",
    "forest_data_uri",
    "forest_figure",
    "forest_png",
    "forest_rows",
    "lift_by_day_alt_text",
    "lift_by_day_figure",
    "lift_by_day_png",
    "looks_figure",
    "looks_png",
    "power_curve_figure",
    "power_curve_png",
]
