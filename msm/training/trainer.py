"""One training loop for both stages (midtraining and AFT), on DeepSpeed.

    msm train midtrain --recipe R --corpus build/corpus --base-model build/base --out build/msm
    msm train align --recipe R --data build/aft --adapter build/msm --base-model build/base --out build/aft

A compact own loop rather than HF Trainer: the loop is ~100 lines, resume is exact (micro-batch i
is a pure function of i, and model, optimizer, scheduler and RNG come back from the DeepSpeed
checkpoint), and nothing sits between the step and the metrics. DeepSpeed is driven by its JSON
config (recipes/deepspeed/); the entry point does not care which launcher started it (none,
`deepspeed`, `torchrun`, Kubeflow Trainer): it reads RANK/WORLD_SIZE/LOCAL_RANK. On SIGTERM
(msm.preemption) every rank finishes the step under way, they checkpoint it together and the run
raises Preempted (the CLI exits 143); during start-up it raises at once.

The output directory's layout (adapter or weights, merged/, metrics.jsonl, run.json, checkpoints/)
is msm.artefacts.model's; it is complete only once `manifest.json` exists (written last).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import random
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from msm.artefacts.corpus import training_files
from msm.artefacts.model import (
    CHECKPOINTS_DIR,
    MERGED_DIR,
    TRAIN_METRICS_JSONL,
    TRAIN_RUN_JSON,
    adapter_sha256,
    model_fingerprint,
)
from msm.config.training import StageSettings, TrainingConfig
from msm.errors import InvalidInput, MsmError, problem
from msm.hashing import sha256_file
from msm.lineage import upstream_nodes
from msm.manifest import (
    MANIFEST_NAME,
    flat_fields,
    load_manifest,
    read_json_object,
    read_manifest,
    write_manifest,
)
from msm.models.checks import check_adapter_dir, resolve_model_dir
from msm.preemption import Preempted, on_sigterm
from msm.training.data import (
    BatchOrder,
    Example,
    align_examples,
    load_chats,
    load_texts,
    midtrain_examples,
    mix,
)
from msm.training.extensions import clear_stale_build_locks, skip_shm_comm_op
from msm.training.metrics import TrainMetrics, detect_peak_flops

log = logging.getLogger(__name__)

Kind = Literal["midtrain", "align"]
# Part of the resume key: bump it when a change to this loop or msm.training.data changes what
# micro-batch i holds or what a checkpoint stores, so that no run resumes across that change.
RESUME_FORMAT = 1
# DeepSpeed config keys that only steer its logging.
DEEPSPEED_LOGGING_KEYS = ("steps_per_print", "wall_clock_breakdown")


@dataclass
class TrainRequest:
    kind: Kind
    config: TrainingConfig
    base_model: str
    data: Path
    out_dir: Path
    adapter: Path | None = None
    resume: bool = False
    spec: str = "none"
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- setup helpers


SINGLE_PROCESS_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launcher_rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size, as a launcher set them (one process without one)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def ensure_distributed_env() -> tuple[str, ...]:
    """The variables set here: without a launcher, DeepSpeed needs them set or it tries MPI."""
    if "RANK" in os.environ:
        return ()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return SINGLE_PROCESS_ENV


def use_bf16(precision: str) -> bool:
    return precision == "bf16" or (precision == "auto" and torch.cuda.is_available())


def deepspeed_config(path: Path, stage: StageSettings, bf16: bool) -> dict[str, Any]:
    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InvalidInput(
            [
                problem(
                    path,
                    f"cannot read DeepSpeed config: {e}",
                    "point training.deepspeed at a JSON file",
                    field="training.deepspeed",
                )
            ]
        ) from None
    fill = {
        "train_micro_batch_size_per_gpu": stage.micro_batch_size,
        "gradient_accumulation_steps": stage.grad_accum,
        "gradient_clipping": stage.grad_clip,
    }
    for key, value in fill.items():
        if cfg.get(key, "auto") == "auto":
            cfg[key] = value
    cfg.setdefault("bf16", {})
    if cfg["bf16"].get("enabled", "auto") == "auto":
        cfg["bf16"]["enabled"] = bf16
    cfg.pop("optimizer", None)  # msm passes torch AdamW: no C++ op to JIT-compile, same on CPU and GPU
    cfg.pop("scheduler", None)
    return cfg


def lr_factor(kind: str, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return factor


def data_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for f in training_files(path):
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def adapter_dir(path: Path) -> Path:
    check_adapter_dir(path)
    return path


def flat_differences(old: Any, new: Any) -> list[str]:
    """Dotted names of the fields that differ between two nested dicts (a missing one counts)."""
    a, b = flat_fields(old or {}), flat_fields(new or {})
    return [key for key in dict.fromkeys([*b, *a]) if a.get(key) != b.get(key)]


def check_same_inputs(run_file: Path, recorded: dict[str, Any] | None, mine: dict[str, Any]) -> None:
    """Refuse to resume a run whose result-changing inputs (Trainer.resume_key) differ from this one's."""
    if recorded is None:
        changed, was = "resume_key", "absent (an older msm made this run)"
    elif changed_fields := flat_differences(recorded, mine):
        changed = changed_fields[0]
        was = repr(flat_fields(recorded).get(changed))
    else:
        return
    out = run_file.parent
    raise InvalidInput(
        [
            problem(
                run_file,
                f"cannot resume: `{changed}` differs from the interrupted run's ({was} then, "
                f"{flat_fields(mine).get(changed)!r} now), and it changes what training computes",
                f"choose a new --out, or delete {out} to train from the start (or restore the old value)",
                field=changed,
            )
        ]
    )


