"""scripts/stack.py's bookkeeping of the processes it started."""
import os
import signal
import subprocess
import sys

from support import ROOT, wait_until

sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402


def test_a_stale_pid_file_naming_another_program_is_ignored_and_removed(tmp_path):
    # A reused pid belongs to some unrelated program, never to a child of ours:
    # start it through a shell that exits, so it is orphaned like that, and
    # in a session of its own, like a service, so that stopping it as one
    # (its process group is signalled) would reach it.
    stranger = int(subprocess.check_output(["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 & echo $!"]))
    try:
        # Until exec completes, /proc shows the forking shell's command line.
        wait_until(lambda: stack._command_line(stranger).split() == ["sleep", "30"],
                   message="the stranger to become `sleep 30`")
        assert os.getpgid(stranger) == stranger
        runs = stack.Stack({"RUN_DIR": str(tmp_path)})
        runs.pid_dir.mkdir(parents=True)
        (runs.pid_dir / "product.pid").write_text(str(stranger))

        assert not runs.running()
        runs.stop(timeout=1)

        assert stack._command_line(stranger).split() == ["sleep", "30"]  # never signalled
        assert not (runs.pid_dir / "product.pid").exists()
    finally:
        os.kill(stranger, signal.SIGKILL)


def test_a_pid_file_of_a_process_that_is_gone_is_removed(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    runs = stack.Stack({"RUN_DIR": str(tmp_path)})
    runs.pid_dir.mkdir(parents=True)
    (runs.pid_dir / "orders.pid").write_text(str(finished.pid))

    assert runs.dead_processes() == []
    assert not (runs.pid_dir / "orders.pid").exists()
