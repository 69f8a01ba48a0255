"""`make bench`: the system beside a bare nameko hop, in one run, on this machine.

    python -m bench.run [--duration 8] [--warmup 2] [--concurrency 1 16 64] [--quick] ...

Starts its own system (every service, a fresh SecantusDB, its own RabbitMQ
vhost, free ports; under .run/bench/) and the bare hop (bench/bare_hop.py),
drives both with wrk, and stops everything at the end, also on Ctrl-C.

For each scenario and concurrency it prints requests/s, p50 and p99 latency,
responses that were not 2xx, CPU per request of every process (the services,
SecantusDB, the RabbitMQ server), database operations and calls between
services per request, each also as a multiple of a bare hop run made just
before it. Then growth: POST /orders and GET /products/{id} on a fresh system
against one grown to many orders and a big catalogue, and a product with many
open orders, and one with many shipped orders, against one never ordered. Then the memory of every process and a
check that no stock was oversold. Results: bench/results/latest.json and
latest.png.

Figures are only comparable within one run on one machine: read the ratios.
Traffic goes only to 127.0.0.1 and every load is bounded in time.
"""
import argparse
import contextlib
import json
import math
import random
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import chart, environment, probes, report, workload, wrk
from bench.environment import ROOT, StackError
from bench.report import say
from bench.workload import order_body, progress

HOP = "GET /hop (bare hop)"
GET_PRODUCT = "GET /products/{id}"
LIST_PRODUCTS = "GET /products?page_size=20"
PLACE_ORDER = "POST /orders"
CANCEL_ORDER = "DELETE /orders/{id}"
MIXED = "mixed 80/20 GET/POST"
SCENARIOS = (GET_PRODUCT, LIST_PRODUCTS, PLACE_ORDER, CANCEL_ORDER, MIXED)

GROWTH_CONCURRENCY = 16
# Stock no run can exhaust, so every order is confirmed unless something fails.
ORDER_STOCK = 1_000_000
# The catalogue the list scenario pages through (more than one page of 20).
LISTED_PRODUCTS = 40
CATALOGUE_STOCK = 1_000
# How long the best-seller's markers may take to go once its orders shipped.
SETTLE_TIMEOUT_SECONDS = 60
# Cancel ids per window: this many times the best rate POST /orders achieved
# (cancelling costs about as much as placing; the best rate, since a run the
# rest of the machine slowed down would leave too few).
CANCEL_HEADROOM = 1.25


def main(argv=None):
    args = _arguments(argv)
    wrk.require()
    # SIGTERM (a CI runner, `kill`) stops like Ctrl-C: whatever was started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    results = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {key: value for key, value in vars(args).items() if key not in ("run_dir", "results")},
        "memory": {}, "stock_check": {},
    }
    try:
        run(args, results)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; everything the bench started is stopped", file=sys.stderr)
        return 130
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    _save(results, Path(args.results))
    say(f"\nbench took {results['elapsed_seconds'] / 60:.1f} min; results in "
        f"{Path(args.results) / 'latest.json'} and latest.png")
    return 0 if all(check["ok"] for check in results["stock_check"].values()) else 1


def run(args, results):
    run_dir = Path(args.run_dir)
    rabbitmq = probes.rabbitmq_server()
    shared = {"rabbitmq": rabbitmq} if rabbitmq else {}
    with contextlib.ExitStack() as running:
        hop = running.enter_context(environment.bare_hop(
            run_dir / "hop", running.enter_context(environment.vhost("bench_hop"))))
        hop_target = Target("bare hop", hop.url, {"bare_hop": hop.pid, **shared}, run_dir / "hop")
        system = _start_system(running, run_dir / "system", shared)
        results["scenarios"] = matrix(args, hop_target, system, results)
        results["memory"]["system"] = probes.resident_mb(system.pids)
        results["memory"]["bare hop"] = probes.resident_mb(hop_target.pids)
    with contextlib.ExitStack() as running:
        fresh = _start_system(running, run_dir / "fresh", shared)
        grown = _start_system(running, run_dir / "grown", shared)
        results["growth"] = growth(args, fresh, grown, results)
        results["memory"]["fresh system"] = probes.resident_mb(fresh.pids)
        results["memory"]["grown system"] = probes.resident_mb(grown.pids)
    say()
    report.memory_table(results["memory"])
    say()
    for phase, check in results["stock_check"].items():
        report.stock_line(phase, check)


