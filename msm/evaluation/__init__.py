"""Evaluation stage: suites (value-AB, cheese, agentic misalignment, spec QA), engines (HF, vLLM),
the judge role, per-sample resumable results, statistics and the comparison report.

    msm evaluate --model DIR [--adapter DIR] --suites value-ab,cheese --engine hf --recipe R --out DIR
    msm report --runs DIR... --out DIR
"""
