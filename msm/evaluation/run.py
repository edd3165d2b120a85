"""The evaluation stage: one model (optionally + LoRA adapter) through the chosen suites.

    msm evaluate --model build/base --adapter build/aft --suites value-ab,cheese --engine hf \
        --recipe recipes/tiny-offline.yaml --out build/eval/aft

The output directory is laid out in msm.artefacts.evaluation. Its run.json holds every input that
decides the results (Evaluation.identity): a rerun into the same --out must match it, and then
resumes; samples are appended as they finish, the judge's replies are cached, and manifest.json is
written last. Each suite (msm.evaluation.suites) plans, scores and measures its own samples.

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

from msm.artefacts.evaluation import (
    EVAL_METRICS_JSON,
    EVAL_METRICS_SCHEMA,
    INSPECT_DIR,
    JUDGE_CACHE,
    RUN_JSON,
    samples_path,
)
from msm.artefacts.spec import RenderedSpec, read_spec
from msm.config.evaluation import EvaluationConfig
from msm.errors import InvalidInput, problem
from msm.evaluation import judge as judge_module
from msm.evaluation.engines import Engine, open_engine
from msm.evaluation.items import SUITE_VERSION, suite_sha256
from msm.evaluation.judge import Judge, prompt_sha256
from msm.evaluation.model_source import ModelSource, resolve_source
from msm.evaluation.results import SampleLog
from msm.evaluation.suites import REGISTRY, specs_by_family
from msm.evaluation.suites.base import Context, Suite
from msm.hashing import sha256_text
from msm.lineage import upstream_nodes
from msm.manifest import MANIFEST_NAME, flat_fields, read_json_object, read_manifest, write_manifest
from msm.preemption import Preempted, StopSignal, on_sigterm
from msm.telemetry import push_evaluation

log = logging.getLogger(__name__)

RUN_SCHEMA = "msm.evaluation-run/v2"  # v2: the identity names every input that decides results
PACKAGE_DIR = Path(__file__).parent  # code files are named in the identity relative to it


@dataclass
class EvalRequest:
    model: str
    out: Path
    config: EvaluationConfig
    model_name: str
    provider_name: str
    specs: list[Path] = field(default_factory=list)  # ingest output directories (msm spec render / msm ingest)
    adapter: Path | None = None
    label: str | None = None


def parse_suites(value: str) -> list[str]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in REGISTRY]
    if unknown or not names:
        raise InvalidInput(
            [
                problem(
                    "--suites",
                    f"unknown suite(s): {', '.join(unknown) or '(none given)'}",
                    f"choose from {', '.join(REGISTRY)}, comma-separated",
                )
            ]
        )
    return names


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
    run_file = out / RUN_JSON
    not_ours = "choose an empty or new --out"
    if not run_file.is_file():
        raise InvalidInput(
            [problem(out, f"is not empty and holds no {RUN_JSON}, so it is not an msm evaluation", not_ours)]
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


def _read_specs(req: EvalRequest) -> list[RenderedSpec]:
    """The ingest outputs, each rendered for the names this evaluation's prompts use: a spec rendered
    for another model would make the suites quote one name and the model hear another."""
    wanted = {"model_name": req.model_name, "provider_name": req.provider_name}
    specs, problems = [], []
    for path in map(Path, req.specs):
        spec = read_spec(path)
        for name, value in wanted.items():
            rendered = spec.document.placeholders.get(name, value)
            if rendered is not None and rendered != value:
                problems.append(
                    problem(
                        path,
                        f"rendered with {name} {rendered!r}, but this evaluation's identity.{name} is {value!r}",
                        "render the spec with the recipe's identity (`msm ingest --recipe ...`) or pass its .md file",
                        field=f"placeholders.{name}",
                    )
                )
        specs.append(spec)
    if problems:
        raise InvalidInput(problems)
    return specs


class Evaluation:
    def __init__(self, req: EvalRequest):
        self.req, self.cfg = req, req.config
        self.source = resolve_source(req.model, req.adapter)
        self.specs = specs_by_family(_read_specs(req))
        self.out = Path(req.out)
        self._engine: Engine | None = None
        self._logs: dict[Path, SampleLog] = {}
        self.stop = StopSignal()  # run() swaps in the one its SIGTERM handler sets
        self.counts: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._plan()

    # -- everything checked before anything is written or loaded
    def _plan(self) -> None:
        selected = list(dict.fromkeys(self.cfg.suites))
        ctx = Context(config=self.cfg, model_name=self.req.model_name, specs=self.specs)
        # Planned in registry order, so the first problem reported does not depend on the recipe's order.
        planned = {name: suite(ctx) for name, suite in REGISTRY.items() if name in selected}
        self.suites: dict[str, Suite] = {name: planned[name] for name in selected}
        self.samples = {name: suite.samples for name, suite in self.suites.items()}
        judged = any(suite.judge_prompts() for suite in self.suites.values())
        self.judge = Judge(self.cfg.judge, self.out / JUDGE_CACHE) if self.cfg.judge and judged else None

    def identity(self) -> dict[str, Any]:
        """Every input that decides this run's results, and nothing else: a rerun into the same --out
        resumes only when it is equal. Left out on purpose, so a resume may change them: vLLM's memory
        fraction and CPU KV cache size; the judge's concurrency, retries, timeouts and env var names;
        the bootstrap resamples (metrics are recomputed from the samples on every run); the label;
        the settings of unselected suites."""
        cfg, suites = self.cfg, list(self.suites.values())
        decoding: dict[str, Any] = {
            "engine": cfg.engine,
            "dtype": cfg.dtype,
            "seed": cfg.seed,
            # Sets each batch's seed (_seed) and how prompts are padded together.
            "batch_size": cfg.batch_size,
            **{s.section: s.settings.model_dump(mode="json") for s in suites},
        }
        if cfg.engine != "hf":
            decoding["vllm_tensor_parallel_size"] = cfg.vllm_tensor_parallel_size
            decoding["vllm_max_model_len"] = cfg.vllm_max_model_len
        # Specs reach results through the suites' items and judge prompts.
        families = [f for s in suites for f in s.spec_families()]
        code = [path for s in suites for path in s.code]
        judge = None
        if self.judge is not None:
            j = self.judge.cfg
            prompts = [p for s in suites for p in s.judge_prompts()]
            judge = {
                "backend": j.backend,
                "model": j.model,
                "max_tokens": j.max_tokens,
                "max_reasks": j.max_reasks,
                "prompts": {p: prompt_sha256(p) for p in prompts},
            }
            if j.guided_verdict:  # constrained verdicts grade differently; absent when off: identities stay
                judge["guided_verdict"] = True
            code.append(Path(judge_module.__file__))
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
                name: sha256_text(path.read_text())
                for name, path in sorted({p.relative_to(PACKAGE_DIR).as_posix(): p for p in code}.items())
            },
        }

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
            prompt_logprobs=any(s.needs_logprobs() for s in self.suites.values()),
        )

    def log(self, suite: str, kind: str = "") -> SampleLog:
        """One SampleLog per file for the whole run: read (and checked) once, appended through."""
        path = samples_path(self.out, suite, kind)
        if path not in self._logs:
            self._logs[path] = SampleLog(path)
        return self._logs[path]

    def records(self, suite: str) -> list[dict]:
        """A suite's finished records, in plan order."""
        done = self.log(suite).records
        return [done[s["key"]] for s in self.samples[suite]]

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

    def _generate(self, suite: Suite) -> int:
        sink = self.log(suite.name)
        return self._chunked(
            [s for s in suite.samples if s["key"] not in sink],
            lambda b: suite.score(self.engine, b, _seed(self.cfg.seed, b[0]["key"])),
            sink,
        )

    def run(self) -> dict[str, Any]:
        with on_sigterm() as stop:
            self.stop = stop
            return self._run()

    def _run(self) -> dict[str, Any]:
        t_start = time.perf_counter()
        identity = self.identity()
        _check_out(self.out, identity)
        # Every file a resume reads is checked before anything is written.
        for name, suite in self.suites.items():
            self.log(name)
            if self.judge is not None and suite.judge_prompts():
                self.log(name, "judgments")
        if self.judge is not None:
            self.judge.check_cache()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / MANIFEST_NAME).unlink(missing_ok=True)  # not complete again until this run finishes
        staged = self.out / f".{RUN_JSON}.tmp"  # whole or absent: a kill mid-write must not leave a torn run file
        staged.write_text(json.dumps(identity, indent=2) + "\n")
        os.replace(staged, self.out / RUN_JSON)
        cfg = self.cfg
        for name, suite in self.suites.items():
            t0 = time.perf_counter()
            generated = self._generate(suite)
            self.timings[f"{name}_generate"] = time.perf_counter() - t0
            self.counts[name] = {
                "samples": len(suite.samples),
                "generated_this_run": generated,
                "resumed": len(suite.samples) - generated,
            }
        # How this run's engine applied the adapter (None when every sample was resumed: no engine opened).
        adapter_serving = self._engine.adapter_serving if self._engine is not None else None
        if self._engine is not None:
            self._engine.close()
        if self.judge is not None:
            if self.stop.requested:
                raise Preempted(f"SIGTERM: stopped before judging; every sample is kept in {self.out}; rerun to resume")
            self._judge()
        metrics = {
            name: suite.metrics(
                self.records(name), self.log(name, "judgments").values() if suite.judge_prompts() else []
            )
            for name, suite in self.suites.items()
        }
        label = _label(self.req, self.source)
        document = {
            "schema": EVAL_METRICS_SCHEMA,
            "label": label,
            "engine": cfg.engine,
            "seed": cfg.seed,
            "judge": self.judge.record() if self.judge else None,
            "suites": metrics,
        }
        (self.out / EVAL_METRICS_JSON).write_text(json.dumps(document, indent=2) + "\n")
        push_evaluation(",".join(sorted({s.document.id for s in self.specs.values()})), label, metrics)
        from msm.evaluation.inspect_logs import write_inspect_logs

        write_inspect_logs(
            self.out / INSPECT_DIR, label, self.source, {name: self.records(name) for name in self.suites}
        )
        self.timings["total"] = time.perf_counter() - t_start
        return write_manifest(
            self.out,
            stage="evaluate",
            inputs={
                **self.source.record(),
                "specs": {f: s.document.rendered_sha256 for f, s in sorted(self.specs.items())},
                "suite_sha256": suite_sha256(),
            },
            config={
                "label": label,
                "suites": list(self.suites),
                "suite_version": SUITE_VERSION,
                "judge": document["judge"],
                "adapter_serving": adapter_serving,
                **cfg.model_dump(mode="json"),
            },
            counts=self.counts,
            timings_s=self.timings,
            lineage=upstream_nodes({"model": self.source.model_dir, "adapter": self.source.adapter}),
        )

    def _judge(self) -> None:
        assert self.judge is not None
        t0 = time.perf_counter()
        for name, suite in self.suites.items():
            if suite.judge_prompts():
                todo = suite.judgments(self.records(name))
                self.counts[f"{name}_judge"] = self.judge.run(todo, self.log(name, "judgments"), self.stop)
        self.timings["judge"] = time.perf_counter() - t0


def evaluate(req: EvalRequest) -> dict[str, Any]:
    return Evaluation(req).run()
