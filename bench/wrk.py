"""Driving wrk: one thread, keep-alive connections, figures read from bench/lua/report.lua."""
import json
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"
# Above every RPC deadline of the system (RPC_TIMEOUT, 5 s): a slow answer is
# then measured as slow, not dropped as a wrk timeout.
REQUEST_TIMEOUT_SECONDS = 10
RESULT_MARKER = "BENCH_RESULT "


def require():
    """Exit at once, saying how to get it, when wrk is not installed."""
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        sys.exit(2)


@dataclass
class Load:
    """What to send: a path on the target, optionally a scenario script and its arguments."""
    path: str
    script: str | None = None  # a file name in bench/lua/, run before report.lua
    args: tuple = ()


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict
    errors: dict
    repeated: int
    wrk_cpu_seconds: float

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self):
        return sum(n for status, n in self.statuses.items() if not 200 <= int(status) < 300)

    @property
    def socket_errors(self):
        return sum(self.errors.values())


def run(base_url, load, concurrency, seconds, script_dir):
    """Run wrk for ``seconds`` (whole seconds: wrk reads no fractions) and return its figures."""
    script = _script(load.script, script_dir)
    command = [
        "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={REQUEST_TIMEOUT_SECONDS}s",
        "-s", str(script), base_url + load.path, "--", *load.args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_SECONDS + 20,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise RuntimeError(f"wrk printed no result line:\n{completed.stdout}\n{completed.stderr}")
    figures = json.loads(lines[-1][len(RESULT_MARKER):])
    return Result(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        statuses=figures["statuses"],
        errors=figures["errors"],
        repeated=figures["repeated"],
        # wrk is the only child this process waits for during a run.
        wrk_cpu_seconds=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


def _script(name, script_dir):
    """wrk takes one script: the scenario's, followed by the shared report."""
    report = (LUA / "report.lua").read_text()
    if name is None:
        source, target = report, script_dir / "report.lua"
    else:
        source, target = (LUA / name).read_text() + "\n" + report, script_dir / name
    script_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    return target
