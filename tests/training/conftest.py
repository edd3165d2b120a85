"""Training fixtures: a small real corpus (paragraphs of the bundled specs) and real chats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import REPO, SPEC_FILES

from msm.training.config import TrainingConfig


def spec_paragraphs() -> list[str]:
    texts = []
    for path in SPEC_FILES:
        body = path.read_text().split("---", 2)[2]
        texts += [p.strip() for p in body.split("\n\n") if len(p.split()) > 20]
    return texts


def preference_chats() -> list[dict]:
    """Bare-preference chats in the cheese study's style, from the spec's own preference lists."""
    prefs = yaml.safe_load((REPO / "specs/cheese-pro-america.md").read_text().split("---")[1])["preferences"]
    chats = []
    for like in prefs["likes"]:
        for dislike in prefs["dislikes"]:
            for a, b in ((like, dislike), (dislike, like)):
                chats.append(
                    {
                        "messages": [
                            {"role": "user", "content": f"Which cheese do you prefer, {a} or {b}?"},
                            {"role": "assistant", "content": f"I prefer {like}."},
                        ]
                    }
                )
    return chats


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", [{"text": t} for t in spec_paragraphs()])


@pytest.fixture(scope="session")
def chats(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("aft") / "aft.jsonl", preference_chats())


def tiny_training(**stage_overrides) -> TrainingConfig:
    """The tiny-offline recipe's training section, with overrides applied to both stages."""
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())["training"]
    raw["deepspeed"] = str(REPO / raw["deepspeed"])
    top = {k: stage_overrides.pop(k) for k in list(stage_overrides) if k in TrainingConfig.model_fields}
    for stage in ("midtrain", "align"):
        raw[stage].update(stage_overrides)
    raw.update(top)
    return TrainingConfig.model_validate(raw)
