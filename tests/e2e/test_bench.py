"""`make bench` in its quick mode: its own system and bare hop, every scenario measured
and reported (the values are not judged), nothing oversold, nothing left running.

It needs wrk (Debian's `wrk`; .ci/run installs it): without it the test is
skipped, except on CI (CI set), where it fails.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from support import ROOT

SCENARIOS = ("GET /products/{id}", "GET /products?page_size=20", "POST /orders", "DELETE /orders/{id}",
             "mixed 80/20 GET/POST")
HOP = "GET /hop (bare hop)"
ORDERING = ("POST /orders", "DELETE /orders/{id}", "mixed 80/20 GET/POST")
CONCURRENCIES = (1, 16, 64)
HARNESS_TIMEOUT_SECONDS = 150

NUMBER = r"\d+\.\d+"
RATIO = r"\d+\.\d+×"
ROW = re.compile(
    rf"^(?P<scenario>.+?)\s+(?P<c>\d+)\s+(?P<rps>{NUMBER})\s+(?P<p50>{NUMBER})\s+(?P<p99>{NUMBER})"
    rf"\s+(?P<non_2xx>\d+)\s+(?P<errors>\d+)\s+(?P<cpu>{NUMBER})\s+(?P<db>{NUMBER}|-)\s+(?P<rpc>{NUMBER}|-)"
    rf"\s+(?P<events>{NUMBER}|-)\s+(?P<x_rps>{RATIO}|-)\s+(?P<x_p99>{RATIO}|-)\s+(?P<x_cpu>{RATIO}|-)$",
    re.MULTILINE,
)

GROWTH_ROW = re.compile(
    rf"^((?:POST /orders|GET /products/\{{id\}}), [^\n]+?)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+\d+\s+{NUMBER}"
    rf"\s+{NUMBER}\s+{NUMBER}\s+({RATIO}|-)\s+(?:{RATIO}|-)\s+(?:{RATIO}|-)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    if shutil.which("wrk") is None:
        reason = "wrk is not installed (apt-get install wrk)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("bench")
    # Every process the harness starts inherits this: none may carry it afterwards.
    token = f"bench-test-{uuid.uuid4().hex}"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--quick", "--run-dir", str(work / "run"),
         "--results", str(work / "results")],
        cwd=ROOT, env={**os.environ, "BENCH_TEST_TOKEN": token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=HARNESS_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: the harness stops everything it started
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the quick bench took over {HARNESS_TIMEOUT_SECONDS} s:\n{stdout}\n{stderr}")
    results = work / "results"
    return {
        "code": process.returncode, "stdout": stdout, "stderr": stderr, "token": token,
        "json": json.loads((results / "latest.json").read_text()) if (results / "latest.json").exists() else None,
        "png": results / "latest.png",
    }


def test_it_succeeds_and_writes_its_results(bench):
    assert bench["code"] == 0, f"{bench['stdout']}\n{bench['stderr']}"
    assert bench["json"] is not None
    assert bench["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench["png"].stat().st_size > 20_000  # a chart, not an empty canvas


def test_every_scenario_and_the_bare_hop_is_printed_with_figures(bench):
    rows = {(m["scenario"], int(m["c"])): m for m in ROW.finditer(bench["stdout"])}
    assert set(rows) == {(s, c) for s in (HOP,) + SCENARIOS for c in CONCURRENCIES}, bench["stdout"]
    for (scenario, _), row in rows.items():
        assert float(row["rps"]) > 0 and float(row["cpu"]) > 0
        measured_inside = [row[k] for k in ("db", "rpc", "events", "x_rps", "x_p99", "x_cpu")]
        if scenario == HOP:
            assert measured_inside == ["-"] * 6  # no database, no logs: it is the reference
        else:
            assert "-" not in measured_inside, row.group(0)
            assert float(row["rpc"]) > 0.8  # every route calls a service (1 s windows cut a few calls off)
    assert "CPU ms per request" in bench["stdout"] and "resident memory after the run" in bench["stdout"]


def test_the_json_has_every_scenario_with_its_figures_and_ratios(bench):
    rows = {(r["scenario"], r["concurrency"]): r for r in bench["json"]["scenarios"]}
    assert set(rows) == {(s, c) for s in (HOP,) + SCENARIOS for c in CONCURRENCIES}
    for (scenario, concurrency), row in rows.items():
        assert row["requests"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
        processes = set(row["cpu_ms_per_request"])
        if scenario == HOP:
            assert "bare_hop" in processes and row["db_ops_per_request"] is None
        else:
            assert {"gateway", "product", "orders", "secantusdb"} <= processes
            assert row["db_ops_per_request"] > 0 and set(row["db_ops_per_request_by_kind"]) == {
                "insert", "query", "update", "delete", "getmore", "command"}
            assert row["vs_bare_hop"]["rps"] > 0 and row["vs_bare_hop"]["cpu"] > 0
            assert row["bare_hop_beside"]["requests"] > 0  # the reference measured next to it
    # What each scenario does shows in its calls.
    assert rows["POST /orders", 16]["calls_per_request"]["orders.create_order (rpc)"] > 0.9
    assert rows["DELETE /orders/{id}", 16]["calls_per_request"]["orders.cancel_order (rpc)"] > 0.9
    assert rows["POST /orders", 16]["events_per_request"] > 0


def test_orders_with_enough_stock_all_succeed_and_each_cancel_meets_a_fresh_order(bench):
    rows = [r for r in bench["json"]["scenarios"] if r["scenario"] in ORDERING]
    rows += [r for r in bench["json"]["growth"] if r["scenario"].startswith("POST /orders")]
    for row in rows:
        assert (row["non_2xx"], row["socket_errors"]) == (0, 0), row
    assert all(r["repeated"] == 0 for r in rows if r["scenario"] == "DELETE /orders/{id}")


def test_growth_is_measured_against_the_fresh_database(bench):
    growth = bench["json"]["growth"]
    assert len(growth) == 6
    for row in (growth[1], growth[3], growth[4], growth[5]):
        assert row["vs_fresh"]["rps"] > 0 and row["vs_fresh"]["p99"] > 0
    assert growth[4]["vs_never_ordered"]["rps"] > 0 and growth[5]["vs_never_ordered"]["rps"] > 0
    # The best-seller's 30 orders all shipped, and its document kept no marker of them.
    assert bench["json"]["growth_sizes"] == {"orders": 60, "popular_product_orders": 20, "catalogue": 500,
                                             "shipped_best_seller_orders": 30, "best_seller_markers": 0}
    printed = GROWTH_ROW.findall(bench["stdout"])
    assert [label for label, _ in printed] == [
        "POST /orders, fresh database", "POST /orders, after 60 orders", "GET /products/{id}, fresh database",
        "GET /products/{id}, after 60 orders, never ordered", "GET /products/{id}, after 60 orders, 20 open orders",
        "GET /products/{id}, after 60 orders, 30 shipped orders",
    ], bench["stdout"]
    assert [ratios for _, ratios in printed].count("-") == 2  # the fresh figures are the reference


def test_no_stock_is_oversold(bench):
    lines = re.findall(r"^stock check \((?:system|fresh system|grown system)\): .*$", bench["stdout"],
                       re.MULTILINE)
    assert len(lines) == 3, bench["stdout"]
    for line in lines:
        assert line.endswith("0 oversold: OK"), line
    for check in bench["json"]["stock_check"].values():
        assert check["ok"] and check["oversold"] == 0 and check["confirmed_orders"] > 0


def test_nothing_it_started_is_left_running(bench):
    leftovers = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if bench["token"].encode() in environ.read_bytes():
                leftovers.append(environ.parent.name)
        except OSError:
            continue
    assert not leftovers, f"processes of the bench still running: {leftovers}"
