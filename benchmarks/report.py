"""What both benchmark scripts write: the machine they ran on, and their results as Markdown and PNG.

Results go to benchmarks/results/<name>.md and <name>.png; the Markdown starts with the date,
the machine, its load average (the machine may be shared: CPU per request is steadier than
req/s) and the versions of everything measured.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_header(title: str, versions: dict[str, str], notes: list[str], load_at_start: str) -> list[str]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "",
             f"- date: {now}",
             f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
             f"- load average (1/5/15 min) at start: {load_at_start}, at the end: {load_average()}"]
    lines += [f"- {name}: {version}" for name, version in versions.items()]
    lines += [f"- {note}" for note in notes]
    return lines + [""]


def table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + \
        ["| " + " | ".join(row) + " |" for row in rows] + [""]


def write_markdown(name: str, lines: list[str]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def bar_charts(name: str, title: str, charts: list[tuple[str, list[str], dict[str, list[float]], bool]]) -> Path | None:
    """One PNG of side-by-side grouped bar charts: (title, labels, {series: values}, log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (make bench / make bench-http install it)")
        return None
    fig, axes = plt.subplots(1, len(charts), figsize=(6.5 * len(charts), 5.5), squeeze=False)
    for ax, (chart_title, labels, series, log) in zip(axes[0], charts, strict=True):
        width = 0.8 / max(1, len(series))
        for i, (series_name, values) in enumerate(series.items()):
            positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
            ax.bar(positions, [v if v == v else 0 for v in values], width, label=series_name)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(chart_title, fontsize=10)
        if log:
            ax.set_yscale("log")
        if len(series) > 1:
            ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
