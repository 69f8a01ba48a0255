"""The reliability report's rows, and the size a fault or fuzz test runs at.

Every fault and fuzz test (tests/faults/) runs at two sizes: CI size inside
`make test`, and full size under `make reliability` (RELIABILITY_SCALE=full).
Each records what it did and what it found with ``record``; when
RELIABILITY_REPORT names a file (as `make reliability` does), the row is
appended to it as one JSON line, and scripts/reliability_report.py prints
the rows as a table and writes them as one JSON document.
"""
import json
import os

FULL = "full"


def full_size():
    return os.environ.get("RELIABILITY_SCALE") == FULL


def scaled(ci, full):
    """``ci`` inside `make test`, ``full`` under `make reliability`."""
    return full if full_size() else ci


def record(fault, action, requests, client_errors=None, lost=0, doubled=0, oversold=0,
           recovery_seconds=None, server_errors=0):
    """One row: the fault, what was done, requests sent, client errors by status, and what broke.

    ``client_errors``: {status: count} of the answers that were not 2xx.
    ``lost`` / ``doubled``: orders or events lost or applied twice; ``oversold``:
    units sold beyond stock; ``recovery_seconds``: from the fault's end to the
    first request answered normally again (None if not measured).
    """
    row = {
        "fault": fault,
        "action": action,
        "requests": requests,
        "client_errors": {str(status): count for status, count in sorted((client_errors or {}).items())},
        "lost": lost,
        "doubled": doubled,
        "oversold": oversold,
        "server_errors": server_errors,
        "recovery_seconds": None if recovery_seconds is None else round(recovery_seconds, 2),
        "scale": FULL if full_size() else "ci",
    }
    path = os.environ.get("RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps(row) + "\n")
    return row