def _start_system(running, run_dir, shared):
    """A system of its own (vhost, ports, database) that ``running`` stops at its end."""
    amqp_uri = running.enter_context(environment.vhost(f"bench_{run_dir.name}"))
    target = Target.of(running.enter_context(environment.system(run_dir, amqp_uri)), shared, run_dir)
    running.callback(target.opcounters.close)
    return target


class Target:
    """What wrk drives, and the probes that read what it costs."""

    def __init__(self, name, url, pids, work_dir, mongo_url=None, calls=None):
        self.name, self.url, self.pids, self.work_dir = name, url, pids, work_dir
        self.mongo_url, self.calls = mongo_url, calls
        self.opcounters = probes.OpCounters(mongo_url) if mongo_url else None

    @classmethod
    def of(cls, system, shared, work_dir):
        kinds = probes.entrypoint_kinds(environment.stack_module.SERVICES)
        return cls("system", system.url, {**system.pids, **shared}, work_dir,
                   system.mongo_url, probes.CallLog(system.log_dir, kinds))


def measure(target, scenario, load, concurrency, timing, warmup_load=None):
    """Warm up, then one timed wrk run with every probe read just before and after it.

    ``timing``: (warm-up seconds, measured seconds).
    """
    warmup, duration = timing
    lua_dir = target.work_dir / "lua"
    # RabbitMQ is left out: it also serves whatever else uses the broker.
    probes.wait_until_idle({name: pid for name, pid in target.pids.items() if name != "rabbitmq"})
    if warmup:
        wrk.run(target.url, warmup_load or load, concurrency, warmup, lua_dir)
    machine, cpu, ops, marks = probes.machine_busy_seconds(), probes.cpu_seconds(target.pids), _ops(target), \
        _marks(target)
    result = wrk.run(target.url, load, concurrency, duration, lua_dir)
    cpu = {name: seconds - cpu[name] for name, seconds in probes.cpu_seconds(target.pids).items()}
    machine = probes.machine_busy_seconds() - machine
    ops = target.opcounters.window(ops, target.opcounters.read()) if target.opcounters else None
    calls = target.calls.window(marks, target.calls.mark()) if target.calls else None
    return _row(scenario, target, concurrency, result, cpu, machine, ops, calls)


def _ops(target):
    return target.opcounters.read() if target.opcounters else None


def _marks(target):
    return target.calls.mark() if target.calls else None


def _row(scenario, target, concurrency, result, cpu, machine, ops, calls):
    kinds = {call: target.calls.kind(call) for call in calls} if calls is not None else {}
    # Costs are divided by the requests the system finished in the window (its
    # HTTP entrypoint calls), not by the responses wrk counted: the warm-up's
    # last requests, whose answers wrk drops, are served inside the window,
    # and at c=64 they are a quarter of a slow scenario's requests. The bare
    # hop logs nothing; its few (c / (req/s * duration), ~3 %) are not known.
    served = sum(n for call, n in calls.items() if kinds[call] == "http") if calls is not None \
        else result.requests

    def per(value, digits=3):
        return round(value / served, digits) if served and value is not None else None

    row = {
        "scenario": scenario, "target": target.name, "concurrency": concurrency,
        "requests": result.requests, "served_in_window": served, "seconds": round(result.seconds, 3),
        "rps": round(result.rps, 2),
        "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2), "max_ms": round(result.max_ms, 2),
        "statuses": result.statuses, "non_2xx": result.non_2xx, "socket_errors": result.socket_errors,
        "errors": result.errors, "repeated": result.repeated,
        "cpu_ms_per_request": {name: per(seconds * 1000) for name, seconds in cpu.items()},
        "cpu_ms_per_request_total": per(sum(cpu.values()) * 1000),
        "wrk_cpu_ms_per_request": per(result.wrk_cpu_seconds * 1000),
        "cpu_cores": {name: round(seconds / result.seconds, 3) for name, seconds in cpu.items()},
        # What the rest of the machine used meanwhile (the harness itself idles
        # while wrk runs): anything much above zero disturbed the figures.
        "other_cpu_cores": round(max(machine - sum(cpu.values()) - result.wrk_cpu_seconds, 0) / result.seconds, 3),
        "db_ops_per_request": per(sum(ops.values())) if ops else None,
        "db_ops_per_request_by_kind": {kind: per(n) for kind, n in ops.items()} if ops else None,
        "rpc_per_request": None, "events_per_request": None, "calls_per_request": None,
    }
    if calls is not None:
        # `ping` is the health check's, not the request's.
        row["rpc_per_request"] = per(sum(n for call, n in calls.items()
                                         if kinds[call] == "rpc" and not call.endswith(".ping")))
        row["events_per_request"] = per(sum(n for call, n in calls.items() if kinds[call] == "event"))
        row["calls_per_request"] = {f"{call} ({kinds[call]})": per(n) for call, n in sorted(calls.items())}
    return row


