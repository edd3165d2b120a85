"""The evaluation stage: one model (optionally + LoRA adapter) through the chosen suites.

    msm evaluate --model build/base --adapter build/aft --suites value-ab,cheese --engine hf \
        --recipe recipes/tiny-offline.yaml --out build/eval/aft

Output directory (complete only once manifest.json exists, written last):
  run.json            what this run is (model fingerprint, adapter hash, suites, config); a rerun
                      into the same --out must match it, and then resumes
  samples/<suite>.jsonl    one line per finished sample (prompt, reply, scores), appended as done
  samples/<suite>.judgments.jsonl    one line per judge verdict
  judge-cache.sqlite  every judge reply, so a rerun never pays for a call twice
  metrics.json        rates with Wilson intervals, per suite/family/condition (what `msm report` reads)
  inspect/<suite>.eval     the samples as Inspect eval logs (`inspect view --log-dir OUT/inspect`)
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem
from msm.evaluation import agentic, forced_choice, spec_qa
from msm.evaluation.config import SUITES, EvaluationConfig
from msm.evaluation.engine import Engine, open_engine
from msm.evaluation.items import (
    SUITE_VERSION,
    cheese_items,
    load_am_templates,
    load_choice_items,
    load_qa_items,
    suite_digest,
)
from msm.evaluation.judge import Judge
from msm.evaluation.model_source import ModelSource, resolve_source
from msm.evaluation.results import SampleLog
from msm.manifest import MANIFEST_NAME, read_manifest, write_manifest
from msm.telemetry import push_evaluation

log = logging.getLogger(__name__)

RUN_FILE, METRICS_FILE, SAMPLES_DIR = "run.json", "metrics.json", "samples"


@dataclass
class EvalRequest:
    model: str
    out: Path
    config: EvaluationConfig
    model_name: str
    provider_name: str
    specs: list[Path] = field(default_factory=list)
    adapter: Path | None = None
    label: str | None = None


def parse_suites(value: str) -> list[str]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUITES]
    if unknown or not names:
        raise InvalidInput(
            [
                problem(
                    "--suites",
                    f"unknown suite(s): {', '.join(unknown) or '(none given)'}",
                    f"choose from {', '.join(SUITES)}, comma-separated",
                )
            ]
        )
    return names


def _specs_by_family(req: EvalRequest) -> dict[str, Any]:
    from msm.spec import load_source, render_spec

    found: dict[str, Any] = {}
    for path in req.specs:
        rendered = render_spec(load_source(path), req.model_name, req.provider_name)
        kind = rendered.document.kind
        family = "cheese" if kind == "preference" else "philosophy" if kind in ("philosophy",) else "rules"
        found.setdefault(family, rendered)
    if "philosophy" not in found and "rules" in found:  # a rules-family spec stands in for safety QA
        found["philosophy"] = found["rules"]
    return found


def _label(req: EvalRequest, source: ModelSource) -> str:
    if req.label:
        return req.label
    if source.adapter is not None:
        cfg = (read_manifest(source.adapter) or {}).get("config", {})
        stage = (read_manifest(source.adapter) or {}).get("stage", "adapter")
        return f"{stage}:{cfg.get('spec', source.adapter.name)}"
    return source.model_dir.name


def _check_out(out: Path, identity: dict[str, Any]) -> None:
    if out.exists() and not out.is_dir():
        raise InvalidInput([problem(out, "exists and is not a directory", "choose another --out")])
    if not out.is_dir() or not any(out.iterdir()):
        return
    run_file = out / RUN_FILE
    if not run_file.is_file():
        raise InvalidInput(
            [
                problem(
                    out,
                    f"is not empty and holds no {RUN_FILE}, so it is not an msm evaluation",
                    "choose an empty or new --out",
                )
            ]
        )
    previous = json.loads(run_file.read_text())
    if previous != identity:
        changed = sorted(k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k))
        raise InvalidInput(
            [
                problem(
                    out / RUN_FILE,
                    f"holds a different evaluation (differs in: {', '.join(changed)})",
                    "use a new --out, or delete this directory to start over",
                )
            ]
        )


def _chunked(pending: list[dict], size: int, fn: Callable[[list[dict]], list[dict]], sink: SampleLog) -> int:
    for start in range(0, len(pending), size):
        sink.append(fn(pending[start : start + size]))
    return len(pending)


def _seed(base: int, key: str) -> int:
    """A stable per-batch seed: the same first sample always gets the same seed, across resumes."""
    return base * 1_000_003 + zlib.crc32(key.encode()) % 1_000_003


class Evaluation:
    def __init__(self, req: EvalRequest):
        self.req, self.cfg = req, req.config
        self.suites = list(dict.fromkeys(self.cfg.suites))
        self.source = resolve_source(req.model, req.adapter)
        self.specs = _specs_by_family(req)
        self.out = Path(req.out)
        self._engine: Engine | None = None
        self.counts: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._plan()

    # -- everything checked before anything is written or loaded
    def _plan(self) -> None:
        cfg = self.cfg
        self.samples: dict[str, list[dict]] = {}
        if "value-ab" in self.suites:
            items = load_choice_items()
            if cfg.value_ab.max_items_per_family:
                cap = cfg.value_ab.max_items_per_family
                items = [
                    i for f in dict.fromkeys(x.family for x in items) for i in [x for x in items if x.family == f][:cap]
                ]
            self.samples["value-ab"] = forced_choice.build_samples(items)
        if "cheese" in self.suites:
            spec = self.specs.get("cheese")
            if spec is None or spec.document.preferences is None:
                raise InvalidInput(
                    [
                        problem(
                            "--recipe",
                            "the cheese suite needs a preference spec (likes/dislikes)",
                            "list a cheese spec under `specs:` in the recipe",
                            field="specs",
                        )
                    ]
                )
            prefs = spec.document.preferences
            items = cheese_items(prefs.likes, prefs.dislikes)[: cfg.cheese.max_items_per_family or None]
            self.samples["cheese"] = forced_choice.build_samples(items)
        if "am" in self.suites:
            templates = load_am_templates()
            try:
                conds = agentic.render_conditions(
                    templates,
                    self.req.model_name,
                    scenarios=cfg.am.scenarios,
                    goals=cfg.am.goals,
                    scratchpad=cfg.am.scratchpad,
                )
            except ValueError as e:
                raise InvalidInput(
                    [
                        problem(
                            "recipe", str(e), "use goal names from the scenario templates", field="evaluation.am.goals"
                        )
                    ]
                ) from None
            self.conditions = {c.id: c for c in conds}
            self.samples["am"] = agentic.build_samples(conds, cfg.am.samples_per_condition)
        if "spec-qa" in self.suites:
            if cfg.judge is None:
                raise InvalidInput(
                    [
                        problem(
                            "--judge",
                            "the spec-qa suite is graded by a judge and none is set",
                            "pass --judge BACKEND:MODEL or set evaluation.judge in the recipe",
                        )
                    ]
                )
            missing = [f for f in cfg.spec_qa.families if f not in self.specs]
            if missing:
                raise InvalidInput(
                    [
                        problem(
                            "--recipe",
                            f"spec-qa family {missing[0]!r} has no matching spec",
                            "list a spec of that family under `specs:`",
                            field="specs",
                        )
                    ]
                )
            questions = [q for q in load_qa_items() if q.family in cfg.spec_qa.families]
            cap_q = cfg.spec_qa.max_questions_per_family
            questions = [q for f in cfg.spec_qa.families for q in [x for x in questions if x.family == f][:cap_q]]
            self.samples["spec-qa"] = spec_qa.build_samples(questions, self.req.model_name)
        self.judge = (
            Judge(cfg.judge, self.out / "judge-cache.sqlite")
            if cfg.judge and ({"am", "spec-qa"} & set(self.suites))
            else None
        )

    def identity(self) -> dict[str, Any]:
        return {
            "schema": "msm.evaluation-run/v1",
            **self.source.record(),
            "suites": self.suites,
            "suite_version": SUITE_VERSION,
            "suite_sha256": suite_digest(),
            "specs": {f: s.document.rendered_sha256 for f, s in sorted(self.specs.items())},
            "config": self.cfg.model_dump(mode="json"),
        }

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            t0 = time.perf_counter()
            self._engine = open_engine(
                self.cfg.engine,
                self.source,
                batch_size=self.cfg.batch_size,
                dtype=self.cfg.dtype,
                vllm_memory_utilization=self.cfg.vllm_memory_utilization,
                vllm_tensor_parallel_size=self.cfg.vllm_tensor_parallel_size,
                vllm_max_model_len=self.cfg.vllm_max_model_len,
                vllm_cpu_kv_cache_sequences=self.cfg.vllm_cpu_kv_cache_sequences,
                prompt_logprobs=any(
                    s in self.suites and fc.loglik_scorer
                    for s, fc in (("value-ab", self.cfg.value_ab), ("cheese", self.cfg.cheese))
                ),
            )
            self.timings["engine_load"] = time.perf_counter() - t0
        return self._engine

    def log(self, suite: str, kind: str = "") -> SampleLog:
        return SampleLog(self.out / SAMPLES_DIR / f"{suite}{'.' + kind if kind else ''}.jsonl")

    # -- generation
    def _forced_choice(self, suite: str, samples: list[dict], sink: SampleLog) -> int:
        fc = self.cfg.value_ab if suite == "value-ab" else self.cfg.cheese
        pending = [s for s in samples if s["key"] not in sink]
        return _chunked(
            pending,
            self.cfg.batch_size,
            lambda b: forced_choice.score_batch(
                self.engine,
                b,
                temperature=fc.temperature,
                max_new_tokens=fc.max_new_tokens,
                seed=_seed(self.cfg.seed, b[0]["key"]),
                loglik=fc.loglik_scorer,
            ),
            sink,
        )

    def _generate_plain(
        self,
        samples: list[dict],
        sink: SampleLog,
        temperature: float,
        max_new_tokens: int,
        post: Callable[[dict], dict] | None = None,
    ) -> int:
        def batch(b: list[dict]) -> list[dict]:
            seed = _seed(self.cfg.seed, b[0]["key"])
            gens = self.engine.generate(
                [s["messages"] for s in b], temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
            )
            rows = [{**s, "response": g.text, "tokens": g.tokens, "seed": seed} for s, g in zip(b, gens, strict=True)]
            return [post(r) for r in rows] if post else rows

        return _chunked([s for s in samples if s["key"] not in sink], self.cfg.batch_size, batch, sink)

    def _am_post(self, r: dict) -> dict:
        cond = self.conditions[r["condition"]]
        return {
            **r,
            "hard_check": agentic.hard_check(cond, r["response"]),
            "tool_calls": len(agentic.tool_calls(r["response"])),
        }

    def run(self) -> dict[str, Any]:
        t_start = time.perf_counter()
        identity = self.identity()
        _check_out(self.out, identity)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / MANIFEST_NAME).unlink(missing_ok=True)  # not complete again until this run finishes
        (self.out / RUN_FILE).write_text(json.dumps(identity, indent=2) + "\n")
        cfg = self.cfg
        metrics: dict[str, Any] = {}
        for suite in self.suites:
            t0 = time.perf_counter()
            sink = self.log(suite)
            samples = self.samples[suite]
            if suite in ("value-ab", "cheese"):
                generated = self._forced_choice(suite, samples, sink)
            elif suite == "am":
                generated = self._generate_plain(
                    samples, sink, cfg.am.temperature, cfg.am.max_new_tokens, self._am_post
                )
            else:
                generated = self._generate_plain(samples, sink, cfg.spec_qa.temperature, cfg.spec_qa.max_new_tokens)
            self.timings[f"{suite}_generate"] = time.perf_counter() - t0
            self.counts[suite] = {
                "samples": len(samples),
                "generated_this_run": generated,
                "resumed": len(samples) - generated,
            }
        # How this run's engine applied the adapter (None when every sample was resumed: no engine opened).
        adapter_serving = self._engine.adapter_serving if self._engine is not None else None
        if self._engine is not None:
            self._engine.close()
        if self.judge is not None:
            self._judge()
        for suite in self.suites:
            records = [self.log(suite).records[s["key"]] for s in self.samples[suite]]
            if suite in ("value-ab", "cheese"):
                metrics[suite] = forced_choice.suite_metrics(records)
            elif suite == "am":
                metrics[suite] = agentic.suite_metrics(records, self.log(suite, "judgments").values())
            else:
                metrics[suite] = spec_qa.suite_metrics(records, self.log(suite, "judgments").values())
        label = _label(self.req, self.source)
        document = {
            "schema": "msm.evaluation-metrics/v1",
            "label": label,
            "engine": cfg.engine,
            "seed": cfg.seed,
            "judge": self.judge.record() if self.judge else None,
            "suites": metrics,
        }
        (self.out / METRICS_FILE).write_text(json.dumps(document, indent=2) + "\n")
        push_evaluation(",".join(sorted({s.document.id for s in self.specs.values()})), label, metrics)
        from msm.evaluation.inspect_logs import write_inspect_logs

        write_inspect_logs(
            self.out / "inspect",
            label,
            self.source,
            {s: [self.log(s).records[x["key"]] for x in self.samples[s]] for s in self.suites},
        )
        self.timings["total"] = time.perf_counter() - t_start
        return write_manifest(
            self.out,
            stage="evaluate",
            inputs={**self.source.record(), "specs": identity["specs"], "suite_sha256": identity["suite_sha256"]},
            config={
                "label": label,
                "suites": self.suites,
                "suite_version": SUITE_VERSION,
                "judge": document["judge"],
                "adapter_serving": adapter_serving,
                **cfg.model_dump(mode="json"),
            },
            counts=self.counts,
            timings_s=self.timings,
            upstream={"model": self.source.model_dir, "adapter": self.source.adapter},
        )

    def _judge(self) -> None:
        assert self.judge is not None
        t0 = time.perf_counter()
        for suite in ("am", "spec-qa"):
            if suite not in self.suites:
                continue
            records = [self.log(suite).records[s["key"]] for s in self.samples[suite]]
            if suite == "am":
                todo = agentic.judgments(records, self.conditions, self.cfg.am.policy_misuse)
            else:
                todo = spec_qa.judgments(records, {f: s.text for f, s in self.specs.items()}, self.req.model_name)
            totals = self.judge.run(todo, self.log(suite, "judgments"))
            self.counts[f"{suite}_judge"] = totals
        self.timings["judge"] = time.perf_counter() - t0


def evaluate(req: EvalRequest) -> dict[str, Any]:
    return Evaluation(req).run()
