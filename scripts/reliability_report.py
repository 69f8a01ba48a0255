"""Print the reliability report's rows as a table and save them as one JSON document.

    python scripts/reliability_report.py ROWS.jsonl OUT.json

ROWS.jsonl: one JSON object a line, as tests/reliability.py ``record`` writes them
(`make reliability` runs the fault tests with RELIABILITY_REPORT pointing there).
"""
import json
import sys
from pathlib import Path

COLUMNS = [
    ("fault", "fault"), ("action", "what was done"), ("requests", "requests"),
    ("client_errors", "client errors"), ("lost", "lost"), ("doubled", "doubled"),
    ("oversold", "oversold"), ("server_errors", "5xx"), ("recovery_seconds", "recovery s"),
]


def cell(value):
    if isinstance(value, dict):
        return ", ".join(f"{status}: {count}" for status, count in value.items()) or "-"
    return "-" if value is None else str(value)


def table(rows):
    lines = [[title for _, title in COLUMNS]] + [[cell(row.get(key)) for key, _ in COLUMNS] for row in rows]
    widths = [min(max(len(line[i]) for line in lines), 60) for i in range(len(COLUMNS))]
    out = []
    for number, line in enumerate(lines):
        out.append(" | ".join(text[:60].ljust(width) for text, width in zip(line, widths)))
        if number == 0:
            out.append("-+-".join("-" * width for width in widths))
    return "\n".join(out)


def main(rows_path, out_path):
    source = Path(rows_path)
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()] if source.exists() else []
    print(table(rows))
    totals = {key: sum(row.get(key) or 0 for row in rows) for key in ("lost", "doubled", "oversold", "server_errors")}
    print(f"\n{len(rows)} rows; totals: " + ", ".join(f"{key} {value}" for key, value in totals.items()))
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps({"rows": rows, "totals": totals}, indent=2) + "\n")
    print(f"saved {out_path}")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