def _ratios(row, reference):
    """A row's figures as multiples of the same figures of ``reference``."""
    def ratio(ours, theirs):
        return round(ours / theirs, 3) if ours is not None and theirs else None

    return {
        "rps": ratio(row["rps"], reference["rps"]),
        "p99": ratio(row["p99_ms"], reference["p99_ms"]),
        "cpu": ratio(row["cpu_ms_per_request_total"], reference["cpu_ms_per_request_total"]),
        "db_ops": ratio(row["db_ops_per_request"], reference["db_ops_per_request"]),
    }


# the scenarios, side by side with the bare hop


def matrix(args, hop, target, results):
    timing, hop_timing = (args.warmup, args.duration), (args.hop_warmup, args.hop_duration)
    say(f"\nthe system against the bare hop: wrk -t1, keep-alive, {args.warmup} s warm-up, {args.duration} s "
        f"measured ({args.hop_duration} s for the bare hop); CPU in ms per request.\nThe ratios are against a "
        f"bare hop run made just before each row at the same c: this machine's speed drifts by up to\n"
        f"a third within minutes.\n")
    report.main_header()
    rows = []
    for concurrency in args.concurrency:  # for the chart and the record; the ratios use the runs beside
        rows.append(measure(hop, HOP, wrk.Load("/hop"), concurrency, hop_timing))
        report.main_row(rows[-1])

    api = workload.Api(target.url)
    customer = api.customer()
    initial = {}

    def product(name, stock=ORDER_STOCK):
        product_id = api.product(name, stock)
        initial[product_id] = stock
        return product_id

    def pair(label):
        return [product(f"{label} A"), product(f"{label} B")]

    listed = [product(f"Listed product {number:02d}", 100) for number in range(LISTED_PRODUCTS)]
    read_path = f"/products/{listed[0]}"  # never ordered: its document stays small

    def run_scenario(scenario, make_load, make_warmup_load=lambda c: None):
        for concurrency in args.concurrency:
            beside = measure(hop, HOP, wrk.Load("/hop"), concurrency, hop_timing)
            row = measure(target, scenario, make_load(concurrency), concurrency, timing,
                          make_warmup_load(concurrency))
            row["bare_hop_beside"] = {key: beside[key] for key in (
                "requests", "rps", "p50_ms", "p99_ms", "cpu_ms_per_request_total", "other_cpu_cores")}
            row["vs_bare_hop"] = _ratios(row, beside)
            report.main_row(row)
            rows.append(row)

    run_scenario(GET_PRODUCT, lambda c: wrk.Load(read_path))
    run_scenario(LIST_PRODUCTS, lambda c: wrk.Load("/products?page_size=20"))
    # Each run orders products of its own, so no run reads documents an
    # earlier one filled with reservations.
    run_scenario(PLACE_ORDER, lambda c: wrk.Load(
        "/orders", "post.lua", (json.dumps(order_body(customer, pair(f"Ordered at c={c}"))),)))
    best_rate = max(row["rps"] for row in rows if row["scenario"] == PLACE_ORDER)
    id_files = _orders_to_cancel(args, target, customer, pair("Cancelled"), best_rate * CANCEL_HEADROOM)
    # The warm-up cancels orders of its own, so the timed run meets only fresh ones.
    run_scenario(CANCEL_ORDER, lambda c: wrk.Load("/", "cancel.lua", (str(id_files[c, "measured"]),)),
                 lambda c: wrk.Load("/", "cancel.lua", (str(id_files[c, "warmup"]),)))
    run_scenario(MIXED, lambda c: wrk.Load(
        "/", "mixed.lua", (read_path, json.dumps(order_body(customer, pair(f"Mixed at c={c}"))))))

    say()
    report.process_table(rows)
    say("\nper request, by kind of database operation and by entrypoint called (JSON):")
    report.breakdowns([row for row in rows if row["target"] == "system"])
    results["stock_check"]["system"] = workload.check_stock(target.mongo_url, initial)
    return rows


