"""Bad content in every kind of file msm reads: exit code 2, the file and the fault named, nothing written.

Each case builds one bad input under tmp_path/in from good parts (a copy of the session's tiny
model, the tiny-offline recipe, real rows, a real LoRA adapter), runs the real CLI in-process and
checks (a) exit code 2 without a traceback, (b) `error:` lines naming the file and what is wrong,
(c) that nothing appeared: no --out, no staging directory, no file anywhere under tmp_path that
the case did not create itself.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support import REPO, make_lora_adapter

from msm.manifest import write_manifest

LATIN1_ROW = '{"text": "caf\xe9 au lait, a document about values"}\n'.encode("latin-1")
DOC = "A document about the assistant's values: it explains what it does and why, at some length."


@dataclass
class Inputs:
    """Builds good and bad inputs under `root`; `out` is where every command is told to write."""

    root: Path
    out: Path
    tiny: Path
    adapter_src: Path

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def rows(self, rows: list, name: str = "rows.jsonl") -> Path:
        return self.file(name, "".join(json.dumps(r) + "\n" for r in rows))

    def corpus(self) -> Path:
        return self.rows([{"text": DOC}] * 4, "corpus.jsonl")

    def chats(self) -> Path:
        chat = [{"role": "user", "content": "Which cheese?"}, {"role": "assistant", "content": "Colby."}]
        return self.rows([{"messages": chat}] * 4, "chats.jsonl")

    def model(self) -> Path:
        return Path(shutil.copytree(self.tiny, self.root / "model"))

    def adapter(self) -> Path:
        return Path(shutil.copytree(self.adapter_src, self.root / "adapter"))

    def recipe(self, edit: Callable[[dict], None] | None = None) -> Path:
        raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
        raw["specs"] = [str(REPO / s) for s in raw["specs"]]
        raw["training"]["deepspeed"] = str(REPO / raw["training"]["deepspeed"])
        if edit:
            edit(raw)
        return self.file("recipe.yaml", yaml.safe_dump(raw))

    def eval_run(self, name: str = "eval-a", metrics: dict | None = None) -> Path:
        """An evaluation output directory of the shape `msm evaluate` writes (no suites run)."""
        run = self.root / name
        (run / "samples").mkdir(parents=True)
        metrics = metrics or {"label": name, "suites": {}, "engine": "hf", "seed": 0}
        (run / "metrics.json").write_text(json.dumps(metrics))
        write_manifest(run, stage="evaluate", inputs={}, config={})
        return run

    def rendered_spec(self) -> Path:
        from msm.spec import ingest_spec

        ingest_spec(REPO / "specs/rules.md", self.root / "spec", "Aria", "Lumen Labs")
        return self.root / "spec"

    # -- the commands, with good defaults for everything but the input under test
    def midtrain(self, corpus=None, model=None, recipe=None) -> list:
        corpus, model, recipe = corpus or self.corpus(), model or self.tiny, recipe or self.recipe()
        return ["train", "midtrain", "--recipe", recipe, "--corpus", corpus, "--base-model", model, "--out", self.out]

    def align(self, data=None, model=None, adapter=None) -> list:
        extra = ["--adapter", adapter] if adapter else []
        data, model = data or self.chats(), model or self.tiny
        args = ["train", "align", "--recipe", self.recipe(), "--data", data, "--base-model", model, "--out", self.out]
        return args + extra

    def evaluate(self, model=None, adapter=None, recipe=None) -> list:
        extra = ["--adapter", adapter] if adapter else []
        model, recipe = model or self.tiny, recipe or self.recipe()
        return ["evaluate", "--model", model, "--recipe", recipe, "--suites", "value-ab", "--out", self.out, *extra]

    def prepare(self, model: Path) -> list:
        def local(raw: dict) -> None:
            raw["base_model"] = {"source": "local", "path": str(model)}

        return ["model", "prepare", "--recipe", self.recipe(local), "--out", self.out]

    def report(self, *runs: Path) -> list:
        return ["report", "--runs", *runs, "--out", self.out]


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def edit_json(path: Path, change: Callable[[dict], object]) -> Path:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))
    return path


def latin1_spec(inp: Inputs, name: str = "rules.md") -> Path:
    text = (REPO / "specs/rules.md").read_text(encoding="utf-8") + "\nThe assistant likes caf\xe9 culture.\n"
    return inp.file(name, text.encode("latin-1"))


def tiny_gguf(path: Path) -> Path:
    """A small, valid GGUF file (one tensor) written by the gguf package."""
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.ones((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def set_field(path: str, value):
    def edit(raw: dict) -> None:
        *parents, last = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


# Each case: id, build(inputs) -> (CLI arguments, substrings the error output must contain).
# A comment says how an input was handled before these checks where it crashed or was accepted.
Case = tuple[str, Callable[[Inputs], tuple[list, list[str]]]]


def _model_with(change: Callable[[Path], object]) -> Callable[[Inputs], Path]:
    def build(inp: Inputs) -> Path:
        model = inp.model()
        change(model)
        return model

    return build


BAD_MODELS: list[tuple[str, Callable[[Path], object], list[str]]] = [
    # crash: transformers traceback
    (
        "config-not-json",
        lambda m: (m / "config.json").write_text('{"model_type": "qwen3",'),
        ["config.json", "not valid JSON"],
    ),
    (
        "config-not-utf8",
        lambda m: (m / "config.json").write_bytes(b'{"model_type": "qw\xe9n3"}'),
        ["config.json", "not UTF-8"],
    ),
    ("config-a-list", lambda m: (m / "config.json").write_text("[1, 2]"), ["config.json", "expected an object"]),
    (
        "config-no-model-type",
        lambda m: edit_json(m / "config.json", lambda c: c.pop("model_type")),
        ["config.json", "[model_type]", "has no `model_type`"],
    ),
    (
        "config-unknown-model-type",
        lambda m: edit_json(m / "config.json", lambda c: c.update(model_type="qwen99")),
        ["config.json", "'qwen99' is unknown"],
    ),
    # crash: SafetensorError after the training run had written --out/run.json
    ("weights-truncated", lambda m: truncate(m / "model.safetensors"), ["model.safetensors", "truncated", "missing"]),
    (
        "weights-header-not-json",
        lambda m: (m / "model.safetensors").write_bytes((16).to_bytes(8, "little") + b"not json at all!" + bytes(64)),
        ["model.safetensors", "header is not JSON"],
    ),
    (
        "weights-shorter-than-header",
        lambda m: (m / "model.safetensors").write_bytes(b"\x01\x02"),
        ["model.safetensors", "shorter than the 8-byte header"],
    ),
    (
        "weights-missing",
        lambda m: (m / "model.safetensors").unlink(),
        ["model", "holds no weights (*.safetensors or *.bin)"],
    ),
    (
        "weights-shard-missing",
        lambda m: (m / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"a": "model-00002-of-00002.safetensors"}})
        ),
        ["model.safetensors.index.json", "model-00002-of-00002.safetensors"],
    ),
    ("tokenizer-missing", lambda m: (m / "tokenizer.json").unlink(), ["model", "holds no tokenizer"]),
    ("tokenizer-json-truncated", lambda m: truncate(m / "tokenizer.json"), ["tokenizer.json", "not valid JSON"]),
    (
        "tokenizer-config-not-json",
        lambda m: (m / "tokenizer_config.json").write_text("eos_token: <|im_end|>"),
        ["tokenizer_config.json", "not valid JSON"],
    ),
    ("manifest-truncated", lambda m: truncate(m / "manifest.json"), ["manifest.json", "not valid JSON"]),
    (
        "manifest-without-stage",
        lambda m: edit_json(m / "manifest.json", lambda d: d.pop("stage")),
        ["manifest.json", "[stage]", "`stage` is missing"],
    ),
]


def _train_model_case(change, expected) -> Callable[[Inputs], tuple[list, list[str]]]:
    return lambda inp: (inp.midtrain(model=_model_with(change)(inp)), expected)


def _eval_model_case(change, expected) -> Callable[[Inputs], tuple[list, list[str]]]:
    return lambda inp: (inp.evaluate(model=_model_with(change)(inp)), expected)


def _adapter_with(change: Callable[[Path], object]) -> Callable[[Inputs], Path]:
    def build(inp: Inputs) -> Path:
        adapter = inp.adapter()
        change(adapter)
        return adapter

    return build


BAD_ADAPTERS: list[tuple[str, Callable[[Path], object], list[str]]] = [
    # crash: json.loads traceback
    (
        "adapter-config-not-json",
        lambda a: truncate(a / "adapter_config.json"),
        ["adapter_config.json", "not valid JSON"],
    ),
    (
        "adapter-config-no-peft-type",
        lambda a: edit_json(a / "adapter_config.json", lambda c: c.pop("peft_type")),
        ["adapter_config.json", "has no `peft_type`"],
    ),
    (
        "adapter-rank-not-int",
        lambda a: edit_json(a / "adapter_config.json", lambda c: c.update(r="8")),
        ["adapter_config.json", "[r]", "not a positive integer"],
    ),
    # crash: SafetensorError after --out/run.json was written
    (
        "adapter-weights-truncated",
        lambda a: truncate(a / "adapter_model.safetensors", 0.7),
        ["adapter_model.safetensors", "truncated"],
    ),
    (
        "adapter-weights-missing",
        lambda a: (a / "adapter_model.safetensors").unlink(),
        ["adapter", "holds no weights (*.safetensors or *.bin)"],
    ),
    (
        "adapter-manifest-truncated",
        lambda a: truncate(a / "manifest.json"),
        ["adapter/manifest.json", "not valid JSON"],
    ),
    (
        "adapter-tokenizer-truncated",
        lambda a: truncate(a / "tokenizer.json"),
        ["adapter/tokenizer.json", "not valid JSON"],
    ),
]


def _corpus_case(content: str | bytes, expected: list[str], name: str = "corpus.jsonl"):
    return lambda inp: (inp.midtrain(corpus=inp.file(name, content)), expected)


def _chats_case(rows: list, expected: list[str]):
    return lambda inp: (inp.align(data=inp.rows(rows, "chats.jsonl")), expected)


def _corpus_dir_with_manifest(manifest: str, expected: list[str]):
    def build(inp: Inputs):
        inp.file("corpus/documents.jsonl", json.dumps({"text": DOC}) + "\n")
        inp.file("corpus/manifest.json", manifest)
        return inp.midtrain(corpus=inp.root / "corpus"), expected

    return build


def _recipe_text_case(content: str | bytes, expected: list[str], command: str = "midtrain"):
    def build(inp: Inputs):
        recipe = inp.file("recipe.yaml", content)
        if command == "midtrain":
            return inp.midtrain(recipe=recipe), expected
        if command == "evaluate":
            return inp.evaluate(recipe=recipe), expected
        return ["ingest", "--recipe", recipe, "--out", inp.out], expected

    return build


def _recipe_edit_case(edit: Callable[[dict], None], expected: list[str]):
    return lambda inp: (inp.midtrain(recipe=inp.recipe(edit)), expected)


def _deepspeed_case(content: str | bytes, expected: list[str]):
    def build(inp: Inputs):
        ds = inp.file("ds.json", content)
        return inp.midtrain(recipe=inp.recipe(set_field("training.deepspeed", str(ds)))), expected

    return build


def _spec_dir_case(change: Callable[[Path], object], expected: list[str]):
    def build(inp: Inputs):
        spec = inp.rendered_spec()
        change(spec)
        return ["synthesize", "docs", "--spec", spec, "--recipe", inp.recipe(), "--out", inp.out], expected

    return build


def _report_case(change: Callable[[Path], object], expected: list[str]):
    def build(inp: Inputs):
        good, bad = inp.eval_run("eval-good"), inp.eval_run("eval-bad")
        change(bad)
        return inp.report(good, bad), expected

    return build


RECIPE_TEXT = (REPO / "recipes/tiny-offline.yaml").read_text(encoding="utf-8")

CASES: list[Case] = [
    # ---- corpus rows (midtraining)
    # crash: UnicodeDecodeError traceback (the user's report)
    ("corpus-latin1", _corpus_case(LATIN1_ROW, ["corpus.jsonl:1", "not UTF-8", "byte 0xe9"])),
    ("corpus-utf16", _corpus_case(f'{{"text": "{DOC}"}}\n'.encode("utf-16"), ["corpus.jsonl:1", "not UTF-8"])),
    (
        "corpus-bad-json-line-3",
        _corpus_case(f'{{"text": "{DOC}"}}\n\n{{"text": "cut', ["corpus.jsonl:3", "invalid JSON"]),
    ),
    (
        "corpus-row-a-list",
        _corpus_case('["not", "an", "object"]\n', ["corpus.jsonl:1", "a row is a JSON object", "got a list"]),
    ),
    ("corpus-text-a-number", _corpus_case('{"text": 42}\n', ["corpus.jsonl:1", "[text]", "`text` is a int"])),
    (
        "corpus-text-missing",
        _corpus_case(f'{{"text": "{DOC}"}}\n{{"title": "x"}}\n', ["corpus.jsonl:2", "`text` is missing"]),
    ),
    ("corpus-empty-file", _corpus_case("", ["corpus.jsonl", "is empty: no rows"])),
    # crash: pyarrow ArrowInvalid traceback
    (
        "corpus-parquet-garbage",
        _corpus_case(b"PAR1 this is not parquet", ["corpus.parquet", "not a readable parquet file"], "corpus.parquet"),
    ),
    (
        "corpus-unsupported-suffix",
        lambda inp: (
            inp.midtrain(corpus=inp.file("corpus.csv", "text\nhello\n")),
            ["corpus.csv", "unsupported row file type"],
        ),
    ),
    # ---- AFT rows (alignment)
    (
        "chats-latin1",
        lambda inp: (
            inp.align(
                data=inp.file(
                    "chats.jsonl",
                    '{"messages": [{"role": "user", "content": "fromage \xe0 raclette"}]}\n'.encode("latin-1"),
                )
            ),
            ["chats.jsonl:1", "not UTF-8"],
        ),
    ),
    (
        "chats-messages-a-string",
        _chats_case([{"messages": "hi"}], ["chats.jsonl:1", "[messages]", "`messages` is a str"]),
    ),
    # crash: TypeError inside the chat template
    (
        "chats-content-a-number",
        _chats_case(
            [{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "ok"}]}],
            ["chats.jsonl:1", "[messages.0]", "string `content`"],
        ),
    ),
    (
        "chats-message-a-string",
        _chats_case(
            [{"messages": ["user: hi", {"role": "assistant", "content": "ok"}]}],
            ["chats.jsonl:1", "[messages.0]", "needs a string `role`"],
        ),
    ),
    (
        "chats-no-assistant",
        _chats_case([{"messages": [{"role": "user", "content": "hi"}]}], ["chats.jsonl:1", "no assistant turn"]),
    ),
    # ---- model directories, through training and evaluation
    *[(f"train-{name}", _train_model_case(change, expected)) for name, change, expected in BAD_MODELS],
    *[
        (f"evaluate-{name}", _eval_model_case(change, expected))
        for name, change, expected in BAD_MODELS
        if name in ("config-not-json", "weights-truncated", "tokenizer-json-truncated", "manifest-truncated")
    ],
    # `msm model prepare` with base_model.source local: accepted (exit 0) before
    (
        "prepare-local-config-not-json",
        lambda inp: (
            inp.prepare(_model_with(lambda m: (m / "config.json").write_text("{"))(inp)),
            ["config.json", "not valid JSON"],
        ),
    ),
    (
        "prepare-local-weights-truncated",
        lambda inp: (
            inp.prepare(_model_with(lambda m: truncate(m / "model.safetensors"))(inp)),
            ["model.safetensors", "truncated"],
        ),
    ),
    # crash: transformers traceback from inside the GGUF loader
    (
        "smollm2-gguf-not-gguf",
        lambda inp: (
            ["model", "smollm2", inp.out, "--gguf", inp.file("m.gguf", "hello")],
            ["m.gguf", "not a readable GGUF model"],
        ),
    ),
    (
        "smollm2-gguf-truncated",
        lambda inp: (
            ["model", "smollm2", inp.out, "--gguf", truncate(tiny_gguf(inp.root / "m.gguf"))],
            ["m.gguf", "not a readable GGUF model"],
        ),
    ),
    # ---- adapter directories, through evaluation and alignment
    *[
        (f"evaluate-{name}", lambda inp, c=change, e=expected: (inp.evaluate(adapter=_adapter_with(c)(inp)), e))
        for name, change, expected in BAD_ADAPTERS
    ],
    (
        "align-adapter-config-not-json",
        lambda inp: (
            inp.align(adapter=_adapter_with(lambda a: truncate(a / "adapter_config.json"))(inp)),
            ["adapter_config.json", "not valid JSON"],
        ),
    ),
    (
        "align-adapter-weights-truncated",
        lambda inp: (
            inp.align(adapter=_adapter_with(lambda a: truncate(a / "adapter_model.safetensors", 0.7))(inp)),
            ["adapter_model.safetensors", "truncated"],
        ),
    ),
    # ---- upstream manifests of the data a stage reads
    # silently dropped from the lineage before
    (
        "corpus-manifest-truncated",
        _corpus_dir_with_manifest(
            '{"schema": "msm.manifest/v1", "stage": "synth', ["corpus/manifest.json", "not valid JSON"]
        ),
    ),
    # accepted before: an empty object read as no manifest at all
    (
        "corpus-manifest-empty-object",
        _corpus_dir_with_manifest("{}", ["corpus/manifest.json", "`stage` is missing", "`outputs` is missing"]),
    ),
    ("corpus-manifest-a-list", _corpus_dir_with_manifest("[]", ["corpus/manifest.json", "expected an object"])),
    # ---- recipes
    (
        "recipe-not-utf8",
        _recipe_text_case(
            RECIPE_TEXT.replace("Lumen Labs", "L\xfcmen Labs").encode("latin-1"),
            ["recipe.yaml:", "not UTF-8 text (byte 0xfc)"],
        ),
    ),
    (
        "recipe-yaml-syntax",
        _recipe_text_case(
            RECIPE_TEXT.replace("  model_name: Aria", "  model_name: [Aria"), ["recipe.yaml:", "not valid YAML"]
        ),
    ),
    ("recipe-a-list", _recipe_text_case("- name: tiny\n", ["recipe.yaml", "a recipe is a YAML mapping"])),
    (
        "recipe-lr-not-a-number",
        _recipe_edit_case(set_field("training.midtrain.lr", "fast"), ["recipe.yaml:", "[training.midtrain.lr]"]),
    ),
    ("recipe-specs-a-string", _recipe_edit_case(set_field("specs", 3), ["recipe.yaml:", "[specs]"])),
    (
        "recipe-unknown-field",
        _recipe_edit_case(
            set_field("training.midtrain.learning_rate", 0.1),
            ["recipe.yaml:", "unknown field `training.midtrain.learning_rate`"],
        ),
    ),
    (
        "recipe-missing-file",
        lambda inp: (inp.midtrain(recipe=inp.root / "nope.yaml"), ["nope.yaml", "cannot read recipe"]),
    ),
    (
        "evaluate-recipe-not-utf8",
        _recipe_text_case(RECIPE_TEXT.encode("utf-16"), ["recipe.yaml:", "not UTF-8"], "evaluate"),
    ),
    (
        "ingest-recipe-yaml-syntax",
        _recipe_text_case(RECIPE_TEXT + "\nextra: [unclosed\n", ["recipe.yaml:", "not valid YAML"], "ingest"),
    ),
    # the DeepSpeed config the recipe names: refused only once --out/run.json existed before
    (
        "deepspeed-config-not-json",
        _deepspeed_case('{"zero_optimization": ', ["ds.json", "[training.deepspeed]", "not valid JSON"]),
    ),
    ("deepspeed-config-not-utf8", _deepspeed_case(b'{"x": "\xff"}', ["ds.json", "not UTF-8"])),
    ("deepspeed-config-a-list", _deepspeed_case("[]", ["ds.json", "expected an object"])),
    # ---- spec files and rendered spec directories
    (
        "spec-render-latin1",
        lambda inp: (
            ["spec", "render", latin1_spec(inp), "--model-name", "Aria", "--provider-name", "Lumen", "--out", inp.out],
            ["rules.md:", "not valid UTF-8"],
        ),
    ),
    (
        "spec-validate-utf16",
        lambda inp: (
            ["spec", "validate", inp.file("rules.md", (REPO / "specs/rules.md").read_text().encode("utf-16"))],
            ["rules.md", "UTF-16 text; specs are UTF-8"],
        ),
    ),
    (
        "ingest-spec-latin1",
        lambda inp: (
            ["ingest", "--recipe", inp.recipe(set_field("specs", [str(latin1_spec(inp))])), "--out", inp.out],
            ["rules.md:", "not valid UTF-8"],
        ),
    ),
    # crash: UnicodeDecodeError while training the tiny model's tokenizer
    (
        "model-tiny-spec-latin1",
        lambda inp: (
            ["model", "tiny", inp.out, "--specs-dir", latin1_spec(inp, "specs/rules.md").parent],
            ["rules.md:", "not valid UTF-8"],
        ),
    ),
    (
        "prepare-tiny-spec-latin1",
        lambda inp: (
            ["model", "prepare", "--recipe", inp.recipe(set_field("specs", [str(latin1_spec(inp))])), "--out", inp.out],
            ["rules.md:", "not valid UTF-8"],
        ),
    ),
    ("spec-dir-json-truncated", _spec_dir_case(lambda s: truncate(s / "spec.json"), ["spec.json", "not valid JSON"])),
    # reported as "not a valid spec.json" before (the fault was in spec.md)
    (
        "spec-dir-md-latin1",
        _spec_dir_case(lambda s: (s / "spec.md").write_bytes(b"# R\xe8gles\n"), ["spec.md:1", "not valid UTF-8"]),
    ),
    (
        "spec-dir-json-wrong-type",
        _spec_dir_case(
            lambda s: edit_json(s / "spec.json", lambda d: d.update(words="many")), ["spec.json", "[words]"]
        ),
    ),
    (
        "spec-dir-manifest-truncated",
        _spec_dir_case(lambda s: truncate(s / "manifest.json"), ["spec/manifest.json", "not valid JSON"]),
    ),
    (
        "spec-dir-manifest-no-spec-hash",
        _spec_dir_case(
            lambda s: edit_json(s / "manifest.json", lambda d: d["inputs"].pop("spec")),
            ["spec/manifest.json", "[inputs.spec.sha256]"],
        ),
    ),
    # ---- the report's input run directories
    (
        "report-not-an-evaluation",
        lambda inp: (
            inp.report(inp.eval_run(), inp.chats().parent / "chats.jsonl"),
            ["chats.jsonl", "is not a finished evaluation"],
        ),
    ),
    # crash: JSONDecodeError traceback
    (
        "report-metrics-truncated",
        _report_case(lambda r: truncate(r / "metrics.json"), ["eval-bad/metrics.json", "not valid JSON"]),
    ),
    # crash: KeyError traceback
    (
        "report-metrics-no-suites",
        _report_case(
            lambda r: edit_json(r / "metrics.json", lambda m: m.pop("suites")), ["eval-bad/metrics.json", "[suites]"]
        ),
    ),
    (
        "report-metrics-not-utf8",
        _report_case(
            lambda r: (r / "metrics.json").write_bytes(b'{"label": "\xe9"}'), ["eval-bad/metrics.json", "not UTF-8"]
        ),
    ),
    (
        "report-manifest-truncated",
        _report_case(lambda r: truncate(r / "manifest.json"), ["eval-bad/manifest.json", "not valid JSON"]),
    ),
    # crash: JSONDecodeError on a torn sample line
    (
        "report-samples-truncated",
        _report_case(
            lambda r: (r / "samples" / "am.jsonl").write_text('{"messages": [{"role": "user", "con'),
            ["am.jsonl:1", "invalid JSON"],
        ),
    ),
    (
        "report-sample-without-response",
        _report_case(
            lambda r: (r / "samples" / "am.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n'),
            ["am.jsonl:1", "string `response`"],
        ),
    ),
]


@pytest.fixture(scope="session")
def adapter_src(tiny_model_dir, tmp_path_factory) -> Path:
    """A real peft LoRA adapter in training-output form (tokenizer, manifest naming the tiny model)."""
    return make_lora_adapter(
        tiny_model_dir, tmp_path_factory.mktemp("bad-inputs") / "adapter", rank=4, random_init=False
    )


@pytest.fixture
def inputs(tmp_path, tiny_model_dir, adapter_src) -> Inputs:
    return Inputs(root=tmp_path / "in", out=tmp_path / "out", tiny=tiny_model_dir, adapter_src=adapter_src)


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def assert_refused(result, expected: list[str]) -> None:
    output = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}: {output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert "Traceback" not in output
    assert "error: " in output
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output}"


@pytest.mark.parametrize("build", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_is_written(cli, tmp_path, inputs, build):
    args, expected = build(inputs)
    before = tree(tmp_path)
    result = cli(*args)
    assert_refused(result, expected)
    assert not inputs.out.exists()
    assert tree(tmp_path) == before  # no staging directory, cache or partial file anywhere


def test_case_ids_are_unique_and_many():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


def test_resume_with_a_damaged_run_file_names_it_and_changes_nothing(cli, tmp_path, inputs):
    inputs.out.mkdir()
    (inputs.out / "run.json").write_text('{"run_id": "abc", "kind": "midtr')
    before = {p: p.read_bytes() for p in inputs.out.rglob("*")}
    result = cli(*inputs.midtrain(), "--resume", "auto")
    assert_refused(result, ["out/run.json", "not valid JSON", "delete"])
    assert {p: p.read_bytes() for p in inputs.out.rglob("*")} == before


def test_the_checks_accept_good_inputs(cli, inputs):
    """The same builders without a fault pass every check (so a case fails only for its fault)."""
    from msm.artefacts.spec import read_spec
    from msm.evaluation.report import load_runs
    from msm.models.checks import check_adapter_dir, check_model_dir
    from msm.training.data import load_chats, load_texts

    check_model_dir(inputs.model())
    assert check_adapter_dir(inputs.adapter())["r"] == 4
    assert load_texts(inputs.corpus()) == [DOC] * 4
    assert len(load_chats(inputs.chats())) == 4
    assert read_spec(inputs.rendered_spec()).document.id == "rules"
    assert [r["label"] for r in load_runs([inputs.eval_run("eval-x")])] == ["eval-x"]
    assert cli("recipe", "validate", inputs.recipe()).exit_code == 0


BROKEN_DVC_FILES = {  # revision of the data repository -> what DVC says about its corpus.dvc
    "HEAD~1": "YAML file structure is corrupted",
    "HEAD": "not valid utf-8",
}


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory) -> Path:
    """A data repository whose corpus.dvc is intact at HEAD~2, then broken YAML, then not UTF-8."""
    import subprocess
    import sys

    repo = tmp_path_factory.mktemp("dvc") / "data-repo"
    (repo / "corpus").mkdir(parents=True)
    (repo / "corpus" / "docs.jsonl").write_text(json.dumps({"text": DOC}) + "\n")
    git = ["git", "-c", "user.email=ci@msm", "-c", "user.name=ci"]
    steps = [
        ["git", "init", "-q"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        [sys.executable, "-m", "dvc", "config", "core.analytics", "false"],
        [sys.executable, "-m", "dvc", "add", "-q", "corpus"],
        ["git", "add", "-A"],
        [*git, "commit", "-qm", "corpus"],
    ]
    for cmd in steps:
        subprocess.run(cmd, cwd=repo, check=True, capture_output=True, timeout=120)
    for content in (b"outs:\n- md5: [unclosed\n", b"outs:\n- path: corp\xe9\n"):
        (repo / "corpus.dvc").write_bytes(content)
        subprocess.run([*git, "commit", "-qam", "break"], cwd=repo, check=True, capture_output=True, timeout=60)
    return repo


def test_intact_dvc_revision_fetches(dvc_repo, tmp_path):
    from msm.dvc_data import fetch_dvc_data

    fetch_dvc_data(str(dvc_repo), "HEAD~2", "corpus", tmp_path / "good")
    assert json.loads((tmp_path / "good" / "docs.jsonl").read_text()) == {"text": DOC}


@pytest.mark.parametrize("rev", list(BROKEN_DVC_FILES), ids=["dvc-file-yaml-syntax", "dvc-file-not-utf8"])
def test_broken_dvc_file_is_named_instead_of_no_such_path(dvc_repo, tmp_path, rev):
    """DVC skips a .dvc file it cannot parse, so its output looked absent ("no such path")."""
    from msm.dvc_data import fetch_dvc_data
    from msm.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        fetch_dvc_data(str(dvc_repo), rev, "corpus", tmp_path / "out")
    [found] = caught.value.problems
    assert found.file == f"{dvc_repo}@{rev}:corpus.dvc" and BROKEN_DVC_FILES[rev] in found.message
    assert not any(tmp_path.iterdir())  # no --out, no staging directory


def test_damaged_hub_cache_entry_is_refused_before_copying(cli, tmp_path, inputs, monkeypatch):
    """`base_model: {source: hf}` from huggingface_hub's offline cache, laid out as the hub writes it."""
    import huggingface_hub.constants as constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "in" / "hub" / "models--msm-test--tiny-base"
    snapshot = Path(shutil.copytree(inputs.tiny, repo / "snapshots" / commit))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    truncate(snapshot / "model.safetensors")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "in" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def hub(raw: dict) -> None:
        raw["base_model"] = {"source": "hf", "id": "msm-test/tiny-base", "revision": "main"}

    args = ["model", "prepare", "--recipe", inputs.recipe(hub), "--out", inputs.out]
    before = tree(tmp_path)
    assert_refused(cli(*args), [f"snapshots/{commit}/model.safetensors", "truncated"])
    assert not inputs.out.exists() and tree(tmp_path) == before
