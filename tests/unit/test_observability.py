"""Request ids and log formatting, without a broker."""
import io
import json
import logging
import logging.config
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from nameko.cli.main import setup_yaml_parser

from common.errors import ProductNotFound
from common.observability import (
    JsonFormatter,
    WorkerContextFilter,
    WorkerLogging,
    accepted_request_id,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yml"


def worker_ctx(data=None):
    return SimpleNamespace(
        data={} if data is None else data,
        service_name="product",
        entrypoint=SimpleNamespace(method_name="get"),
    )


@pytest.mark.parametrize("given", ["abc-123", "a" * 128, "req.1:2_3"])
def test_a_sane_request_id_is_kept(given):
    assert accepted_request_id(given) == given


@pytest.mark.parametrize("given", [None, "", "a" * 129, "has space", "${jndi:x}", "é"])
def test_an_unusable_request_id_is_replaced_by_a_new_one(given):
    replaced = accepted_request_id(given)
    assert replaced != given
    assert len(replaced) == 32 and int(replaced, 16) >= 0


def capture(formatter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(WorkerContextFilter())
    logger = logging.getLogger("test.observability")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_records_inside_a_worker_carry_its_service_entrypoint_and_request_id():
    provider = WorkerLogging()
    ctx = worker_ctx({"request_id": "abc-123"})
    logger, stream = capture(JsonFormatter())

    provider.worker_setup(ctx)
    logger.info("inside")
    provider.worker_teardown(ctx)
    logger.info("outside")

    inside, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (inside["service"], inside["entrypoint"], inside["request_id"]) == ("product", "get", "abc-123")
    assert inside["message"] == "inside" and inside["level"] == "INFO"
    assert "request_id" not in outside and "service" not in outside


def test_a_worker_without_a_request_id_gets_one_passed_on_downstream():
    ctx = worker_ctx()

    WorkerLogging().worker_setup(ctx)

    assert len(ctx.data["request_id"]) == 32


@pytest.mark.parametrize("exc_info, outcome", [
    (None, "ok"),
    ((ProductNotFound, ProductNotFound(), None), "PRODUCT_NOT_FOUND"),
    ((RuntimeError, RuntimeError("x"), None), "error"),
])
def test_each_call_is_logged_once_with_duration_and_outcome(exc_info, outcome, caplog):
    provider = WorkerLogging()
    ctx = worker_ctx({"request_id": "r-1"})
    provider.worker_setup(ctx)

    with caplog.at_level(logging.INFO, logger="common.observability"):
        provider.worker_result(ctx, result=None, exc_info=exc_info)

    [record] = caplog.records
    assert record.outcome == outcome
    assert record.duration_ms >= 0
    assert "product.get" in record.getMessage()


def test_json_lines_include_the_exception():
    logger, stream = capture(JsonFormatter())
    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("failed")

    entry = json.loads(stream.getvalue())
    assert entry["level"] == "ERROR"
    assert "ValueError: broken" in entry["exception"]


def load_logging_config(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    setup_yaml_parser()
    return yaml.safe_load(CONFIG.read_text())["LOGGING"]


@pytest.mark.parametrize("log_format, is_json", [("json", True), ("text", False)])
def test_log_format_switch_in_the_config(monkeypatch, log_format, is_json):
    config = load_logging_config(monkeypatch, LOG_FORMAT=log_format)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        stream = io.StringIO()
        root.handlers[0].setStream(stream)
        provider, ctx = WorkerLogging(), worker_ctx({"request_id": "req-42"})
        provider.worker_setup(ctx)
        logging.getLogger("demo").info("hello")
        provider.worker_teardown(ctx)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

    line = stream.getvalue().strip()
    if is_json:
        assert json.loads(line)["request_id"] == "req-42"
    else:
        assert not line.startswith("{")
        assert "product.get [req-42] demo: hello" in line
