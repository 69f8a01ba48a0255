"""Schemathesis hooks of tests/e2e/test_fuzz.py: rules of the API that its OpenAPI document
states in words, because JSON Schema cannot state them (or not so that validators agree).

- An order names each product at most once (400 VALIDATION_FAILED otherwise). The
  document says so, and ``uniqueItems`` (no two items alike) is as much as JSON
  Schema can say: two items alike but for their quantity pass it.
- A price sent as a JSON number has at most two decimals. ``multipleOf: 0.01`` would
  say it, but validators that compute in binary floating point (jsonschema, ajv)
  call 19.99 no multiple of 0.01.

So a request the fuzzer generates as valid is kept to these rules; negative cases
go out as generated.
"""
import sys
from decimal import Decimal
from pathlib import Path

import schemathesis

# Schemathesis loads this file by its path: the repository's own rules are imported from its root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common.schemas import CENT, is_object_id  # noqa: E402


def _positive(case):
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook("filter_case").apply_to(method="POST", path="/orders")
def each_product_once(context, case):
    if not _positive(case):
        return True
    # The service lower-cases an ObjectId, so two spellings of one are the same product.
    ids = [item["product_id"].lower() if is_object_id(item["product_id"]) else item["product_id"]
           for item in case.body["items"]]
    return len(ids) == len(set(ids))


@schemathesis.hook("map_case").apply_to(path_regex="^/products")
def price_in_cents(context, case):
    price = case.body.get("price") if _positive(case) and isinstance(case.body, dict) else None
    if isinstance(price, float):
        case.body["price"] = float(Decimal(repr(price)).quantize(CENT))
    return case
