"""Inspect eval logs of a finished run, so `inspect view --log-dir OUT/inspect` browses every sample.

Why msm does not run its suites *through* inspect_ai (a decision the issue asks to explain):
the position-robust scorer needs log-likelihoods of given answer texts, which Inspect's model
API (generate only) does not offer; vLLM's offline batched `LLM` (the throughput goal) is not an
Inspect provider (its vllm provider starts a server per eval); and per-sample resume across a
kill -9 with a shared judge cache is simpler in ~60 lines (results.py) than through eval-retry.
The logs written here are real Inspect logs: `inspect_ai.log.read_eval_log` and `inspect view` open them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from msm.artefacts.evaluation import inspect_log_path
from msm.evaluation.model_source import ModelSource
from msm.evaluation.suites import REGISTRY


def write_inspect_logs(log_dir: Path, label: str, source: ModelSource, records: dict[str, list[dict]]) -> list[Path]:
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalResults,
        EvalSample,
        EvalScore,
        EvalSpec,
        write_eval_log,
    )
    from inspect_ai.model import ChatMessageAssistant, ModelOutput
    from inspect_ai.scorer import Score

    log_dir.mkdir(parents=True, exist_ok=True)
    model = f"msm/{label}"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    written = []
    for suite, rows in records.items():
        samples = []
        for r in rows:
            value, target = REGISTRY[suite].inspect_score(r)
            samples.append(
                EvalSample(
                    id=r["key"],
                    epoch=1,
                    input=r["messages"][-1]["content"] if len(r["messages"]) == 1 else r["messages"],
                    target=target,
                    messages=[*r["messages"], ChatMessageAssistant(content=r["response"])],
                    output=ModelOutput.from_content(model, r["response"]),
                    scores={"msm": Score(value=value)},
                    metadata={k: v for k, v in r.items() if k not in ("messages", "response")},
                )
            )
        log = EvalLog(
            status="success",
            eval=EvalSpec(
                created=now,
                task=f"msm/{suite}",
                dataset=EvalDataset(name=suite, samples=len(samples)),
                model=model,
                config=EvalConfig(),
                metadata=source.record(),
            ),
            results=EvalResults(
                total_samples=len(samples),
                completed_samples=len(samples),
                scores=[
                    EvalScore(
                        name="msm", scorer="msm", metrics={"samples": EvalMetric(name="samples", value=len(samples))}
                    )
                ],
            ),
            samples=samples,
        )
        path = inspect_log_path(log_dir, suite)
        write_eval_log(log, path)
        written.append(path)
    return written
