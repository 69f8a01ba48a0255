"""`make run`, `make up`, `make status`, `make down`: supervisor runs every process, starts again
any that dies, and stopping leaves no process behind."""
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest
import requests

from support import BIN, ROOT, free_port, gone, group_members, supervised_pids, wait_until

sys.path.insert(0, str(ROOT / "scripts"))
import stack as stack_script  # noqa: E402


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


PROGRAMS = {"secantusdb", "product", "customers", "orders", "inventory", "shipping", "gateway"}


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
        pids = supervised_pids(tmp_path / "run")
        assert set(pids) == {"supervisord", *PROGRAMS}

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
    assert not [name for name, pid in pids.items() if not gone(pid)]
    if not piped:
        assert "stopping" in output.read_text()


def test_it_fails_fast_and_clearly_without_rabbitmq(tmp_path):
    env = stack_env(tmp_path, f"pyamqp://guest:guest@127.0.0.1:{free_port()}/")

    result = subprocess.run(["make", "--no-print-directory", "up"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "cannot reach RabbitMQ" in result.stderr
    assert "Traceback" not in result.stderr
    assert not supervised_pids(tmp_path / "run")



def make(target, env):
    return subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def make_status(env):
    """`make status`: its exit code, {program: (state, pid or None)} from supervisorctl's lines, its output."""
    result = make("status", env)
    listed = {}
    for line in result.stdout.splitlines():
        found = re.match(r"(?:\w+:)?(\w+)\s+([A-Z]+)\b(?:\s+pid (\d+))?", line)
        if found:
            name, state, pid = found.groups()
            listed[name] = (state, pid and int(pid))
    return result.returncode, listed, result.stdout


def test_supervisor_starts_a_killed_process_again_and_make_down_leaves_none(tmp_path, vhost):
    env = stack_env(tmp_path, f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}")
    url, run_dir = f"http://{env['GATEWAY_ADDRESS']}", tmp_path / "run"

    def started_again(name, killed):
        pid = supervised_pids(run_dir).get(name)
        # /health is 200 only when the gateway answers and every service answers its RPC.
        return pid not in (None, killed) and healthy(url) and pid

    every_pid = set()
    try:
        up = make("up", env)
        assert up.returncode == 0, up.stdout + up.stderr
        pids = supervised_pids(run_dir)
        every_pid |= set(pids.values())
        assert make_status(env)[:2] == (0, {name: ("RUNNING", pids[name]) for name in PROGRAMS})

        # Both kinds: a service behind RPC and the HTTP gateway itself.
        for name in ("product", "gateway"):
            killed = pids[name]
            os.killpg(killed, signal.SIGKILL)
            pids[name] = wait_until(lambda: started_again(name, killed), timeout=60, interval=0.2,
                                    message=f"supervisor to start {name} again and /health to be 200")
            every_pid.add(pids[name])
            assert gone(killed)
        # STARTING until it has stayed up for startsecs, then RUNNING.
        wait_until(lambda: make_status(env)[:2] == (0, {name: ("RUNNING", pids[name]) for name in PROGRAMS}),
                   timeout=20, interval=0.5, message="`make status` to list every process RUNNING, two with new pids")

        # A process stopped on purpose stays stopped, `make status` says so (and fails), and
        # start_service starts it again.
        subprocess.run([str(BIN / "supervisorctl"), "--configuration", str(run_dir / "supervisord.conf"),
                        "stop", "services:shipping"], check=True, capture_output=True, timeout=60)
        code, listed, _ = make_status(env)
        assert code != 0 and listed["shipping"] == ("STOPPED", None)
        assert not healthy(url)
        stack_script.Stack(env).start_service("shipping")
        wait_until(lambda: healthy(url), timeout=60, interval=0.2, message="/health 200 with shipping started again")
        every_pid |= set(supervised_pids(run_dir).values())
    finally:
        down = make("down", env)
    assert down.returncode == 0, down.stdout + down.stderr
    wait_until(lambda: all(gone(pid) for pid in every_pid), timeout=10, interval=0.1,
               message=f"every process to be gone after `make down`: {[p for p in every_pid if not gone(p)]}")
    assert not group_members(every_pid)
    code, listed, output = make_status(env)
    assert code != 0 and listed == {} and "not running" in output
    assert make("down", env).returncode == 0  # with nothing running
