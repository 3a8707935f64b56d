"""A few-rows-high bar chart of the loss, drawn with block characters (no plotting library).

The values are bucketed to the width available (mean per bucket), scaled between their min and
max, and each column is stacked from eighth-blocks, so a falling loss reads at a glance in 80×24.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


def bucket(values: list[float], width: int) -> list[float]:
    """At most `width` values: the mean of each consecutive run, in order."""
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        chunk = values[lo:max(hi, lo + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def draw(values: list[float], width: int, height: int) -> list[str]:
    """The chart as `height` strings of `width` characters each (top row first)."""
    if width <= 0 or height <= 0:
        return []
    cols = bucket(values, width)
    if not cols:
        return [" " * width for _ in range(height)]
    lo, hi = min(cols), max(cols)
    span = hi - lo or 1.0
    levels = [round((v - lo) / span * (height * 8 - 1)) + 1 for v in cols]
    rows = []
    for row in range(height - 1, -1, -1):
        line = []
        for level in levels:
            fill = level - row * 8
            line.append(BLOCKS[max(0, min(8, fill))])
        rows.append("".join(line).ljust(width))
    return rows


class LossChart(Widget):
    values: reactive[list[float]] = reactive(list, always_update=True)

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if not self.values:
            return Text("")
        label = f" last {self.values[-1]:.4g}  min {min(self.values):.4g}  steps {len(self.values)}"
        lines = draw(self.values, width, max(1, height - 1))
        return Text("\n".join([*lines, label[:width]]))
