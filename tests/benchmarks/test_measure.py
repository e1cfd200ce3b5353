"""benchmarks/measure.py: what one measurement process reports and leaves behind."""
import json
import os
import subprocess
import sys
import time

MEASURE = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks",
                       "measure.py")


def test_a_cold_fusegraph_process_leaves_its_plan_checked(tmp_path):
    env = {**os.environ, "FUSEGRAPH_CACHE_DIR": str(tmp_path), "FUSEGRAPH_VERIFY_PLANS": "once",
           "FUSEGRAPH_TIERED_START": "1"}     # as a user runs it
    done = subprocess.run(
        [sys.executable, MEASURE, "fusegraph", "mlp",
         "--threads", "1", "--steps", "0", "--warmup", "0", "--tiny",
         "--spawned-at", repr(time.time())],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["steps"] == 0 and report["ready_s"] >= report["first_step_s"] > 0
    marks = [name for name in os.listdir(tmp_path) if name.startswith("plan-")]
    assert len(marks) == 1      # the warm process after it keeps its plan unchecked
