"""The README works when pasted: its walkthrough runs against the stack, its make targets exist."""
import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
DOCUMENTED_URL = "http://127.0.0.1:8000"


def bash_block(marker):
    """The bash block between the ``marker`` markers of README.md."""
    text = README.read_text()
    match = re.search(rf"<!-- {marker}:start -->\s*```bash\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert match, f"README.md has no ```bash block between the {marker} markers"
    return match.group(1)


def run_as_pasted(script, stack, **environment):
    """Run a README block against the stack (its documented URL replaced), with ``environment``
    added to the shell's; its output lines."""
    assert DOCUMENTED_URL in script
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(DOCUMENTED_URL, stack)], cwd=ROOT,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, **environment},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout.splitlines()


def parsed(line):
    try:
        return json.loads(line)
    except ValueError:
        return line


def test_the_walkthrough_runs_as_documented(stack):
    # -u and pipefail are fine with the block: its retry loops end with `sleep`
    # or `break`, and the `[ "$(curl ... | field status)" = cancelled ]` test
    # ignores the substitution's status (bash runs it without errexit).
    raw = run_as_pasted(bash_block("walkthrough"), stack)

    # every JSON response ends with a newline, so each printed value is one line
    assert len(raw) == 17, raw
    lines = [parsed(line) for line in raw]
    (health, order, _, _, refusal, shipment, movements, _, _, cancelled_shipment,
     _, too_late, _, _, _, orders, products) = lines

    assert health["status"] == "ok" and set(health["services"].values()) == {"ok"}, health

    assert (order["status"], order["total"]) == ("confirmed", "189.48"), order
    assert [(item["name"], item["unit_price"], item["quantity"], item["line_total"]) for item in order["items"]] == [
        ("Desk lamp", "19.99", 2, "39.98"), ("Office chair", "149.50", 1, "149.50"),
    ]
    lamp_id, chair_id = (item["product_id"] for item in order["items"])

    assert (raw[2], raw[3]) == ("8", "1")

    assert refusal["error"] == "INSUFFICIENT_STOCK", refusal
    assert refusal["details"]["products"] == [{"product_id": chair_id, "requested": 5, "available": 1}]

    assert (shipment["order_id"], shipment["status"]) == (order["id"], "pending"), shipment
    assert shipment["tracking_number"]

    # inventory and shipping consume the event independently: the movement may
    # or may not be recorded yet when the shipment is, but it is the lamp's.
    assert set(movements) == {"items", "total", "page", "page_size"}, movements
    assert all((m["product_id"], m["order_id"], m["kind"], m["quantity"]) == (lamp_id, order["id"], "reserved", 2)
               for m in movements["items"]), movements

    assert (raw[7], raw[8]) == ("cancelled", "10")
    assert (cancelled_shipment["order_id"], cancelled_shipment["status"]) == (order["id"], "cancelled")
    assert cancelled_shipment["tracking_number"] == shipment["tracking_number"]

    assert (raw[10], raw[12], raw[13], raw[14]) == ("shipped", "delivered", "delivered", "9")
    assert too_late["error"] == "ORDER_ALREADY_SHIPPED", too_late
    assert too_late["details"] == {"status": "shipped", "requested": "cancelled"}, too_late

    assert orders["total"] == 1 and orders["page_size"] == 10, orders
    assert [(o["id"], o["status"]) for o in orders["items"]] == [(order["id"], "cancelled")]

    assert set(products) == {"items", "total", "page", "page_size"}, products
    assert lamp_id in {product["id"] for product in products["items"]}
    prices = [float(product["price"]) for product in products["items"]]
    assert prices == sorted(prices, reverse=True)


def test_the_conditional_requests_run_as_documented(stack):
    raw = run_as_pasted(bash_block("conditional"), stack)

    assert len(raw) == 5, raw
    etag, not_modified, stock, refusal, final = raw
    assert (etag, not_modified, stock, final) == ('"1"', "304", "12", "17")
    refusal = json.loads(refusal)
    assert refusal["error"] == "PRECONDITION_FAILED", refusal
    assert (refusal["details"]["version"], refusal["details"]["expected"]) == (2, [1])


def test_the_idempotency_key_example_runs_as_documented(stack):
    first, again, stock, reuse = run_as_pasted(bash_block("idempotency"), stack)

    assert first == again and len(first) == 24, (first, again)
    assert (stock, reuse) == ("3", "IDEMPOTENCY_KEY_REUSED")


def make_targets():
    rule = re.compile(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*::?(?!=)", re.M)
    return {target for match in rule.finditer(MAKEFILE.read_text()) for target in match.group(1).split()}


def documented_make_commands():
    text = README.read_text()
    inline = re.findall(r"`make ([A-Za-z0-9_-]+)", text)
    in_blocks = [
        target
        for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
        for target in re.findall(r"^\s*make ([A-Za-z0-9_-]+)", block, re.M)
    ]
    return set(inline) | set(in_blocks)


def test_every_documented_make_command_is_a_makefile_target():
    documented = documented_make_commands()
    targets = make_targets()

    assert {"run", "up", "down", "test", "shell"} <= documented, documented
    assert documented - targets == set(), f"README mentions make targets the Makefile lacks: {documented - targets}"


def test_the_readme_shows_the_shell_recipes_that_are_tested():
    from test_shell_recipes import RECIPES

    assert f"```python\n{RECIPES}```" in README.read_text()
