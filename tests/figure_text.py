"""Where a drawn figure's text sits: every visible Text artist's window extent (tick labels,
axis labels, titles, legends, annotations, cell labels), the pairs that overlap, the panels
without tick labels. For the figure tests (tests/test_figure_text.py)."""

from __future__ import annotations

from itertools import combinations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

MIN_GAP = 1.0  # points: texts closer than this read as one ("0" against "10^1" reads "010^1")


def draw(fig: Figure):
    """Draw `fig` on an Agg canvas (the report's figures have none until saved); the renderer."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def drawn_ticks(axis) -> list:
    """The ticks the axis draws (those in its view interval), as `Axis.draw` picks them."""
    return axis._update_ticks()  # private, but what Axis.draw itself calls (matplotlib >= 3.1)


def tick_labels(ax) -> list[Text]:
    """The visible, non-empty tick labels that `ax` draws, both axes, major and minor."""
    out = []
    for axis in (ax.xaxis, ax.yaxis):
        for tick in drawn_ticks(axis):
            for label in (tick.label1, tick.label2):
                if label.get_visible() and label.get_text().strip():
                    out.append(label)
    return out


def texts(fig: Figure) -> list[tuple[str, Text, Bbox]]:
    """(description, artist, window extent) of every text drawn in `fig`, after a draw."""
    renderer = draw(fig)
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((tick.label1, tick.label2))
    shown = []
    for ax in fig.axes:
        if ax.get_visible():
            shown += [(f"tick label of axes {fig.axes.index(ax)}", t) for t in tick_labels(ax)]
    for t in fig.findobj(Text):
        if t in ticks or not t.get_visible() or not t.get_text().strip():
            continue
        axes = t.axes
        if axes is not None and not axes.get_visible():
            continue
        shown.append(("text", t))
    out = []
    for what, t in shown:
        box = t.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            out.append((what, t, box))
    return out


def overlaps(fig: Figure) -> list[str]:
    """The pairs of texts of `fig` whose extents overlap or come closer than `MIN_GAP`, one
    line each ('0' / '$\\mathdefault{10^{1}}$' (tick label of axes 3 / ...))."""
    found = []
    gap = MIN_GAP * fig.dpi / 72
    for (w1, t1, b1), (w2, t2, b2) in combinations(texts(fig), 2):
        dx = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        dy = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        if dx > -gap and dy > -gap:
            found.append(f"{t1.get_text()!r} ({w1}) / {t2.get_text()!r} ({w2})")
    return found


def bare_panels(fig: Figure, both: bool = True) -> list[str]:
    """The visible axes (colour bars excepted) lacking x or y tick labels (`both`), or lacking
    any (not `both`: facets that share the first panel's y values may leave them out)."""
    draw(fig)
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or hasattr(ax, "_colorbar"):
            continue
        missing = [
            name
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis))
            if not any(
                t.get_visible() and t.get_text().strip()
                for tick in drawn_ticks(axis)
                for t in (tick.label1, tick.label2)
            )
        ]
        if missing if both else len(missing) == 2:
            title = ax.get_title() or "untitled"
            out.append(f"axes {i} ({title}): no {' or '.join(missing)} tick labels")
    return out


def legends_over_panels(fig: Figure) -> list[str]:
    """Legends (of the figure or of an axes) whose frame overlaps a visible panel."""
    renderer = draw(fig)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    out = []
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for i, ax in enumerate(fig.axes):
            if ax.get_visible() and box.overlaps(ax.get_window_extent(renderer)):
                texts = ", ".join(t.get_text() for t in leg.get_texts())
                out.append(f"legend ({texts}) over axes {i} ({ax.get_title()})")
    return out
