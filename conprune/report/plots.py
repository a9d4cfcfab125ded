"""The report's PNG plots, drawn with matplotlib's Agg backend so they render without a display.

Each function takes plain rows (the summary rows of demo_summary, plus `kept` per layer) or curve
series and writes one PNG atomically, so a README that links the file never sees half a picture.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

# The backend must be chosen before pyplot loads: no display on training machines or in CI.
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from conprune.io_atomic import atomic_open
from conprune.stages.methods import TEACHER, marker, report_key

UNITS = (("heads", "attention heads"), ("ffn1", "FFN 1 units"), ("ffn2", "FFN 2 units"), ("conv", "conv channels"))


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (fewer params and lower WER), by params."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return front


def _scatter_by_method(ax: plt.Axes, rows: list[dict], x_of) -> None:
    for method in sorted({r["method"] for r in rows}, key=report_key):
        mine = sorted((x_of(r), 100 * r["test_wer"]) for r in rows if r["method"] == method)
        xs, ys = zip(*mine)
        ax.plot(xs, ys, marker=marker(method), linestyle="-" if len(mine) > 1 else "none",
                markersize=12 if method == TEACHER else 7, label=method)


def plot_pareto(rows: list[dict], path: Path) -> Path:
    """Test WER against parameters for every method, with the Pareto front over all of them."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _scatter_by_method(ax, rows, lambda r: r["params"] / 1e6)
    front = pareto_front([(r["params"] / 1e6, 100 * r["test_wer"]) for r in rows])
    if len(front) > 1:
        ax.step(*zip(*front), where="post", color="grey", linestyle="--", linewidth=1, label="Pareto front")
    ax.set(xlabel="parameters (M)", ylabel="test WER (%, clean + other)", title="WER vs size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_latency(rows: list[dict], path: Path) -> Path:
    """Test WER against the side-by-side latency ratio (÷ teacher); rows without one are left out."""
    timed = [r for r in rows if r.get("latency_ratio") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if timed:
        _scatter_by_method(ax, timed, lambda r: r["latency_ratio"])
        ax.legend(fontsize=8)
    missing = len(rows) - len(timed)
    note = f" ({missing} run(s) without a bench ratio left out)" if missing else ""
    ax.set(xlabel="CPU latency ÷ teacher (make bench)", ylabel="test WER (%)", title="WER vs latency" + note)
    ax.title.set_fontsize(9 if missing else 11)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_curves(curves: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> Path:
    """Per prune run: expected/deterministic sparsity against its target, and the two multipliers λ."""
    fig, (top, mid, bottom) = plt.subplots(3, 1, figsize=(6.4, 7.6), sharex=True, layout="constrained")
    for i, (run, series) in enumerate(curves.items()):
        color = f"C{i}"
        for name, style in (("sparsity/expected", "-"), ("sparsity/deterministic", ":"), ("sparsity/target", "--")):
            if series.get(name):
                top.plot(*zip(*series[name]), style, color=color, label=f"{run}: {name.split('/')[1]}")
        # λ1 and λ2 live on different scales, so each gets its own axes.
        for ax, name in ((mid, "lagrangian/lambda1"), (bottom, "lagrangian/lambda2")):
            if series.get(name):
                ax.plot(*zip(*series[name]), color=color, label=run)
    top.set(ylabel="sparsity", title="sparsity and Lagrange multipliers over training")
    mid.set(ylabel="λ1")
    bottom.set(xlabel="step", ylabel="λ2")
    for ax in (top, mid, bottom):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_kept(kept: dict[str, list[dict]], path: Path) -> Path:
    """One heat map per structure: rows are runs, columns layers, colour the fraction kept of the
    dense model, the number the count kept. Shows where pruning took its budget from."""
    labels = list(kept)
    layers = max((len(v) for v in kept.values()), default=0)
    height = 1.0 + len(UNITS) * (0.5 + 0.35 * max(len(labels), 1))
    fig, axes = plt.subplots(len(UNITS), 1, figsize=(2.0 + 0.9 * max(layers, 1), height), sharex=True,
                             squeeze=False, layout="constrained")
    image = None
    for ax, (unit, title) in zip(axes[:, 0], UNITS):
        grid = [[row[unit] / row[f"{unit}_dense"] if row.get(f"{unit}_dense") else float("nan") for row in kept[label]]
                + [float("nan")] * (layers - len(kept[label])) for label in labels]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for y, label in enumerate(labels):
            for x, row in enumerate(kept[label]):
                ax.text(x, y, str(row[unit]), ha="center", va="center", fontsize=7,
                        color="white" if grid[y][x] < 0.6 else "black")
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xticks(range(layers), [str(i) for i in range(layers)])
        ax.set_title(f"{title} kept (÷ dense)", fontsize=9)
    axes[-1, 0].set_xlabel("layer")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), fraction=0.04, label="fraction kept")
    return _save(fig, path)