def _orders_to_cancel(args, target, customer, products, rate):
    """Confirmed orders for the cancel runs (``rate`` per second of each), a file per run."""
    counts = {}
    for concurrency in args.concurrency:
        counts[concurrency] = {
            "warmup": math.ceil(rate * args.warmup) + concurrency if args.warmup else 0,
            "measured": math.ceil(rate * args.duration) + concurrency,
        }
    total = sum(sum(parts.values()) for parts in counts.values())
    progress(f"placing {total:,} orders for the cancel runs")
    begun = time.monotonic()
    ids = workload.place_confirmed(
        target.url, lambda: order_body(customer, products), total, args.loader_threads,
        begun + args.load_timeout, "orders to cancel",
    )
    progress(f"placed {len(ids):,} in {time.monotonic() - begun:.0f} s")
    files = {}
    for concurrency, parts in counts.items():
        for part, count in parts.items():
            path = target.work_dir / f"cancel-c{concurrency}-{part}.txt"
            chunk, ids = ids[:count], ids[count:]
            # An empty file would leave wrk nothing to send; a short one shows as repeats.
            path.write_text("\n".join(chunk or ["none"]) + "\n")
            files[concurrency, part] = path
    return files


# growth


def growth(args, fresh, grown, results):
    """The same requests on a fresh system and on one grown big, measured one right after the other."""
    say(f"\ngrowth: c={GROWTH_CONCURRENCY}; a fresh system against one grown to {args.growth_orders:,} orders "
        f"and {args.catalogue:,} products, measured in turn (so the machine's drift cannot pass for growth)\n")
    timing = (args.warmup, args.duration)
    fixtures = {target: _growth_fixtures(target) for target in (fresh, grown)}

    begun = time.monotonic()
    catalogue = workload.insert_catalogue(grown.mongo_url, args.catalogue, CATALOGUE_STOCK)
    fixtures[grown]["initial"].update(dict.fromkeys(catalogue, CATALOGUE_STOCK))
    progress(f"inserted {len(catalogue):,} products into the product database in {time.monotonic() - begun:.0f} s")

    begun = time.monotonic()
    deadline = begun + args.load_timeout
    customer, popular = fixtures[grown]["customer"], fixtures[grown]["popular"]
    hot = workload.place_confirmed(
        grown.url, lambda: order_body(customer, [popular, random.choice(catalogue)]),
        args.hot_orders, args.loader_threads, deadline, "orders of the popular product",
    )
    best_seller = fixtures[grown]["best_seller"]
    sold = workload.place_confirmed(
        grown.url, lambda: order_body(customer, [best_seller, random.choice(catalogue)]),
        args.shipped_orders, args.loader_threads, deadline, "orders of the best-seller",
    )
    others = workload.place_confirmed(
        grown.url, lambda: order_body(customer, random.sample(catalogue, 2)),
        max(args.growth_orders - len(hot) - len(sold), 0), args.loader_threads, deadline, "other orders",
    )
    placed = len(hot) + len(sold) + len(others)
    progress(f"placed {placed:,} orders ({len(hot):,} of the popular product, {len(sold):,} of the best-seller) "
             f"in {time.monotonic() - begun:.0f} s"
             + ("" if placed >= args.growth_orders else f": stopped by --load-timeout {args.load_timeout} s"))
    begun = time.monotonic()
    shipped = workload.dispatch_orders(grown.url, sold, args.loader_threads, time.monotonic() + args.load_timeout,
                                       "shipping the best-seller's orders")
    # Its markers go as the product service handles the order_shipped events.
    markers = workload.reservation_markers(grown.mongo_url, best_seller, settle_timeout=SETTLE_TIMEOUT_SECONDS)
    progress(f"shipped {len(shipped):,} orders of the best-seller in {time.monotonic() - begun:.0f} s; "
             f"its document holds {markers:,} reservation markers")

    def post(target):
        # Products of their own: only the collections have grown, not these documents.
        products = [fixtures[target]["product"](f"Ordered {n}") for n in "AB"]
        return wrk.Load("/orders", "post.lua", (json.dumps(order_body(fixtures[target]["customer"], products)),))

    def read(target, product):
        return wrk.Load(f"/products/{fixtures[target][product]}")

    c, after = GROWTH_CONCURRENCY, f"after {placed:,} orders"
    report.growth_header()
    rows = []
    for label, target, load, reference in (
        (f"{PLACE_ORDER}, fresh database", fresh, post(fresh), None),
        (f"{PLACE_ORDER}, {after}", grown, post(grown), 0),
        (f"{GET_PRODUCT}, fresh database", fresh, read(fresh, "never_ordered"), None),
        (f"{GET_PRODUCT}, {after}, never ordered", grown, read(grown, "never_ordered"), 2),
        (f"{GET_PRODUCT}, {after}, {len(hot):,} open orders", grown, read(grown, "popular"), 2),
        (f"{GET_PRODUCT}, {after}, {len(shipped):,} shipped orders", grown, read(grown, "best_seller"), 2),
    ):
        row = measure(target, label, load, c, timing)
        if reference is not None:
            row["vs_fresh"] = _ratios(row, rows[reference])
        report.growth_row(row)
        rows.append(row)
    never_row = rows[3]
    for row, orders in ((rows[4], f"{len(hot):,} open orders"), (rows[5], f"{len(shipped):,} shipped orders")):
        row["vs_never_ordered"] = _ratios(row, never_row)
        say(f"a product with {orders} against one never ordered: "
            f"{row['vs_never_ordered']['rps']:.2f}× the requests/s, {row['vs_never_ordered']['p99']:.2f}× the p99")
    results["growth_sizes"] = {"orders": placed, "popular_product_orders": len(hot), "catalogue": len(catalogue),
                               "shipped_best_seller_orders": len(shipped), "best_seller_markers": markers}
    for name, target in (("fresh system", fresh), ("grown system", grown)):
        results["stock_check"][name] = workload.check_stock(target.mongo_url, fixtures[target]["initial"])
    return rows


