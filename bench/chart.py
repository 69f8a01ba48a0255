"""bench/results/latest.png: the run at a glance.

Top: requests/s and p99 per scenario and concurrency, the bare hop first in
grey. Both on log scales: the bare hop and the order scenarios differ by more
than an order of magnitude, and a linear axis would flatten the slow ones.
Bottom: where the CPU of one request goes, and what growth does.
"""
import os

import matplotlib

matplotlib.use("Agg")  # files only; no display here or on CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from bench.report import PROCESS_ORDER  # noqa: E402

SYSTEM_COLOURS = ("#9ecae1", "#4292c6", "#08519c")
HOP_COLOURS = ("#d9d9d9", "#969696", "#525252")
PROCESS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def render(results, path):
    rows = results["scenarios"]
    scenarios = list(dict.fromkeys(row["scenario"] for row in rows))
    concurrencies = sorted({row["concurrency"] for row in rows})
    by_key = {(row["scenario"], row["concurrency"]): row for row in rows}

    figure, axes = plt.subplots(2, 2, figsize=(16, 11), gridspec_kw={"height_ratios": [1.1, 1]})
    figure.suptitle(
        f"make bench, {results['started_at']} ({os.cpu_count()} cores): the system against a bare nameko hop "
        f"(HTTP → one RPC → constant)",
        fontsize=13, fontweight="bold",
    )
    _grouped_bars(axes[0][0], scenarios, concurrencies, by_key, "rps", "requests/s (log scale; higher is better)",
                  "{:.0f}")
    _grouped_bars(axes[0][1], scenarios, concurrencies, by_key, "p99_ms", "p99 latency, ms (log scale; lower is better)",
                  "{:.0f}")
    middle = concurrencies[len(concurrencies) // 2]
    _cpu_breakdown(axes[1][0], [by_key[s, middle] for s in scenarios if (s, middle) in by_key], middle)
    _growth(axes[1][1], results.get("growth", []))
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _label(scenario):
    return scenario.replace(" (bare hop)", "\n(bare hop)").replace("?", "\n?").replace(" GET/POST", "\nGET/POST")


def _grouped_bars(axis, scenarios, concurrencies, by_key, field, title, number):
    width = 0.8 / len(concurrencies)
    for index, concurrency in enumerate(concurrencies):
        for position, scenario in enumerate(scenarios):
            row = by_key.get((scenario, concurrency))
            if row is None or not row[field]:
                continue
            colours = HOP_COLOURS if row["target"] == "bare hop" else SYSTEM_COLOURS
            x = position - 0.4 + width * (index + 0.5)
            axis.bar(x, row[field], width, color=colours[index % len(colours)], edgecolor="black", linewidth=0.4)
            axis.text(x, row[field] * 1.05, number.format(row[field]), ha="center", va="bottom", fontsize=7)
    axis.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))  # 20, 50, 200, 500: enough to read off
    axis.yaxis.set_minor_formatter(plain)
    axis.tick_params(axis="y", which="minor", labelsize=7)
    # Room above the tallest bar for its label and the legend.
    tallest = max((row[field] for row in by_key.values() if row[field]), default=1)
    axis.set_ylim(top=tallest * 6)
    axis.set_title(title, fontsize=11)
    axis.set_xticks(range(len(scenarios)), [_label(s) for s in scenarios], fontsize=8)
    axis.grid(axis="y", which="major", alpha=0.3)
    handles = [Patch(color=SYSTEM_COLOURS[index % len(SYSTEM_COLOURS)], label=f"c={concurrency}")
               for index, concurrency in enumerate(concurrencies)]
    axis.legend(handles=handles, title="concurrency (grey: bare hop)", fontsize=8, title_fontsize=8,
                loc="upper right", ncol=len(handles))


def _cpu_breakdown(axis, rows, concurrency):
    names = [n for n in PROCESS_ORDER if any(n in row["cpu_ms_per_request"] for row in rows)]
    names += sorted({n for row in rows for n in row["cpu_ms_per_request"]} - set(names))
    labels = [row["scenario"] for row in rows]
    left = [0.0] * len(rows)
    for index, name in enumerate(names):
        values = [row["cpu_ms_per_request"].get(name) or 0 for row in rows]
        axis.barh(labels, values, left=left, color=PROCESS_COLOURS[index % len(PROCESS_COLOURS)], label=name)
        left = [a + b for a, b in zip(left, values)]
    for y, total in enumerate(left):
        axis.text(total, y, f" {total:.1f} ms", va="center", fontsize=8)
    axis.invert_yaxis()
    axis.tick_params(axis="y", labelsize=8)
    axis.set_title(f"CPU per request by process at c={concurrency}, ms (all cores together)", fontsize=11)
    axis.legend(fontsize=7, ncol=3, loc="upper right")
    axis.set_xlim(right=max(left, default=1) * 1.15)
    axis.grid(axis="x", alpha=0.3)


def _growth(axis, rows):
    grown = [row for row in rows if row.get("vs_fresh")]
    axis.set_title("growth at c=16: multiple of the fresh database's figure\n"
                   "(1 = unchanged; requests/s above 1 and p99 below 1 are better)", fontsize=11)
    if not grown:
        axis.text(0.5, 0.5, "no growth runs", ha="center", transform=axis.transAxes)
        return
    labels = [row["scenario"].replace(", after", "\nafter").replace(", never", "\nnever")
              .replace(" orders, ", " orders\n") for row in grown]
    for offset, field, name, colour in ((-0.2, "rps", "requests/s", "#4292c6"), (0.2, "p99", "p99", "#e6550d")):
        values = [row["vs_fresh"][field] or 0 for row in grown]
        positions = [i + offset for i in range(len(grown))]
        axis.bar(positions, values, 0.4, label=name, color=colour, edgecolor="black", linewidth=0.4)
        for x, value in zip(positions, values):
            axis.text(x, value, f"{value:.2f}×", ha="center", va="bottom", fontsize=8)
    axis.axhline(1, color="black", linewidth=0.8)
    axis.set_xticks(range(len(grown)), labels, fontsize=8)
    axis.legend(fontsize=8)
    axis.margins(y=0.15)
