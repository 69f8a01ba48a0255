"""scripts/stack.py's bookkeeping of the processes it started."""
import subprocess
import sys

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402


def test_a_stale_pid_file_naming_another_program_is_ignored_and_removed(tmp_path):
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        runs = stack.Stack({"RUN_DIR": str(tmp_path)})
        runs.pid_dir.mkdir(parents=True)
        (runs.pid_dir / "product.pid").write_text(str(stranger.pid))

        assert not runs.running()
        runs.stop(timeout=1)

        assert stranger.poll() is None  # never signalled
        assert not (runs.pid_dir / "product.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_pid_file_of_a_process_that_is_gone_is_removed(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    runs = stack.Stack({"RUN_DIR": str(tmp_path)})
    runs.pid_dir.mkdir(parents=True)
    (runs.pid_dir / "orders.pid").write_text(str(finished.pid))

    assert runs.dead_processes() == []
    assert not (runs.pid_dir / "orders.pid").exists()
