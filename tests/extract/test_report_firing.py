"""The extraction report shows the measured firing law that cell.json holds (alpha_dis, fire_threshold, fire_t_min)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from imcpnn.cell import load_cell  # noqa: E402
from imcpnn.extract.report import ROWS, comparison_md, firing_md, plot_firing  # noqa: E402

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
# as measured by `imc-extract run` (tt, 27 C, sky130-rcspike)
MEASURED = {"alpha_dis": 1.0852, "fire_threshold": 1.0177, "fire_t_min": 0.004155}


def test_firing_law_in_the_tables_and_its_own_section():
    cell = load_cell(CELL).model_copy(update=MEASURED)
    assert {"alpha_dis", "fire_threshold", "fire_t_min"} <= set(ROWS)
    assert "| alpha_dis | 1.085 |" in comparison_md({"tt": cell})
    md = "\n".join(firing_md(cell))
    assert "| fire_threshold (theta) | 1.0177 | 1 |" in md and "4.16 ns" in md
    assert "Not measured" in "\n".join(firing_md(load_cell(CELL)))


def test_firing_plot_draws_points_fit_and_ideal(tmp_path):
    cell = load_cell(CELL).model_copy(update=MEASURED)
    fig, ax = plt.subplots()
    plot_firing(ax, cell, [(0.1, 0.9), (0.5, 0.5), (2.0, 0.004)])
    assert len(ax.lines) == 3 and ax.lines[1].get_ydata().min() >= MEASURED["fire_t_min"] - 1e-12
    fig.savefig(tmp_path / "f.png")
    plt.close(fig)
    assert (tmp_path / "f.png").stat().st_size > 1000
