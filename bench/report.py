"""The printed report: one table row per measurement, then the breakdowns."""
import json

# Processes in the order they are shown; any other (a new service) follows.
# CPU of processes outside the measurement (in cores) above which a row is flagged.
DISTURBED_CORES = 0.1
PROCESS_ORDER = ("gateway", "product", "customers", "orders", "inventory", "shipping",
                 "secantusdb", "rabbitmq", "bare_hop")

MAIN_COLUMNS = (
    ("scenario", 28), ("c", 3), ("req/s", 8), ("p50 ms", 8), ("p99 ms", 8), ("non-2xx", 7), ("err", 4),
    ("CPU ms/req", 10), ("DB ops/req", 10), ("RPC/req", 7), ("events/req", 10),
    ("×hop req/s", 10), ("×hop p99", 8), ("×hop CPU", 8),
)
GROWTH_COLUMNS = (
    ("growth (c=16)", 64), ("req/s", 8), ("p50 ms", 8), ("p99 ms", 8), ("non-2xx", 7),
    ("CPU ms/req", 10), ("DB ops/req", 10), ("RPC/req", 7), ("×fresh req/s", 12), ("×fresh p99", 10),
    ("×fresh CPU", 10),
)


def say(line=""):
    print(line, flush=True)


def _number(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value):
    return "-" if value is None else f"{value:.2f}×"


def _line(columns, values):
    first, *rest = zip(columns, values)
    (_, width), value = first
    return f"{value:<{width}}" + "".join(f" {value:>{width}}" for (_, width), value in rest)


def main_header():
    say(_line(MAIN_COLUMNS, [name for name, _ in MAIN_COLUMNS]))


def main_row(row):
    vs = row.get("vs_bare_hop") or {}
    say(_line(MAIN_COLUMNS, [
        row["scenario"], str(row["concurrency"]), _number(row["rps"]), _number(row["p50_ms"]),
        _number(row["p99_ms"]), str(row["non_2xx"]), str(row["socket_errors"]),
        _number(row["cpu_ms_per_request_total"], 2), _number(row["db_ops_per_request"], 2),
        _number(row["rpc_per_request"], 2), _number(row["events_per_request"], 2),
        _ratio(vs.get("rps")), _ratio(vs.get("p99")), _ratio(vs.get("cpu")),
    ]))
    _flag_disturbance(row)
    if row["repeated"]:
        say(f"  ! {row['repeated']} requests past the end of the id file repeated a cancel")


def process_table(rows):
    names = _process_names(rows)
    columns = [("CPU ms per request", 28), ("c", 3)] + [(name, 10) for name in names] + \
              [("total", 8), ("(wrk)", 7), ("busiest, % of a core", 24), ("others %", 8)]
    say(_line(columns, [name for name, _ in columns]))
    for row in rows:
        per_process = row["cpu_ms_per_request"]
        busiest = max(row["cpu_cores"], key=row["cpu_cores"].get)
        say(_line(columns, [row["scenario"], str(row["concurrency"])]
                  + [_number(per_process.get(name), 2) for name in names]
                  + [_number(row["cpu_ms_per_request_total"], 2), _number(row["wrk_cpu_ms_per_request"], 2),
                     f"{busiest} {row['cpu_cores'][busiest] * 100:.0f} %",
                     f"{row['other_cpu_cores'] * 100:.0f}"]))


def breakdowns(rows):
    """Per request: database operations by kind, and calls by service entrypoint (JSON)."""
    for row in rows:
        if row["db_ops_per_request_by_kind"] is None:
            continue
        say(f"{row['scenario']} c={row['concurrency']}")
        say(f"  db ops/req: {json.dumps(row['db_ops_per_request_by_kind'])}")
        say(f"  calls/req:  {json.dumps(row['calls_per_request'])}")


def growth_header():
    say(_line(GROWTH_COLUMNS, [name for name, _ in GROWTH_COLUMNS]))


def growth_row(row):
    vs = row.get("vs_fresh") or {}
    say(_line(GROWTH_COLUMNS, [
        row["scenario"], _number(row["rps"]), _number(row["p50_ms"]), _number(row["p99_ms"]),
        str(row["non_2xx"]), _number(row["cpu_ms_per_request_total"], 2),
        _number(row["db_ops_per_request"], 2), _number(row["rpc_per_request"], 2),
        _ratio(vs.get("rps")), _ratio(vs.get("p99")), _ratio(vs.get("cpu")),
    ]))
    _flag_disturbance(row)


def _flag_disturbance(row):
    if row["other_cpu_cores"] > DISTURBED_CORES:
        say(f"  ! other processes used {row['other_cpu_cores'] * 100:.0f} % of a core meanwhile: "
            f"this row is disturbed")


def memory_table(memory):
    phases = list(memory)
    names = _ordered({name for sizes in memory.values() for name in sizes})
    columns = [("resident memory after the run, MiB", 36)] + [(phase, 16) for phase in phases]
    say(_line(columns, [name for name, _ in columns]))
    for name in names:
        say(_line(columns, [name] + [_number(memory[phase].get(name)) for phase in phases]))


def stock_line(phase, check):
    verdict = "OK" if check["ok"] else "FAILED"
    line = (f"stock check ({phase}): {check['products']:,} products, {check['ordered_products']:,} of them "
            f"ordered; {check['confirmed_orders']:,} confirmed orders hold {check['confirmed_units']:,} units; "
            f"stock = initial - confirmed quantities for every product: "
            f"{'yes' if not check['mismatched'] else 'NO'}; {check['pending_orders']} pending; "
            f"{check['oversold']} oversold: {verdict}")
    say(line)
    if check["mismatched"]:
        say(f"  mismatched (first ten): {json.dumps(check['mismatched'])}")


def _process_names(rows):
    return _ordered({name for row in rows for name in row["cpu_ms_per_request"]})


def _ordered(names):
    known = [name for name in PROCESS_ORDER if name in names]
    return known + sorted(names - set(known))
