"""Fixtures shared by every test tier.

Integration and end-to-end tests run against the real RabbitMQ (nameko's
``rabbit_config`` gives each test a throw-away vhost) and a real MongoDB
wire-protocol server over a socket: the server at MONGODB_CONNECTION_URL
when that is set, otherwise a SecantusDB process started for the session.
"""
import eventlet

# nameko 2.14's pytest plugin no longer monkey-patches; it must happen before
# anything imports socket or threading.
eventlet.monkey_patch()

import os  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402
from nameko.cli.main import ENV_VAR_MATCHER, setup_yaml_parser  # noqa: E402
from pymongo import MongoClient  # noqa: E402

import rabbit_check  # noqa: E402
from support import BIN, ROOT, free_port, mongo_answers, wait_until  # noqa: E402

CONFIG = ROOT / "config" / "config.yml"


def pytest_collection_finish(session):
    """Stop at once, in one line, when the tests to run need a management API that cannot be had.

    Checked after collection, so that a run of tests that need no broker
    (``make test-unit``) never waits for one, nor switches its plugin on.
    """
    config = session.config
    if config.option.collectonly or not rabbit_check.needs_management_api(session.items):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    problem = rabbit_check.ensure_management_api(
        config.getoption("RABBIT_AMQP_URI"), config.getoption("RABBIT_API_URI"),
        say=reporter.write_line if reporter else print,
    )
    if problem:
        pytest.exit(problem)


@pytest.fixture(scope="session")
def nameko_yaml():
    # nameko's CLI does this once at start and, as there, it holds for the whole
    # process: ${NAME:default} in what yaml.safe_load reads takes NAME from the environment.
    setup_yaml_parser()


@pytest.fixture
def load_config(monkeypatch, nameko_yaml):
    """``load_config(NAME=value, ...)``: config/config.yml as `nameko run --config` loads it.

    Of the environment variables the file names, only the given ones are set,
    so every other value is the file's default whatever the shell running the
    tests has set.
    """
    text = CONFIG.read_text()

    def load(**environment):
        for match in ENV_VAR_MATCHER.finditer(text):
            monkeypatch.delenv(match.group(1), raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        return yaml.safe_load(text)

    return load


@pytest.fixture(scope="session")
def mongo_url():
    """A MongoDB server for the whole session: MONGODB_CONNECTION_URL, or SecantusDB."""
    given = os.environ.get("MONGODB_CONNECTION_URL")
    if given:
        yield given
        return
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "secantusd-py"), "--standalone", "--host", "127.0.0.1",
         "--port", str(port), "--storage-path", ":memory:"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=5000"
    try:
        wait_until(lambda: process.poll() is not None or mongo_answers(url), 30, 0.1, "SecantusDB")
        assert process.poll() is None, "SecantusDB exited at startup"
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def mongo_client(mongo_url):
    client = MongoClient(mongo_url)
    yield client
    client.close()


@pytest.fixture
def db_prefix(mongo_client):
    """A prefix for this test's databases; they are dropped afterwards.

    Each service normally uses the database named after it; tests give every
    service ``<prefix>_<service>`` instead, so tests never see each other's
    data, even on a shared server.
    """
    prefix = f"test_{uuid.uuid4().hex[:12]}"
    yield prefix
    for name in mongo_client.list_database_names():
        if name.startswith(prefix):
            mongo_client.drop_database(name)


@pytest.fixture
def database(mongo_client, db_prefix):
    """``database("product")``: the database a service uses in this test."""
    return lambda service_name: mongo_client[f"{db_prefix}_{service_name}"]


@pytest.fixture
def service_config(rabbit_config, mongo_url):
    return {
        **rabbit_config,
        "MONGODB_CONNECTION_URL": mongo_url,
        "RPC_TIMEOUT": 5,
    }


@pytest.fixture
def start_services(container_factory, service_config, db_prefix):
    """Start real service containers: ``start_services(ProductService, ...)``.

    Returns the containers by service name. Keyword arguments override config
    values for all of them (for example ``WEB_SERVER_ADDRESS``).
    """

    def start(*service_classes, **overrides):
        containers = {}
        for service_cls in service_classes:
            config = {
                **service_config,
                "MONGODB_DB_NAME": f"{db_prefix}_{service_cls.name}",
                **overrides,
            }
            container = container_factory(service_cls, config)
            container.start()
            containers[service_cls.name] = container
        return containers

    return start


@pytest.fixture
def product_store(database):
    """The product service's store on this test's database, indexes created."""
    from product.storage import ProductStore

    store = ProductStore(database("product"))
    store.create_indexes()
    return store


@pytest.fixture
def order_store(database):
    """The orders service's store on this test's database, indexes created."""
    from orders.storage import OrderStore

    store = OrderStore(database("orders"))
    store.create_indexes()
    return store
