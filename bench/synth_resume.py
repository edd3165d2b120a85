"""Calls repeated after kill -9 + resume, over several kills at different moments.

    .venv/bin/python bench/synth_resume.py [--trials 3]

Goal (synthesis issue): 0 calls repeated for requests already answered. Prints, per trial, the
calls whose reply was in the cache at the kill and were asked again (must be 0), and the calls the
server had finished sending but the killed client had not yet stored (the in-flight window, which
no client can avoid: the reply was on the wire when the process died).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/synthesis"))

from fake_openai_server import FakeLLMServer, Faults  # noqa: E402

GENERATOR = {
    "backend": "openai",
    "model": "bench",
    "api_key_env": "BENCH_KEY",
    "base_url_env": "BENCH_URL",
    "concurrency": 8,
    "backoff_initial_s": 0.01,
}
COUNTS = {"domains": 2, "subdomains_per_domain": 2, "doc_types_per_subdomain": 3, "ideas_per_doc_type": 5}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=3)
    args = p.parse_args()
    for trial in range(args.trials):
        with tempfile.TemporaryDirectory() as d, FakeLLMServer(Faults(latency_s=0.05, rate_500=0.05)) as server:
            tmp = Path(d)
            recipe = tmp / "r.yaml"
            recipe.write_text(
                yaml.safe_dump(
                    {
                        "name": "bench",
                        "identity": {"model_name": "Aria", "provider_name": "Lumen Labs"},
                        "specs": ["specs/rules.md"],
                        "base_model": {"source": "tiny"},
                        "synthesis": {
                            "generator": GENERATOR,
                            "documents": COUNTS,
                            "quality": {"min_words": 20},
                        },
                    }
                )
            )
            env = {**os.environ, "BENCH_KEY": "bench", "BENCH_URL": server.base_url}
            cmd = [sys.executable, "-m", "msm", "synthesize", "docs", "--spec", "specs/rules.md"]
            cmd += ["--recipe", str(recipe), "--out", str(tmp / "out"), "--cache", str(tmp / "c.sqlite")]
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            kill_after = 20 + 25 * trial  # answered calls before the kill: a different moment each trial
            while len(server.stats.answered()) < kill_after and proc.poll() is None:
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed_at = time.time()
            with sqlite3.connect(tmp / "c.sqlite") as db:
                cached = {k for (k,) in db.execute("SELECT key FROM replies")}
            answered = set(server.stats.answered(before=killed_at))
            resumed_at = time.time()
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            again = set(server.stats.arrived(since=resumed_at))
            print(
                f"trial {trial}: killed after {len(answered)} answered calls ({len(cached)} cached); "
                f"rerun exit {done.returncode}; repeated cached calls: {len(cached & again)}; "
                f"in-flight replies lost at the kill and asked again: {len((answered - cached) & again)}"
            )


if __name__ == "__main__":
    main()
