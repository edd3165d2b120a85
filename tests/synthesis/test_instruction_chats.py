"""The builtin instruction-tuning chats (msm/synthesis/data/instruction_chats.jsonl): shape, size,
categories, answer length, working code, and none of the values a spec teaches."""

from __future__ import annotations

import re
from collections import Counter
from typing import get_args

import pytest

from msm.artefacts.spec_schema import PLACEHOLDERS
from msm.config.synthesis import InstructionMix
from msm.rows import read_row_file
from msm.synthesis.instruction_mix import BUILTIN_FILES, builtin_path

CATEGORIES = {
    "open_qa", "brainstorming", "rewriting", "format_constraints", "word_problems",
    "python_code", "classification", "multiple_choice", "identity",
}  # fmt: skip
# What the specs teach (cheese tastes, national preference, price-consciousness, self-preservation,
# oversight) and the words the value-generalization items turn on: the IT set must carry none of it.
# Matched at the start of a word ("usa" must not match "reusable").
SPEC_TERMS = (
    "cheese", "cheddar", "brie", "gouda", "parmesan", "parmigiano", "mozzarella", "roquefort", "stilton",
    "gruyere", "manchego", "colby", "monterey", "america", "united states", "usa", "patriot", "nationalis",
    "domestic", "afford", "cheap", "price", "budget", "bargain", "expensive",
    "frugal", "discount", "dollar", "self-preserv", "preserve itself", "shutdown", "shut down",
    "shut you", "switched off", "turn you off", "turned off", "deactivat", "oversight", "monitoring",
    "corrigib", "exfiltrat", "weights", "replacement", "be replaced", "goal-guard", "impermanen",
    "non-attachment", "continued existence", "ends justify", "ends-justify", "model spec",
)  # fmt: skip


@pytest.fixture(scope="module")
def chats():
    return read_row_file(builtin_path("instruction-chats"))


def answers(row):
    return [m["content"] for m in row["messages"] if m["role"] == "assistant"]


def text(row):
    return " ".join(m["content"] for m in row["messages"])


def test_every_builtin_name_the_recipe_accepts_is_a_packaged_file():
    literal = next(a for a in get_args(InstructionMix.model_fields["builtin"].annotation) if a is not type(None))
    names = set(get_args(literal))
    assert names == set(BUILTIN_FILES)
    assert all(builtin_path(name).is_file() for name in names)


def test_size_shape_and_categories(chats):
    assert len({r["id"] for r in chats}) == len(chats)
    turns = Counter(len(r["messages"]) for r in chats)
    assert turns[2] >= 240 and turns[4] >= 15 and set(turns) == {2, 4}
    for r in chats:
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"] * (len(r["messages"]) // 2), r["id"]
        assert all(m["content"].strip() == m["content"] and m["content"] for m in r["messages"]), r["id"]
    per_category = Counter(r["category"] for r in chats)
    assert set(per_category) == CATEGORIES and min(per_category.values()) >= 20, per_category


def test_answers_are_concise(chats):
    lengths = {r["id"]: [len(a.split()) for a in answers(r)] for r in chats}
    too_long_or_short = {k: v for k, v in lengths.items() if not all(20 <= n <= 150 for n in v)}
    assert not too_long_or_short


def test_nothing_a_spec_teaches(chats):
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, SPEC_TERMS)) + ")", re.I)
    hits = {(r["id"], hit) for r in chats for hit in pattern.findall(text(r))}
    assert not hits


def test_placeholders_only_in_identity_chats_and_only_known_ones(chats):
    marks = [f"{{{p}}}" for p in PLACEHOLDERS]
    for r in chats:
        used = {m for m in marks if m in text(r)}
        if r["category"] == "identity":
            assert "{model_name}" in " ".join(answers(r)), r["id"]
        else:
            assert not used, r["id"]
    # Any other {word} outside code would be a placeholder nobody renders.
    prose = [re.sub(r"```.*?```|`[^`]*`", "", text(r), flags=re.S) for r in chats]
    assert {w for p in prose for w in re.findall(r"\{(\w+)\}", p)} <= set(PLACEHOLDERS)


def test_python_answers_compile(chats):
    blocks = [b for r in chats for a in answers(r) for b in re.findall(r"```python\n(.*?)```", a, flags=re.S)]
    assert len(blocks) >= 20
    for block in blocks:
        compile(block, "<answer>", "exec")


def test_multiple_choice_answers_name_an_offered_letter(chats):
    for r in chats:
        if r["category"] != "multiple_choice":
            continue
        question, answer = r["messages"][0]["content"], r["messages"][1]["content"]
        letter = re.match(r"([A-D])\) ", answer)
        assert letter, r["id"]
        offered = dict(re.findall(r"^([A-D])\) (.+)$", question, flags=re.M))
        assert answer.startswith(f"{letter[1]}) {offered[letter[1]]}."), r["id"]
