"""`make run` in the foreground: it starts everything, says where to go, and Ctrl-C stops it all."""
import os
import signal
import subprocess
import uuid

import pytest
import requests

from support import ROOT, free_port, group_members, recorded_pids, wait_until


@pytest.fixture
def vhost(rabbit_manager):
    name = f"e2e_run_{uuid.uuid4().hex[:10]}"
    rabbit_manager.create_vhost(name)
    rabbit_manager.set_vhost_permissions(name, "guest", ".*", ".*", ".*")
    yield name
    rabbit_manager.delete_vhost(name)


def stack_env(tmp_path, amqp_uri):
    return {
        **os.environ,
        "RUN_DIR": str(tmp_path / "run"),
        "GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}",
        "MONGO_PORT": str(free_port()),
        "AMQP_URI": amqp_uri,
    }


def healthy(url):
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.parametrize("piped", [False, True], ids=["terminal", "piped-to-tee"])
def test_ctrl_c_stops_every_process(tmp_path, vhost, piped):
    env = stack_env(tmp_path, f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}")
    url = f"http://{env['GATEWAY_ADDRESS']}"
    output = tmp_path / "make-run.out"
    if piped:
        # `make run | tee log`: Ctrl-C ends tee too, so what make run prints
        # while stopping goes to a pipe nobody reads.
        command = ["bash", "-c", f"make --no-print-directory run 2>&1 | tee {output} >/dev/null"]
        sink = subprocess.DEVNULL
    else:
        command = ["make", "--no-print-directory", "run"]
        sink = open(output, "wb")
    # A session of its own, like a terminal: Ctrl-C goes to the whole group.
    make = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                            start_new_session=True)
    pids = {}
    try:
        # It says where to go once it is up.
        wait_until(lambda: (output.exists() and url in output.read_text()) or make.poll() is not None,
                   timeout=90, interval=0.2, message="`make run` to say it is up")
        assert make.poll() is None, output.read_text()
        assert healthy(url)
        pids = recorded_pids(tmp_path / "run")
        assert set(pids) == {"secantusdb", "product", "customers", "orders", "inventory", "shipping", "gateway"}

        if piped:
            # The reader goes first, as when Ctrl-C reaches tee before make run.
            tee = subprocess.run(["pgrep", "-g", str(make.pid), "-x", "tee"], capture_output=True, text=True)
            os.kill(int(tee.stdout.split()[0]), signal.SIGKILL)
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=60)
        wait_until(lambda: not group_members(set(pids.values())), timeout=30, interval=0.2,
                   message="every process of `make run` to be gone after Ctrl-C")
    finally:
        if sink is not subprocess.DEVNULL:
            sink.close()
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
        if pids and group_members(set(pids.values())):
            subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True, timeout=60)

    assert not healthy(url)
    assert not list((tmp_path / "run" / "pids").glob("*.pid"))
    if not piped:
        assert "stopping" in output.read_text()


def test_it_fails_fast_and_clearly_without_rabbitmq(tmp_path):
    env = stack_env(tmp_path, f"pyamqp://guest:guest@127.0.0.1:{free_port()}/")

    result = subprocess.run(["make", "--no-print-directory", "up"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "cannot reach RabbitMQ" in result.stderr
    assert "Traceback" not in result.stderr
    assert not recorded_pids(tmp_path / "run")
