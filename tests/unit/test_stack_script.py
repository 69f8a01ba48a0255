"""scripts/stack.py's supervisord configuration, as supervisor itself reads it."""
import shlex
import socket
import sys

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402

# Characters supervisord's configuration treats specially: % (its expansions), commas and = (its
# environment lines) and & (a shell's).
AMQP_URI = "pyamqp://guest:guest@broker:5672/%2Fsales,eu"
MONGO_URL = "mongodb://db:27018/?replicaSet=rs0&journal=true"


def read_back(system):
    """The programs supervisord would run for ``system``: name -> its process config."""
    system.write_config()
    options = ServerOptions()
    options.realize(args=["--configuration", str(system.config_path)])
    return options, {program.name: program for group in options.process_group_configs
                     for program in group.process_configs}


def test_every_service_gets_its_own_restarted_program_with_its_settings(tmp_path):
    system = stack.Stack({"RUN_DIR": str(tmp_path), "AMQP_URI": AMQP_URI, "MONGODB_CONNECTION_URL": MONGO_URL,
                          "GATEWAY_ADDRESS": "127.0.0.1:8123"})

    options, programs = read_back(system)

    assert set(programs) == {name for name, _ in stack.SERVICES}  # no database of its own
    for name, module in stack.SERVICES:
        program = programs[name]
        assert shlex.split(program.command) == [str(stack.BIN / "nameko"), "run", "--config", str(stack.CONFIG),
                                                module]
        assert program.environment == {"AMQP_URI": AMQP_URI, "MONGODB_CONNECTION_URL": MONGO_URL,
                                       "WEB_SERVER_ADDRESS": "127.0.0.1:8123"}
        assert program.autorestart is RestartUnconditionally
        assert program.stdout_logfile == str(tmp_path / "logs" / f"{name}.log")
        assert program.redirect_stderr
    assert options.server_configs[0]["file"] == str(tmp_path / "supervisor.sock")
    assert options.serverurl == f"unix://{tmp_path / 'supervisor.sock'}"


def test_the_database_starts_before_the_services_and_stops_after_them(tmp_path):
    system = stack.Stack({"RUN_DIR": str(tmp_path), "MONGO_PORT": "27123"})

    options, programs = read_back(system)

    database = programs["secantusdb"]
    assert shlex.split(database.command)[-4:] == ["--port", "27123", "--storage-path", str(tmp_path / "mongo-data")]
    assert programs["orders"].environment["MONGODB_CONNECTION_URL"] == system.mongo_url
    groups = {group.name: group.priority for group in options.process_group_configs}
    # supervisord starts groups in ascending priority and stops them in descending.
    assert groups["secantusdb"] < groups[stack.GROUP]


def test_a_value_supervisord_cannot_quote_is_refused(tmp_path):
    system = stack.Stack({"RUN_DIR": str(tmp_path), "AMQP_URI": 'pyamqp://guest:"x"@broker/'})

    with pytest.raises(stack.StackError, match="double quote"):
        system.write_config()


def test_a_socket_left_by_a_killed_supervisord_is_not_taken_for_a_running_system(tmp_path):
    system = stack.Stack({"RUN_DIR": str(tmp_path)})
    with socket.socket(socket.AF_UNIX) as left:
        left.bind(str(system.socket_path))  # bound, nobody listening: as after kill -9

        assert not system.running()
        assert system.processes() == {}
        system.stop()  # nothing to stop, and no error
