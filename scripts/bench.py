"""Rough throughput and latency of the running system, through the gateway.

    python scripts/bench.py [--url http://127.0.0.1:8000] [--requests 300] [--concurrency 1 10]

Creates its own customer and product (stock enough for every order), then
for each concurrency level times GET /products/{id} and POST /orders, and
prints requests per second and latency percentiles. Figures from one
machine are only comparable within one run: report ratios, not absolutes.
Sends traffic only to the URL given (default: the local gateway) and stops
after the given number of requests.
"""
import argparse
import json
import os
import statistics
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor


def call(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def measure(operation, count, concurrency):
    def timed(_):
        started = time.perf_counter()
        operation()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(timed, range(count)))
    elapsed = time.perf_counter() - started
    return {
        "rps": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://{os.environ.get('GATEWAY_ADDRESS', '127.0.0.1:8000')}")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    base = args.url.rstrip("/")

    total_orders = args.requests * len(args.concurrency)
    customer = call(f"{base}/customers", "POST", {"name": "Bench", "email": f"bench-{uuid.uuid4().hex}@example.com"})
    product = call(f"{base}/products", "POST", {"name": "Bench item", "price": "1.00", "stock": total_orders})
    order = {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}]}

    operations = {
        "GET /products/{id}": lambda: call(f"{base}/products/{product['id']}"),
        "POST /orders": lambda: call(f"{base}/orders", "POST", order),
    }
    print(f"{'operation':<20} {'concurrency':>11} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, operation in operations.items():
        for concurrency in args.concurrency:
            figures = measure(operation, args.requests, concurrency)
            print(f"{name:<20} {concurrency:>11} {figures['rps']:>8.1f} "
                  f"{figures['p50_ms']:>8.1f} {figures['p95_ms']:>8.1f}")
    remaining = call(f"{base}/products/{product['id']}")["stock"]
    print(f"stock left after {total_orders} orders of one unit each: {remaining} (expected 0)")


if __name__ == "__main__":
    main()
