"""The evaluation stage: one model (optionally + LoRA adapter) through the chosen suites.

    msm evaluate --model build/base --adapter build/aft --suites value-ab,cheese --engine hf \
        --recipe recipes/tiny-offline.yaml --out build/eval/aft

Output directory (complete only once manifest.json exists, written last):
  run.json            what this run is: every input that decides its results (Evaluation.identity);
                      a rerun into the same --out must match it, and then resumes
  samples/<suite>.jsonl    one line per finished sample (prompt, reply, scores), appended as done
  samples/<suite>.judgments.jsonl    one line per judge verdict
  judge-cache.sqlite  every judge reply, so a rerun never pays for a call twice
  metrics.json        rates with Wilson intervals, per suite/family/condition (what `msm report` reads)
  inspect/<suite>.eval     the samples as Inspect eval logs (`inspect view --log-dir OUT/inspect`)

On SIGTERM (msm.preemption) the run finishes the batch or the judge calls in flight, keeps them,
and raises Preempted; the rerun resumes.
"""

from __future__ import annotations

import json
import logging
import os
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
from msm.evaluation.judge import Judge, prompt_sha256
from msm.evaluation.model_source import ModelSource, resolve_source
from msm.evaluation.results import SampleLog
from msm.hashing import sha256_text
from msm.manifest import MANIFEST_NAME, flat_fields, read_json_object, read_manifest, write_manifest
from msm.preemption import Preempted, StopSignal, on_sigterm
from msm.telemetry import push_evaluation

log = logging.getLogger(__name__)

RUN_FILE, METRICS_FILE, SAMPLES_DIR = "run.json", "metrics.json", "samples"
RUN_SCHEMA = "msm.evaluation-run/v2"  # v2: the identity names every input that decides results
# The section of the evaluation config each suite decodes with.
SUITE_SECTIONS = {"value-ab": "value_ab", "cheese": "cheese", "am": "am", "spec-qa": "spec_qa"}
# Modules whose code scores what is stored with each sample, or builds a judge's prompt from it.
SUITE_CODE = {
    "value-ab": ("forced_choice", "parsing"),
    "cheese": ("forced_choice", "parsing"),
    "am": ("agentic",),
    "spec-qa": ("spec_qa",),
}


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


def _changes(previous: dict[str, Any], identity: dict[str, Any]) -> str:
    old, new = flat_fields(previous), flat_fields(identity)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    shown = []
    for k in changed[:8]:
        a, b = old.get(k), new.get(k)
        short = all(isinstance(v, (int, float, str, bool, type(None))) and len(repr(v)) <= 40 for v in (a, b))
        shown.append(f"{k} ({a!r} -> {b!r})" if short else k)
    more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
    return ", ".join(shown) + more


