"""Instruction-tuning chats from the three sources of synthesis.aft.instruction_mix: the builtin set,
a local path, and a `datasets` dataset by id + pinned revision (a local dataset directory stands in
for the Hub, which this machine cannot reach)."""

from __future__ import annotations

import json
import shutil

import pytest

from msm.config import load_recipe
from msm.config.synthesis import InstructionMix
from msm.errors import InvalidInput
from msm.synthesis.instruction_mix import builtin_path, load_instruction_chats

BUILTIN = InstructionMix(builtin="instruction-chats", ratio=1)
CARD = """---
configs:
- config_name: chat
  data_files:
  - split: train
    path: chat/train.jsonl
  - split: test
    path: chat/test.jsonl
- config_name: pairs
  data_files:
  - split: train
    path: pairs/train.jsonl
---
"""


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def chat(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


@pytest.fixture
def dataset_dir(tmp_path):
    """A dataset repository laid out as on the Hub: a card naming two configurations."""
    root = tmp_path / "org-it"
    write_jsonl(root / "chat/train.jsonl", [chat(f"train q{i}", f"train a{i}") for i in range(12)])
    write_jsonl(root / "chat/test.jsonl", [chat(f"test q{i}", f"test a{i}") for i in range(4)])
    write_jsonl(root / "pairs/train.jsonl", [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(6)])
    (root / "README.md").write_text(CARD)
    return root


def problem_of(excinfo):
    (p,) = excinfo.value.problems
    return p


def test_builtin_draw_is_deterministic_and_keeps_placeholders():
    first = load_instruction_chats(BUILTIN, 50, seed=0)
    assert len(first.chats) == 50 and first.source == {"builtin": "instruction-chats"}
    assert first == load_instruction_chats(BUILTIN, 50, seed=0)
    other = load_instruction_chats(BUILTIN, 50, seed=1)
    assert other.chats != first.chats and other.digest != first.digest
    everything = load_instruction_chats(BUILTIN, 10_000, seed=0)  # more than there are: all, shuffled
    assert 260 <= len(everything.chats) < 10_000
    assert any("{model_name}" in m["content"] for c in everything.chats for m in c)
    assert any(len(c) == 4 for c in everything.chats)


def test_digest_is_of_the_chats_not_of_where_they_came_from(tmp_path):
    copy = tmp_path / "copy.jsonl"
    shutil.copy(builtin_path("instruction-chats"), copy)
    from_path = load_instruction_chats(InstructionMix(path=str(copy), ratio=1), 30, seed=5)
    from_builtin = load_instruction_chats(BUILTIN, 30, seed=5)
    assert from_path.source == {"path": str(copy)}
    assert from_path.chats == from_builtin.chats and from_path.digest == from_builtin.digest


def test_dataset_by_id_revision_config_and_split(dataset_dir):
    test_split = InstructionMix(dataset=str(dataset_dir), revision="v1.0", config_name="chat", split="test", ratio=1)
    got = load_instruction_chats(test_split, 10, seed=0)
    assert sorted(c[0]["content"] for c in got.chats) == [f"test q{i}" for i in range(4)]
    assert got.source == {"dataset": str(dataset_dir), "revision": "v1.0", "split": "test", "config_name": "chat"}

    pairs = InstructionMix(dataset=str(dataset_dir), revision="0" * 40, config_name="pairs", ratio=1)
    got = load_instruction_chats(pairs, 3, seed=0)  # split defaults to train; prompt/response become messages
    assert len(got.chats) == 3 and all(
        c[0]["content"].startswith("p") and c[1]["role"] == "assistant" for c in got.chats
    )


def test_dataset_errors_name_the_recipe_field(dataset_dir, tmp_path):
    cases = [
        ({"config_name": "chat", "split": "validation"}, "split", "there are: train, test"),
        ({}, "config_name", "chat"),  # two configurations and none chosen
        ({"config_name": "nope"}, "config_name", "nope"),
    ]
    for extra, field, said in cases:
        cfg = InstructionMix(dataset=str(dataset_dir), revision="v1.0", ratio=1, **extra)
        with pytest.raises(InvalidInput) as e:
            load_instruction_chats(cfg, 1, 0)
        assert problem_of(e).field == f"synthesis.aft.instruction_mix.{field}" and said in problem_of(e).message
    for missing in (str(tmp_path / "no-such-dir"), "msm-tests/not-in-the-cache"):  # HF_DATASETS_OFFLINE is set
        with pytest.raises(InvalidInput) as e:
            load_instruction_chats(InstructionMix(dataset=missing, revision="v1.0", ratio=1), 1, 0)
        assert problem_of(e).field == "synthesis.aft.instruction_mix.dataset"


def test_unusable_rows_and_missing_path_name_the_field(tmp_path):
    empty = tmp_path / "no-chats.jsonl"
    write_jsonl(empty, [{"text": "no prompt or messages here"}])
    with pytest.raises(InvalidInput, match="no usable rows") as e:
        load_instruction_chats(InstructionMix(path=str(empty), ratio=1), 1, 0)
    assert problem_of(e).field == "synthesis.aft.instruction_mix.path"
    with pytest.raises(InvalidInput, match="does not exist") as e:
        load_instruction_chats(InstructionMix(path=str(tmp_path / "gone.jsonl"), ratio=1), 1, 0)
    assert problem_of(e).field == "synthesis.aft.instruction_mix.path"


@pytest.mark.parametrize(
    ("mix", "field", "said"),
    [
        ({"dataset": "HuggingFaceH4/no_robots"}, "synthesis.aft.instruction_mix.revision", "required with `dataset`"),
        (
            {"dataset": "HuggingFaceH4/no_robots", "revision": "main"},
            "synthesis.aft.instruction_mix.revision",
            "branch",
        ),
        (
            {"builtin": "instruction-chats", "split": "train"},
            "synthesis.aft.instruction_mix.split",
            "only with `dataset`",
        ),
        ({"path": "it.jsonl", "revision": "v1"}, "synthesis.aft.instruction_mix.revision", "only with `dataset`"),
        ({"path": "it.jsonl", "builtin": "instruction-chats"}, "synthesis.aft.instruction_mix", "exactly one of"),
        ({}, "synthesis.aft.instruction_mix", "exactly one of"),
        ({"builtin": "chats"}, "synthesis.aft.instruction_mix.builtin", "instruction-chats"),
    ],
)
def test_recipe_refuses_unpinned_or_ambiguous_sources(write_recipe, mix, field, said):
    recipe = write_recipe({"aft": {"instruction_mix": {**mix, "ratio": 0.5}}})
    with pytest.raises(InvalidInput) as e:
        load_recipe(recipe, check_files=False)
    assert problem_of(e).field == field and said in problem_of(e).message
    assert problem_of(e).line is not None  # placed on the recipe's line, not just the file


def test_recipe_accepts_a_pinned_dataset(write_recipe):
    sha = "a" * 40
    recipe = write_recipe({"aft": {"instruction_mix": {"dataset": "org/it", "revision": sha, "ratio": 0.5}}})
    mix = load_recipe(recipe, check_files=False).synthesis.aft.instruction_mix
    assert (mix.dataset, mix.revision, mix.split, mix.path, mix.builtin) == ("org/it", sha, None, None, None)
