"""Schemathesis against a live server, as an outside client runs it: every check, every phase
(examples, coverage, fuzzing, stateful), as an anonymous shopper and with a staff token: no failure.

This is the command the mobile teams run (``--checks all``, 30 examples per operation), with
``SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks`` so that "a photo" means a real photo (OpenAPI
cannot say it; see that module). ``JV_SCHEMATHESIS_EXAMPLES`` changes the number of examples.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.conftest import token_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = os.environ.get("JV_SCHEMATHESIS_EXAMPLES", "30")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("who", ["anonymous", "staff"])
def test_schemathesis_all_checks(transactional_db, live_server, catalog, staff, who, tmp_path):
    catalog("ring", "gold", 1, tags={"type": "ring", "metal": "gold", "stone": "diamond"})
    catalog("necklace", "silver", 2, price="250.00")
    catalog("earring", "gold", 3, stock=0, tags={"type": "earring", "metal": "gold", "style": "vintage"})
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{live_server.url}/api/v1/schema/",
        "--checks", "all", "--max-examples", EXAMPLES, "--seed", "15", "--workers", "1",
        "--request-timeout", "60",  # the first search by photo loads the models
        "--generation-database", "none", "--no-color", "--report-dir", str(tmp_path),
    ]
    if who == "staff":
        command += ["--header", f"Authorization: Token {token_for(staff)}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=840)
    output = run.stdout + run.stderr
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-3000:]
    print(f"schemathesis as {who}: {time.monotonic() - started:.0f} s\n{summary}")
    assert run.returncode == 0, output[-12000:]
    assert "Tested: 13" in output, summary  # every operation, none skipped
