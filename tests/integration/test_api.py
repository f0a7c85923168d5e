# SPDX-License-Identifier: MIT
"""Runs api_test (the C futures API) against a real broker and workers."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ClusterTest  # noqa: E402

API_TEST = os.path.join(BUILD, "tests", "integration", "api_test")


class ApiTest(ClusterTest):
    def test_c_api(self):
        self.c.start_worker("--concurrency", "4", procs=2)
        r = subprocess.run([API_TEST, self.c.clients_ep], capture_output=True,
                           text=True, timeout=120)
        sys.stderr.write(r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("api_test: all passed", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