def _check_out(out: Path, identity: dict[str, Any]) -> None:
    """Refuse an --out that is not this evaluation's, before anything is written.

    A rerun with a different identity is refused rather than started fresh beside the old results:
    --out names one run's results (reports and the next pipeline steps read it), and resuming into
    it must not mix samples or verdicts made under other settings, nor silently discard them.
    """
    if out.exists() and not out.is_dir():
        raise InvalidInput([problem(out, "exists and is not a directory", "choose another --out")])
    if not out.is_dir() or not any(out.iterdir()):
        return
    run_file = out / RUN_FILE
    not_ours = "choose an empty or new --out"
    if not run_file.is_file():
        raise InvalidInput(
            [problem(out, f"is not empty and holds no {RUN_FILE}, so it is not an msm evaluation", not_ours)]
        )
    previous = read_json_object(run_file, f"{not_ours}, or delete this directory to start over")
    if not str(previous.get("schema", "")).startswith("msm.evaluation-run/"):
        raise InvalidInput([problem(run_file, "is not the run file of an msm evaluation", not_ours, field="schema")])
    # Unreadable, it is this run's own manifest torn by a kill (it is rewritten at the end); readable,
    # it must be an evaluation's.
    manifest = read_manifest(out)
    stage = manifest.get("stage") if isinstance(manifest, dict) else manifest
    if manifest is not None and stage != "evaluate":
        raise InvalidInput(
            [
                problem(
                    out / MANIFEST_NAME,
                    f"is not the manifest of an evaluation (stage: {stage!r})",
                    not_ours,
                    field="stage",
                )
            ]
        )
    if previous != identity:
        raise InvalidInput(
            [
                problem(
                    run_file,
                    f"holds results of a different evaluation; changed: {_changes(previous, identity)}",
                    "use a new --out, or delete this directory to start over; resuming here needs the same "
                    "model, suites, prompts and decoding settings as the run that wrote it",
                )
            ]
        )


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
        self._logs: dict[Path, SampleLog] = {}
        self.stop = StopSignal()  # run() swaps in the one its SIGTERM handler sets
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
        """Every input that decides this run's results, and nothing else: a rerun into the same --out
        resumes only when it is equal. Left out on purpose, so a resume may change them: vLLM's memory
        fraction and CPU KV cache size; the judge's concurrency, retries, timeouts and env var names;
        the bootstrap resamples (metrics are recomputed from the samples on every run); the label;
        the settings of unselected suites."""
        cfg = self.cfg
        decoding: dict[str, Any] = {
            "engine": cfg.engine,
            "dtype": cfg.dtype,
            "seed": cfg.seed,
            # Sets each batch's seed (_seed) and how prompts are padded together.
            "batch_size": cfg.batch_size,
            **{SUITE_SECTIONS[s]: getattr(cfg, SUITE_SECTIONS[s]).model_dump(mode="json") for s in self.suites},
        }
        if cfg.engine != "hf":
            decoding["vllm_tensor_parallel_size"] = cfg.vllm_tensor_parallel_size
            decoding["vllm_max_model_len"] = cfg.vllm_max_model_len
        # Specs reach results through the cheese items and the spec-qa judge's prompt.
        families = (["cheese"] if "cheese" in self.suites else []) + (
            cfg.spec_qa.families if "spec-qa" in self.suites else []
        )
        modules = [m for s in self.suites for m in SUITE_CODE[s]]
        judge = None
        if self.judge is not None:
            j = self.judge.cfg
            prompts = [p for s in self.suites for p in self._judge_prompts(s)]
            judge = {
                "backend": j.backend,
                "model": j.model,
                "max_tokens": j.max_tokens,
                "max_reasks": j.max_reasks,
                "prompts": {p: prompt_sha256(p) for p in prompts},
            }
            modules.append("judge")
        return {
            "schema": RUN_SCHEMA,
            # The model's fingerprint reads its config and file sizes, not every weight byte, so its
            # path stays part of the identity; the adapter is hashed whole.
            **self.source.record(),
            "suites": sorted(self.suites),  # each suite's results are its own: their order does not matter
            "suite_version": SUITE_VERSION,
            # The exact prompts of every sample: suite items, caps, scenarios, goals, the model's name.
            "samples_sha256": sha256_text(json.dumps(self.samples, sort_keys=True, ensure_ascii=False)),
            "specs": {f: self.specs[f].document.rendered_sha256 for f in dict.fromkeys(families)},
            "decoding": decoding,
            "judge": judge,
            # Code that scores a sample or builds a judge prompt: results of another version must not mix.
            "code": {
                f"{m}.py": sha256_text(Path(__file__).with_name(f"{m}.py").read_text()) for m in sorted(set(modules))
            },
        }

    def _judge_prompts(self, suite: str) -> list[str]:
        if suite == "am":
            return ["judge_harm", "judge_misuse"] if self.cfg.am.policy_misuse else ["judge_harm"]
        return ["judge_spec_qa"] if suite == "spec-qa" else []

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            t0 = time.perf_counter()
            # Loading (minutes for a large model on vLLM) holds nothing worth storing and could outlast
            # the grace: SIGTERM stops it where it stands; SIGKILL would end it there anyway.
            with self.stop.immediately("loading the model"):
                self._engine = self._open_engine()
            self.timings["engine_load"] = time.perf_counter() - t0
        return self._engine

    def _open_engine(self) -> Engine:
        return open_engine(
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

    def log(self, suite: str, kind: str = "") -> SampleLog:
        """One SampleLog per file for the whole run: read (and checked) once, appended through."""
        path = self.out / SAMPLES_DIR / f"{suite}{'.' + kind if kind else ''}.jsonl"
        if path not in self._logs:
            self._logs[path] = SampleLog(path)
        return self._logs[path]

    def _chunked(self, pending: list[dict], fn: Callable[[list[dict]], list[dict]], sink: SampleLog) -> int:
        size = self.cfg.batch_size
        for start in range(0, len(pending), size):
            # A batch cannot be interrupted; between batches is where a SIGTERM stops the run.
            if self.stop.requested:
                raise Preempted(
                    f"SIGTERM: stopped with {len(sink.records)} samples of {sink.path.stem} done, kept in "
                    f"{sink.path}; rerun the same command to resume"
                )
            sink.append(fn(pending[start : start + size]))
        return len(pending)

    # -- generation
    def _forced_choice(self, suite: str, samples: list[dict], sink: SampleLog) -> int:
        fc = self.cfg.value_ab if suite == "value-ab" else self.cfg.cheese
        pending = [s for s in samples if s["key"] not in sink]
        return self._chunked(
            pending,
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

        return self._chunked([s for s in samples if s["key"] not in sink], batch, sink)

    def _am_post(self, r: dict) -> dict:
        cond = self.conditions[r["condition"]]
        return {
            **r,
            "hard_check": agentic.hard_check(cond, r["response"]),
            "tool_calls": len(agentic.tool_calls(r["response"])),
        }

    def run(self) -> dict[str, Any]:
        with on_sigterm() as stop:
            self.stop = stop
            return self._run()

    def _run(self) -> dict[str, Any]:
        t_start = time.perf_counter()
        identity = self.identity()
        _check_out(self.out, identity)
        # Every file a resume reads is checked before anything is written.
        for suite in self.suites:
            self.log(suite)
            if self.judge is not None and self._judge_prompts(suite):
                self.log(suite, "judgments")
        if self.judge is not None:
            self.judge.check_cache()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / MANIFEST_NAME).unlink(missing_ok=True)  # not complete again until this run finishes
        staged = self.out / f".{RUN_FILE}.tmp"  # whole or absent: a kill mid-write must not leave a torn run file
        staged.write_text(json.dumps(identity, indent=2) + "\n")
        os.replace(staged, self.out / RUN_FILE)
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
            if self.stop.requested:
                raise Preempted(f"SIGTERM: stopped before judging; every sample is kept in {self.out}; rerun to resume")
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
            inputs={
                **self.source.record(),
                "specs": {f: s.document.rendered_sha256 for f, s in sorted(self.specs.items())},
                "suite_sha256": suite_digest(),
            },
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
            totals = self.judge.run(todo, self.log(suite, "judgments"), self.stop)
            self.counts[f"{suite}_judge"] = totals
        self.timings["judge"] = time.perf_counter() - t0


def evaluate(req: EvalRequest) -> dict[str, Any]:
    return Evaluation(req).run()
