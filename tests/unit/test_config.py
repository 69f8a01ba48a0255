"""Every setting the README lists is read from the environment: by config/config.yml, loaded as
`nameko run --config` loads it (tests/integration/test_settings.py shows each one's effect), or,
for the ones only `make run` uses, by scripts/stack.py."""
import re
import sys

import pytest
import yaml
from nameko.cli.main import ENV_VAR_MATCHER

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402

CONFIG = ROOT / "config" / "config.yml"

# setting: (where it lands in the loaded config, its default, a value set, what that value becomes)
CONFIG_SETTINGS = {
    "AMQP_URI": (["AMQP_URI"], "pyamqp://guest:guest@127.0.0.1:5672/",
                 "pyamqp://shop:secret@broker:5673/sales", "pyamqp://shop:secret@broker:5673/sales"),
    "MONGODB_CONNECTION_URL": (["MONGODB_CONNECTION_URL"],
                               "mongodb://127.0.0.1:27017/?serverSelectionTimeoutMS=2000&journal=true&retryWrites=false",
                               "mongodb://db:27018/?replicaSet=rs0", "mongodb://db:27018/?replicaSet=rs0"),
    "RPC_TIMEOUT": (["RPC_TIMEOUT"], 5, "2.5", 2.5),
    "GATEWAY_IDLE_TIMEOUT": (["GATEWAY_IDLE_TIMEOUT"], 60, "5", 5),
    # Read raw: as YAML, the key 0123 would be the number 83 (and yes a bool).
    "GATEWAY_API_KEYS": (["GATEWAY_API_KEYS"], "", "0123", "0123"),
    "GATEWAY_AUTH_READS": (["GATEWAY_AUTH_READS"], False, "true", True),
    "PENDING_ORDER_TIMEOUT": (["PENDING_ORDER_TIMEOUT"], 30, "7", 7),
    "SWEEP_RETRY_AFTER": (["SWEEP_RETRY_AFTER"], 5, "0.5", 0.5),
    "CUSTOMER_CACHE_SECONDS": (["CUSTOMER_CACHE_SECONDS"], 60, "3", 3),
    "SHIPPING_AUTO_DISPATCH_SECONDS": (["SHIPPING_AUTO_DISPATCH_SECONDS"], 0, "10", 10),
    "EVENT_MAX_ATTEMPTS": (["EVENT_MAX_ATTEMPTS"], 5, "2", 2),
    "MAX_WORKERS": (["max_workers"], 10, "3", 3),
    "LOG_FORMAT": (["LOGGING", "handlers", "console", "formatter"], "json", "text", "text"),
    "LOG_LEVEL": (["LOGGING", "root", "level"], "INFO", "WARNING", "WARNING"),
}

# setting: (a value set, how scripts/stack.py reads it, what it reads). Their effect:
# tests/e2e/conftest.py starts the system on free ports and its own vhost through them.
SCRIPT_SETTINGS = {
    "GATEWAY_ADDRESS": ("127.0.0.1:8123", lambda s: s.gateway_address, "127.0.0.1:8123"),
    "MONGO_PORT": ("27123", lambda s: s.mongo_port, 27123),
    "AMQP_URI": ("pyamqp://guest:guest@127.0.0.1:5672/e2e", lambda s: s.amqp_uri,
                 "pyamqp://guest:guest@127.0.0.1:5672/e2e"),
    "MONGODB_CONNECTION_URL": ("mongodb://db:27018/", lambda s: s.mongo_url, "mongodb://db:27018/"),
}

# In config.yml but not a setting of `make run`: scripts/stack.py sets it from GATEWAY_ADDRESS.
DERIVED = {"WEB_SERVER_ADDRESS"}


def readme_settings():
    text = (ROOT / "README.md").read_text()
    paragraph = text.split("Settings (environment variables):", 1)[1].split("\n\n", 1)[0]
    # Each setting's own words (its default, its values) are in brackets after it.
    return re.findall(r"`([A-Z][A-Z0-9_]*)`", re.sub(r"\([^()]*\)", "", paragraph))


def config_settings():
    """The environment variables config.yml's values name (its comments left out)."""
    names, nodes = set(), [yaml.compose(CONFIG.read_text())]
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.ScalarNode):
            names |= {match.group(1) for match in ENV_VAR_MATCHER.finditer(node.value)}
        elif isinstance(node, yaml.MappingNode):
            nodes += [part for pair in node.value for part in pair]
        else:
            nodes += node.value
    return names


def at(config, path):
    for key in path:
        config = config[key]
    return config


def test_every_setting_the_readme_lists_is_read_from_the_environment():
    listed = readme_settings()
    assert "PENDING_ORDER_TIMEOUT" in listed  # the paragraph was found
    read = config_settings() | set(SCRIPT_SETTINGS)
    assert [name for name in listed if name not in read] == []
    # and each of those in the config has its test here
    assert [name for name in listed if name in config_settings() and name not in CONFIG_SETTINGS] == []


def test_the_readme_lists_every_setting_the_config_reads():
    assert config_settings() - DERIVED - set(readme_settings()) == set()


def test_unset_settings_take_their_defaults(load_config):
    config = load_config()

    assert {name: at(config, path) for name, (path, default, _, _) in CONFIG_SETTINGS.items()} == {
        name: default for name, (_, default, _, _) in CONFIG_SETTINGS.items()
    }


@pytest.mark.parametrize("name", CONFIG_SETTINGS)
def test_a_setting_from_the_environment_reaches_the_config(load_config, name):
    path, default, value, expected = CONFIG_SETTINGS[name]

    config = load_config(**{name: value})

    assert at(config, path) == expected != default


@pytest.mark.parametrize("name", SCRIPT_SETTINGS)
def test_a_setting_of_make_run_reaches_the_stack_script(name):
    value, read, expected = SCRIPT_SETTINGS[name]

    assert read(stack.Stack({name: value})) == expected
    assert read(stack.Stack({})) != expected
