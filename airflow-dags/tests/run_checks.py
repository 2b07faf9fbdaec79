"""Runs the DAG checks (test_*.py here) with unittest; run by the Maven build (jobs, integration-test phase).

    python3 airflow-dags/tests/run_checks.py [--manifest jobs/target/headwise-options.json]

Fails when a check fails, errors or is skipped, and when fewer checks ran than expected: a run that finds no test
must not pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_TESTS = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", help="options manifest written by the build (OptionsManifest)")
    args = parser.parse_args()
    if args.manifest:
        os.environ["HEADWISE_OPTIONS_MANIFEST"] = str(Path(args.manifest).resolve())
    sys.path.insert(0, str(HERE))
    suite = unittest.defaultTestLoader.discover(str(HERE), pattern="test_*.py", top_level_dir=str(HERE))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if result.testsRun < MIN_TESTS:
        print(f"airflow-dags checks: only {result.testsRun} tests ran, expected at least {MIN_TESTS}",
              file=sys.stderr)
        return 1
    if result.skipped:
        print(f"airflow-dags checks: {len(result.skipped)} skipped; every check must run", file=sys.stderr)
        return 1
    if not result.wasSuccessful():
        return 1
    print(f"airflow-dags checks: {result.testsRun} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
