"""Helpers the test tiers share (importable as ``support``: pytest.ini puts tests/ on the path)."""
import os
import socket
import sys
import time
from pathlib import Path

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout=10.0, interval=0.05, message="condition"):
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def mongo_answers(url):
    client = MongoClient(url, serverSelectionTimeoutMS=200)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def supervised_pids(run_dir):
    """name -> pid of what scripts/stack.py runs in ``run_dir``, supervisord included; {} when nothing runs."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import stack

    system = stack.Stack({"RUN_DIR": str(run_dir)})
    supervisord = system.supervisord_pid()
    return {**system.pids(), "supervisord": supervisord} if supervisord else {}


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def group_members(group_ids):
    """Processes (any state) whose process group or session is one of ``group_ids``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the command: state, ppid, pgrp, session, ...
        if int(fields[2]) in group_ids or int(fields[3]) in group_ids:
            found.append(int(stat.parent.name))
    return found


def fake_product_client(catalogue):
    """Stands in for the orders service's product RPC client: every reservation of
    products in ``catalogue`` succeeds, priced from it, and one naming a product
    it lacks is refused the way the product service refuses it; every release
    succeeds (tests change that per case)."""
    from unittest import mock

    from common.errors import UnknownProduct

    def reserve_stock(order_id, items):
        missing = [item["product_id"] for item in items if item["product_id"] not in catalogue]
        if missing:
            raise UnknownProduct.for_ids(missing)
        priced = [{**item, "name": catalogue[item["product_id"]]["name"],
                   "unit_price": catalogue[item["product_id"]]["price"]} for item in items]
        return {"order_id": order_id, "state": "reserved", "items": priced}

    client = mock.Mock(spec=["reserve_stock", "release_stock"])
    client.reserve_stock.side_effect = reserve_stock
    client.release_stock.return_value = {"state": "released"}
    return client
