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
from pymongo import MongoClient  # noqa: E402

from support import BIN, free_port, mongo_answers, wait_until  # noqa: E402

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
