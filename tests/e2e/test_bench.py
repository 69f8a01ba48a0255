"""`make bench` runs against the system and reports its figures (their values are not judged)."""
import re
import subprocess
import sys

from support import ROOT


def test_the_benchmark_reports_every_operation_and_oversells_nothing(stack):
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--url", stack, "--requests", "6", "--concurrency", "1", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^(GET /products/\{id\}|POST /orders)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+$",
                      result.stdout, re.MULTILINE)
    assert sorted(rows) == sorted([(op, c) for op in ("GET /products/{id}", "POST /orders") for c in ("1", "3")])
    assert "stock left after 12 orders of one unit each: 0" in result.stdout
