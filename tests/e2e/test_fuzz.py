"""The REST API fuzzed from its own OpenAPI document with schemathesis, on a system of its own.

Schemathesis reads GET /openapi.json and sends every operation requests it
generates from it, valid and invalid (its examples, coverage, fuzzing and
stateful phases), with all its checks: no 5xx; status codes, content types,
headers and bodies as the document says; invalid data refused and valid data
taken. A valid request may still meet the data in another state (412, 422; see
tests/e2e/schemathesis.toml), and tests/e2e/fuzz_hooks.py keeps valid requests
to the two rules that the document states in words only.

Its command line runs as a subprocess, not its pytest plugin inside this
process: the test process is eventlet-patched (tests/conftest.py), which
schemathesis's threads and HTTP client are not written for, and the command
line's report names each failure with a curl command and a `st replay` that
reproduce it; the assertion shows that report as it is, with the seed and the
command to run it again.

Size and seed: `make test` runs a few examples an operation with a fixed seed
(the same cases every run); `make reliability` (RELIABILITY_SCALE=full) runs
many more with a new seed each time, so that over runs it covers new ground.
FUZZ_SEED sets the seed. The row in the reliability report names the seed.
"""
import json
import os
import random
import subprocess
from collections import Counter

import pytest

from reliability import full_size, record, scaled
from support import BIN, ROOT

CONFIG = ROOT / "tests" / "e2e" / "schemathesis.toml"
CI_SEED = 20261204
MAX_EXAMPLES = scaled(8, 200)
# A hard limit on the whole run (schemathesis's --max-time would instead keep it running that long).
DEADLINE_SECONDS = scaled(120, 1500)


def seed():
    if os.environ.get("FUZZ_SEED"):
        return int(os.environ["FUZZ_SEED"])
    return random.randrange(2**32) if full_size() else CI_SEED


def command(base_url, fuzz_seed, report_dir):
    return [
        str(BIN / "schemathesis"), "--config-file", str(CONFIG), "--no-color",
        "run", f"{base_url}/openapi.json",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(fuzz_seed),
        # One worker, no example database: the same seed sends the same requests.
        "--workers", "1", "--generation-database", "none", "--request-timeout", "15",
        "--report", "json,har", "--report-json-path", str(report_dir / "run.json"),
        "--report-har-path", str(report_dir / "requests.har"),
    ]


def failures_part(output):
    """What the report says of the failures (from its FAILURES heading on), or all of it."""
    start = output.find(" FAILURES ")
    return output[output.rfind("\n", 0, start) + 1:] if start >= 0 else output


@pytest.mark.timeout(DEADLINE_SECONDS + 60)
def test_the_api_passes_every_schemathesis_check(own_stack, tmp_path):
    fuzz_seed = seed()
    argv = command(own_stack, fuzz_seed, tmp_path)
    try:
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"schemathesis did not finish within {DEADLINE_SECONDS} s (seed {fuzz_seed}):\n"
                    f"{(exc.stdout or b'')[-5000:]}")
    rerun = " ".join(argv[:argv.index("--report")]).replace(str(ROOT) + "/", "")
    report = json.loads((tmp_path / "run.json").read_text())
    statuses = Counter(entry["response"]["status"]
                       for entry in json.loads((tmp_path / "requests.har").read_text())["log"]["entries"])
    record(
        "fuzzing: schemathesis, all checks",
        f"{report['test_cases']['generated']} cases from /openapi.json, seed {fuzz_seed}",
        requests=sum(statuses.values()),
        client_errors={status: n for status, n in statuses.items() if not 200 <= status < 300},
        server_errors=sum(n for status, n in statuses.items() if status >= 500),
    )
    assert run.returncode == 0 and not report["failures"] and not report["errors"], (
        f"schemathesis found failures (seed {fuzz_seed}); against a running system, from the repository root:\n"
        f"  {rerun}\n\n{failures_part(run.stdout)[-20000:]}\n{run.stderr[-3000:]}"
    )
    assert report["operations"]["tested"] == report["operations"]["total"] > 20, report["operations"]
    # Each operation got real traffic, valid and not.
    assert statuses[201] and statuses[200] and statuses[400], statuses
