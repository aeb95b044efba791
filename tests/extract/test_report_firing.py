"""The extraction report shows the measured firing law that cell.json holds (alpha_dis, fire_threshold, fire_t_min)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from imcpnn.cell import load_cell  # noqa: E402
from imcpnn.extract.report import ROWS, comparison_md, early_md, firing_md, kick_level_md, plot_firing  # noqa: E402

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


def test_early_spikes_and_kick_levels_have_their_sections():
    cell = load_cell(CELL)
    assert early_md(cell) == [] and kick_level_md(cell) == []  # not measured: no section
    cell = cell.model_validate({**cell.model_dump(), "fire_early": {"v": [0.98, 1.0, 2.0], "t": [0.04, 0.022, 0.004]},
                                "kick_level": {"n_w": [0.1, 1.0], "n_slope": [-0.25, -0.27], "n_v": [0.43, 0.44],
                                               "p_w": [0.1, 1.0], "p_slope": [0.03, -0.13], "p_v": [0.43, 0.42]}})
    early = "\n".join(early_md(cell))
    assert f"| 1.000 | 0.0220 | {0.022 * cell.t_circ * 1e9:.2f} |" in early
    level = "\n".join(kick_level_md(cell))
    assert "| n | 1 | -0.270 | 0.440 |" in level and "| p | 0.1 | +0.030 | 0.430 |" in level