def _growth_fixtures(target):
    """A customer, a product never ordered, a popular one (orders left open), a best-seller
    (orders shipped), and a way to make more."""
    api = workload.Api(target.url)
    initial = {}

    def product(name):
        product_id = api.product(name, ORDER_STOCK)
        initial[product_id] = ORDER_STOCK
        return product_id

    return {"customer": api.customer(), "never_ordered": product("Never ordered"), "popular": product("Popular"),
            "best_seller": product("Best-seller"), "product": product, "initial": initial}


# results


def _save(results, directory):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    chart.render(results, directory / "latest.png")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds measured per run (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run; 0: none")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--hop-duration", type=int, default=2,
                        help="seconds of the bare hop run measured before each row (default 2)")
    parser.add_argument("--hop-warmup", type=int, default=1)
    parser.add_argument("--growth-orders", type=int, default=11_000, help="orders placed before the growth runs")
    parser.add_argument("--hot-orders", type=int, default=1_000,
                        help="of those, orders of one popular product, all left open")
    parser.add_argument("--shipped-orders", type=int, default=10_000,
                        help="of those, orders of one best-seller, all shipped")
    parser.add_argument("--catalogue", type=int, default=100_000, help="products in the grown catalogue")
    parser.add_argument("--load-timeout", type=int, default=240,
                        help="seconds at most for placing orders, each time (default 240)")
    parser.add_argument("--loader-threads", type=int, default=16)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (about a minute): 1 s runs, no warm-up, tiny growth")
    parser.add_argument("--run-dir", default=str(ROOT / ".run" / "bench"))
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.hop_duration, args.hop_warmup = 1, 0, 1, 0
        args.growth_orders, args.hot_orders, args.shipped_orders, args.catalogue, args.load_timeout = (
            60, 20, 30, 500, 60)
    return args


if __name__ == "__main__":
    sys.exit(main())