# ---------------------------------------------------------------- the run


class Trainer:
    def __init__(self, req: TrainRequest):
        self.req, self.cfg = req, req.config
        self.stage: StageSettings = req.config.midtrain if req.kind == "midtrain" else req.config.align
        self.out = Path(req.out_dir)
        self.ckpt_dir = self.out / CHECKPOINTS_DIR
        self.rank, self.world = launcher_rank_and_world()
        self.bf16 = use_bf16(self.cfg.precision)

    # -- inputs, checked before anything is written
    def prepare(self) -> None:
        req = self.req
        self.model_dir = resolve_model_dir(req.base_model)
        self.fingerprint = model_fingerprint(self.model_dir)
        if req.adapter is not None:
            adapter = adapter_dir(Path(req.adapter))
            trained_on = (load_manifest(adapter) or {}).get("config", {}).get("base_model_fingerprint")
            if trained_on and trained_on != self.fingerprint:
                raise InvalidInput(
                    [
                        problem(
                            adapter,
                            "this adapter was trained on another base model",
                            f"pass the base model it was trained on with --base-model (see {adapter / MANIFEST_NAME})",
                        )
                    ]
                )
        if req.adapter is not None and self.cfg.method == "full":
            raise InvalidInput(
                [
                    problem(
                        "--adapter",
                        "an adapter was given but training.method is 'full'",
                        "use method: lora, or merge the adapter into the base model first",
                    )
                ]
            )
        self.data_hash = data_sha256(req.data)
        # Read now what the loop and the export read later, so that a bad file fails before --out exists:
        # the DeepSpeed config, and the upstream manifests whose lineage the final manifest records.
        read_json_object(
            Path(self.cfg.deepspeed),
            "point training.deepspeed at a JSON file (recipes/deepspeed/)",
            field="training.deepspeed",
        )
        upstream_nodes({"base_model": self.model_dir, "data": req.data, "adapter": req.adapter})
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        if self.tokenizer.eos_token_id is None:
            raise InvalidInput([problem(self.model_dir, "the tokenizer has no EOS token", "set eos_token")])
        self.examples, self.data_counts = self._examples()
        self.order = BatchOrder(
            self.examples,
            self.stage.micro_batch_size,
            self.stage.seed,
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id,
        )
        per_step = self.stage.grad_accum * self.world
        steps_per_epoch = math.ceil(self.order.per_epoch / per_step)
        self.total_steps = self.stage.max_steps or max(1, math.ceil(self.stage.epochs * steps_per_epoch))

    def _examples(self) -> tuple[list[Example], dict[str, int]]:
        req, stage = self.req, self.stage
        if req.kind == "midtrain":
            texts = load_texts(req.data, stage.max_rows)
            texts, counts = mix(texts, [(m, load_texts(m.path)) for m in stage.mix], stage.seed)
            examples = midtrain_examples(self.tokenizer, texts, stage.max_length, stage.seed)
            counts.update(documents=len(texts), blocks=len(examples))
        else:
            chats = load_chats(req.data, stage.max_rows)
            chats, counts = mix(chats, [(m, load_chats(m.path)) for m in stage.mix], stage.seed)
            examples, dropped = align_examples(self.tokenizer, chats, stage.max_length, req.data)
            counts.update(chats=len(chats), dropped_no_assistant_tokens=dropped, examples=len(examples))
        counts["tokens"] = sum(len(e.input_ids) for e in examples)
        counts["trained_tokens"] = sum(1 for e in examples for t in e.labels if t != -100)
        return examples, counts

    def run_record(self) -> dict[str, Any]:
        return {
            "kind": self.req.kind,
            "base_model_fingerprint": self.fingerprint,
            "data_sha256": self.data_hash,
            "adapter": str(self.req.adapter) if self.req.adapter else None,
            "training": self.cfg.model_dump(mode="json", exclude={"midtrain" if self.req.kind == "align" else "align"}),
            "resume_key": self.resume_key,
        }

    @functools.cached_property
    def resume_key(self) -> dict[str, Any]:
        """Every input that changes what this run computes: a checkpoint continues only a run with the same key.

        Contents, not paths (a moved input is the same input): the base model's fingerprint, the
        hashes of the data, of each mixed-in source and of the adapter continued from. The training
        settings that change the numbers (the stage's hyperparameters, LoRA, method, the resolved
        DeepSpeed config, bf16, world size). Left out, so that they may change on resume: where
        checkpoints and metrics go and how often (save_every, log_every, keep_checkpoints, metrics),
        sigterm_grace_s, merge (export only) and gradient_checkpointing (recomputes the same values).
        """
        stage = self.stage.model_dump(mode="json", exclude={"save_every", "log_every", "mix"})
        stage["mix"] = [{"sha256": data_sha256(m.path), "ratio": m.ratio} for m in self.stage.mix]
        ds = deepspeed_config(self.cfg.deepspeed, self.stage, self.bf16)
        adapter = self.req.adapter
        return {
            "format": RESUME_FORMAT,
            "kind": self.req.kind,
            "base_model_fingerprint": self.fingerprint,
            "data_sha256": self.data_hash,
            "adapter_sha256": adapter_sha256(Path(adapter)) if adapter else None,
            "world_size": self.world,
            "bf16": self.bf16,
            "method": self.cfg.method,
            "lora": self.cfg.lora.model_dump(mode="json") if self.cfg.method == "lora" else None,
            "align_continues_adapter": self.cfg.align_continues_adapter if adapter else None,
            self.req.kind: stage,
            "deepspeed": {k: v for k, v in ds.items() if k not in DEEPSPEED_LOGGING_KEYS},
        }

    def check_out_dir(self) -> dict[str, Any] | None:
        """The earlier run record when resuming; refuse anything that would mix two runs."""
        previous = self.out / TRAIN_RUN_JSON
        if not previous.is_file():
            if self.out.is_dir() and any(self.out.iterdir()):
                raise MsmError(f"{self.out}: not empty and not an msm training run; choose a new --out")
            return None
        if (self.out / MANIFEST_NAME).is_file():
            raise MsmError(f"{self.out}: holds a finished run; choose a new --out (or delete it to train again)")
        if not self.req.resume:
            raise MsmError(
                f"{self.out}: holds an interrupted run; pass --resume auto to continue it or choose a new --out"
            )
        record = read_json_object(previous, f"delete {self.out} to start the run over, or choose a new --out")
        mine = self.run_record()
        check_same_inputs(previous, record.get("resume_key"), self.resume_key)
        if other := flat_differences(record.get("training"), mine["training"]):
            log.info("resuming with changed settings that do not change the result: %s", ", ".join(other))
        return record

    # -- model
    def build_model(self):
        from transformers import AutoModelForCausalLM

        dtype = torch.bfloat16 if self.bf16 else torch.float32
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype)
        if self.cfg.gradient_checkpointing:
            # Non-reentrant checkpointing needs no input gradients, so frozen embeddings under LoRA are fine.
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.cfg.method == "full":
            return model
        from peft import LoraConfig, PeftModel, get_peft_model

        if self.req.adapter is not None:
            model = PeftModel.from_pretrained(model, str(self.req.adapter), is_trainable=True)
            if self.cfg.align_continues_adapter:
                return model  # the paper: AFT trains the MSM adapter further
            model = model.merge_and_unload()
        lora = self.cfg.lora
        return get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora.target_modules,
                task_type="CAUSAL_LM",
            ),
        )

    def build_engine(self, model):
        import deepspeed

        decay, no_decay = [], []
        for p in model.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": self.stage.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=self.stage.lr, fused=torch.cuda.is_available()
        )
        warmup = math.ceil(self.stage.warmup_ratio * self.total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_factor(self.stage.scheduler, warmup, self.total_steps)
        )
        ds_config = deepspeed_config(self.cfg.deepspeed, self.stage, self.bf16)
        skip_shm_comm_op()
        engine, _, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
        )
        self.zero_stage = ds_config.get("zero_optimization", {}).get("stage", 0)
        return engine

    # -- checkpoints
    def save_checkpoint(self, engine, step: int) -> None:
        state = {
            "step": step,
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        }
        engine.save_checkpoint(
            str(self.ckpt_dir),
            tag=f"step-{step:08d}",
            client_state=state,
            exclude_frozen_parameters=self.cfg.method == "lora",
        )
        if self.rank == 0:  # keep the newest few; DeepSpeed's `latest` file names the newest complete one
            tags = sorted(p for p in self.ckpt_dir.glob("step-*") if p.is_dir())
            for old in tags[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self, engine) -> int:
        if not (self.ckpt_dir / "latest").is_file():
            return 0
        _, state = engine.load_checkpoint(str(self.ckpt_dir), load_module_strict=self.cfg.method == "full")
        if state is None:
            raise MsmError(f"{self.ckpt_dir}: the latest checkpoint could not be loaded; delete it to restart")
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        return int(state["step"])

    # -- the loop
    def train(self) -> dict[str, Any]:
        """Train (or resume, or see that it is done); raises Preempted after a SIGTERM (msm.preemption)."""
        # Set only for the run and removed after it: left behind (a Trainer built but never trained
        # did that), they reach every later subprocess (pipeline tasks, DVC stages), and the next
        # in-process run binds its store to the stale MASTER_PORT, which those subprocesses then
        # cannot bind ("EADDRINUSE", seen with the tests in random order).
        env_set_here = ensure_distributed_env()
        try:
            with on_sigterm() as self.stop:
                return self._train()
        finally:
            for key in env_set_here:
                os.environ.pop(key, None)

    def _train(self) -> dict[str, Any]:
        # Until the first step there is nothing to save: SIGTERM stops the start-up where it stands
        # (a model load or DeepSpeed's init can outlast the grace); it writes only run.json, atomically.
        with self.stop.immediately("start-up"):
            # Logged inside the block: a signal sent on seeing this line always lands in it.
            log.info("%s: starting up (SIGTERM now stops without a checkpoint)", self.req.kind)
            clear_stale_build_locks()
            self.prepare()
            done = read_manifest(self.out)
            if done and done.get("stage") == self.req.kind and self.req.resume:
                log.info("%s is already complete: nothing to do", self.out)
                return done
            # Rank 0 owns the output directory; another rank checking it would race with rank 0's writes.
            previous = self.check_out_dir() if self.rank == 0 else None
            t_start = time.perf_counter()
            run_id = self.req.run_id or (previous or {}).get("run_id") or uuid.uuid4().hex[:12]
            if self.rank == 0:
                self.out.mkdir(parents=True, exist_ok=True)
                staged = self.out / f".{TRAIN_RUN_JSON}.tmp"
                staged.write_text(json.dumps({"run_id": run_id, **self.run_record()}, indent=2) + "\n")
                os.replace(staged, self.out / TRAIN_RUN_JSON)
            torch.manual_seed(self.stage.seed)
            random.seed(self.stage.seed)
            np.random.seed(self.stage.seed)
            engine = self.build_engine(self.build_model())
            start = self.load_checkpoint(engine)
        self._trim_metrics_log(start)
        metrics = (
            TrainMetrics(self.cfg.metrics, run_id=run_id, stage=self.req.kind, spec=self.req.spec)
            if self.rank == 0
            else None
        )
        flops_per_token = self._flops_per_token(engine.module)
        peak = self.cfg.metrics.peak_flops or detect_peak_flops()

        from tqdm import tqdm

        bar = tqdm(
            total=self.total_steps,
            initial=start,
            desc=self.req.kind,
            unit="step",
            disable=self.rank != 0,
            dynamic_ncols=True,
        )
        loss_value, window_tokens, window_start, last_loss = 0.0, 0, time.perf_counter(), float("nan")
        engine.train()
        for step in range(start, self.total_steps):
            losses, tokens = [], 0
            for micro in range(self.stage.grad_accum):
                index = (step * self.stage.grad_accum + micro) * self.world + self.rank
                batch = {k: v.to(engine.device) for k, v in self.order.batch(index).items()}
                loss = engine(**batch).loss
                engine.backward(loss)
                engine.step()
                losses.append(loss.detach().float())
                tokens += int(batch["attention_mask"].sum())
            loss_value, tokens, stopping, in_grace = self._reduce(torch.stack(losses).mean(), tokens)
            last_loss = loss_value
            window_tokens += tokens
            finished = step + 1
            if finished % self.stage.log_every == 0 or finished == self.total_steps:
                elapsed = time.perf_counter() - window_start
                tps = window_tokens / elapsed if elapsed > 0 else 0.0
                mfu = tps * flops_per_token / (peak * self.world) if peak else None
                grad_norm = engine.get_global_grad_norm()
                record = {
                    "step": finished,
                    "loss": loss_value,
                    "lr": engine.get_lr()[0],
                    "grad_norm": float(grad_norm) if grad_norm is not None else None,
                    "tokens": window_tokens,
                    "tokens_per_second": tps,
                    "mfu": mfu,
                }
                if metrics is not None:  # rank 0
                    with open(self.out / TRAIN_METRICS_JSONL, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    bar.write(
                        f"{self.req.kind} step {finished}/{self.total_steps}  loss {loss_value:.4f}  "
                        f"lr {record['lr']:.2e}  grad {record['grad_norm'] or float('nan'):.3f}  "
                        f"{tps:,.0f} tok/s" + (f"  mfu {mfu:.1%}" if mfu is not None else "")
                    )
                    metrics.record(
                        step=finished,
                        loss=loss_value,
                        lr=record["lr"],
                        grad_norm=record["grad_norm"],
                        tokens=window_tokens,
                        tokens_per_second=tps,
                        mfu=mfu,
                        gpu_memory=torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
                    )
                window_tokens, window_start = 0, time.perf_counter()
            if metrics is not None and (finished % self.cfg.metrics.push_every == 0):
                metrics.push()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}")
            if finished % self.stage.save_every == 0 or finished == self.total_steps or (stopping and in_grace):
                self.save_checkpoint(engine, finished)
            if stopping:
                bar.close()
                if metrics is not None:
                    metrics.push()
                raise Preempted(
                    f"{self.req.kind} stopped on SIGTERM after step {finished}/{self.total_steps}; "
                    + (
                        f"checkpoint saved in {self.ckpt_dir}"
                        if in_grace
                        else f"the step outlasted training.sigterm_grace_s ({self.cfg.sigterm_grace_s:g} s): "
                        "not saved, the last periodic checkpoint stands"
                    )
                    + ". Rerun with --resume auto to continue"
                )
        bar.close()
        if metrics is not None:
            metrics.finish()
        return self.export(engine, last_loss if start < self.total_steps else None, time.perf_counter() - t_start)

    def _reduce(self, loss: torch.Tensor, tokens: int) -> tuple[float, int, bool, bool]:
        """(mean loss, tokens, stopping, in_grace) over all ranks, after a step.

        stopping: some rank got SIGTERM (torchrun forwards it to every worker, but a preempted node
        signals only its own): then every rank stops after this same step, and the checkpoint, a
        collective, is saved by all or none. in_grace: no rank that got it has used up
        training.sigterm_grace_s (else Kubernetes may kill the save midway). One all_reduce carries
        it all, the one the loss needs anyway.
        """
        stop = self.stop
        out_of_time = stop.requested and stop.seconds_left(self.cfg.sigterm_grace_s) <= 0
        if self.world == 1:
            return float(loss), tokens, stop.requested, not out_of_time
        import torch.distributed as dist

        values = torch.tensor(
            [float(loss), float(tokens), float(stop.requested), float(out_of_time)], device=loss.device
        )
        dist.all_reduce(values)
        return float(values[0]) / self.world, int(values[1]), bool(values[2]), not bool(values[3])

    def _flops_per_token(self, module) -> float:
        """6·N for the weights plus the attention term 12·layers·hidden·seq (Kaplan et al. / PaLM accounting)."""
        config = getattr(module, "config", None)
        n_params = sum(p.numel() for p in module.parameters())
        layers = getattr(config, "num_hidden_layers", 0)
        hidden = getattr(config, "hidden_size", 0)
        return 6 * n_params + 12 * layers * hidden * self.stage.max_length

    def _trim_metrics_log(self, start: int) -> None:
        """On resume, drop log lines past the checkpoint so that no step appears twice."""
        path = self.out / TRAIN_METRICS_JSONL
        if self.rank != 0 or not path.is_file():
            return
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= start]
        path.write_text("".join(line + "\n" for line in keep))

    # -- export
    def export(self, engine, final_loss: float | None, seconds: float) -> dict[str, Any]:
        import deepspeed

        module = engine.module
        staging = self.out / ".export"
        params = list(module.parameters()) if self.zero_stage == 3 else []
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None, enabled=bool(params)):
            if self.rank == 0:
                shutil.rmtree(staging, ignore_errors=True)
                module.save_pretrained(staging)
                self.tokenizer.save_pretrained(staging)
        if self.rank != 0:
            return {}
        for f in staging.iterdir():
            os.replace(f, self.out / f.name)
        staging.rmdir()
        if self.cfg.method == "lora" and self.cfg.merge:
            self._merge()
        history = [json.loads(line) for line in (self.out / TRAIN_METRICS_JSONL).read_text().splitlines() if line]
        manifest = write_manifest(
            self.out,
            stage=self.req.kind,
            inputs={
                "base_model": {"path": str(self.model_dir), "fingerprint": self.fingerprint},
                "data": {"path": str(self.req.data), "sha256": self.data_hash},
                "adapter": {"path": str(self.req.adapter)} if self.req.adapter else None,
            },
            config={
                "base_model_fingerprint": self.fingerprint,
                "spec": self.req.spec,
                **self.run_record()["training"],
                "world_size": self.world,
                "bf16": self.bf16,
            },
            counts={
                **self.data_counts,
                "steps": self.total_steps,
                "tokens_trained": sum(r["tokens"] for r in history),
                "final_loss": history[-1]["loss"] if history else final_loss,
            },
            timings_s={"total": seconds},
            lineage=upstream_nodes({"base_model": self.model_dir, "data": self.req.data, "adapter": self.req.adapter}),
        )
        shutil.rmtree(self.ckpt_dir, ignore_errors=True)
        return manifest

    def _merge(self) -> None:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
        merged = PeftModel.from_pretrained(base, str(self.out)).merge_and_unload()
        merged.save_pretrained(self.out / MERGED_DIR)
        self.tokenizer.save_pretrained(self.out / MERGED_DIR)


def train(req: TrainRequest) -> dict[str, Any]:
    return Trainer(req).train()
