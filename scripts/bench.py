"""`make bench` by its old name: runs bench/run.py (see there, or `--help`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
