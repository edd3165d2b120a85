"""Training data: reading corpora and chats, mixing, packing, assistant-only masks, batch order.

Packing (midtraining): documents are tokenized without special tokens, each followed by the
EOS token, concatenated in a seeded order, and cut into blocks of `max_length`. A document may
continue from one block into the next; attention is not masked at document boundaries (standard
causal-LM packing — the EOS marks the boundary, and the model learns to end documents). Only the
final block can be shorter (and is padded in its batch), so no token is lost and almost none is
wasted.

AFT: each chat goes through the tokenizer's chat template with `{% generation %}` markers;
labels are the tokens inside assistant turns (their closing <|im_end|> included), -100 elsewhere.
Chats are truncated to `max_length`; a chat left with no assistant token is dropped and counted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from msm.artefacts.aft import INSTRUCTION_SOURCE
from msm.artefacts.corpus import training_files
from msm.config.training import MixSource
from msm.errors import InvalidInput, problem
from msm.rows import numbered_rows, row_problem

IGNORE = -100


# ---------------------------------------------------------------- reading


def read_rows(path: Path, check: Callable[[Path, int, dict[str, Any]], Any]) -> list[Any]:
    """What `check(file, number, row)` returns for every row of a file or directory; no rows is an error."""
    values = [check(f, n, row) for f in training_files(Path(path)) for n, row in numbered_rows(f)]
    if not values:
        raise InvalidInput([problem(path, "is empty: no rows", "point at a non-empty corpus or dataset")])
    return values


def _text(path: Path, n: int, row: dict[str, Any]) -> str:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        got = "missing" if text is None else f"a {type(text).__name__}" if not isinstance(text, str) else "empty"
        raise InvalidInput(
            [
                row_problem(
                    path,
                    n,
                    f"`text` is {got}: rows that lack a non-empty `text` string (a document) cannot be midtrained on",
                    "fix or drop the row, or point --corpus at the output of `msm synthesize docs`",
                    field="text",
                )
            ]
        )
    return text


def _chat(path: Path, n: int, row: dict[str, Any]) -> list[dict[str, str]]:
    def bad(message: str, field: str) -> InvalidInput:
        fix = 'fix or drop the row; rows look like {"messages": [{"role": "user", "content": "..."}, ...]}'
        return InvalidInput([row_problem(path, n, message, fix, field=field)])

    chat = row.get("messages")
    if not isinstance(chat, list) or not chat:
        got = "missing" if chat is None else "empty" if chat == [] else f"a {type(chat).__name__}"
        raise bad(f"`messages` is {got}: rows that lack a non-empty `messages` list cannot be aligned on", "messages")
    for i, m in enumerate(chat):
        # The chat template concatenates both as strings; anything else fails deep inside jinja.
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise bad(
                f"message {i} needs a string `role` (user, assistant, ...) and a string `content`", f"messages.{i}"
            )
    if not any(m["role"] == "assistant" for m in chat):
        raise bad("no assistant turn to learn from", "messages")
    return chat


def load_chats(path: Path, max_rows: int | None = None) -> list[list[dict[str, str]]]:
    """The chats of a file or directory; with `max_rows`, only that many of them (subsample)."""
    rows = read_rows(path, lambda f, n, row: (_chat(f, n, row), row.get("source") == INSTRUCTION_SOURCE))
    return subsample(rows, max_rows)


def load_texts(path: Path, max_rows: int | None = None) -> list[str]:
    return subsample([(t, False) for t in read_rows(path, _text)], max_rows)


SUBSAMPLE_SEED = 0


def subsample(rows: list[tuple[Any, bool]], max_rows: int | None) -> list[Any]:
    """Rows flagged False: the first `max_rows` of one fixed shuffle (seed SUBSAMPLE_SEED, not the
    training seed), so every arm and seed of a size trains on the same rows and each size contains
    the smaller ones; rows flagged True (instruction data) are all kept. File order is kept."""
    if max_rows is None:
        return [r for r, _ in rows]
    main = [i for i, (_, keep) in enumerate(rows) if not keep]
    if max_rows > len(main):
        raise InvalidInput(
            [
                problem(
                    "training.align.max_rows",
                    f"asks for {max_rows} rows; the data has {len(main)} (besides instruction rows)",
                    "lower the size (study.aft_sizes) or synthesize more AFT data",
                )
            ]
        )
    random.Random(SUBSAMPLE_SEED).shuffle(main)
    chosen = set(main[:max_rows])
    return [r for i, (r, keep) in enumerate(rows) if keep or i in chosen]


def mix(main: list[Any], sources: list[tuple[MixSource, list[Any]]], seed: int) -> tuple[list[Any], dict[str, int]]:
    """Add other rows so that each source makes up its `ratio` of the result (drawn without replacement)."""
    rng = random.Random(seed)
    share_main = 1.0 - sum(src.ratio for src, _ in sources)
    total = len(main) / share_main
    out, counts = list(main), {"main": len(main)}
    for src, rows in sources:
        want = round(total * src.ratio)
        if want > len(rows):
            raise InvalidInput(
                [
                    problem(
                        src.path, f"has {len(rows)} rows; ratio {src.ratio} needs {want}", "lower the ratio or add data"
                    )
                ]
            )
        out.extend(rng.sample(rows, want))
        counts[str(src.path)] = want
    return out, counts


# ---------------------------------------------------------------- examples


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def pack_documents(docs: list[list[int]], eos_id: int, block: int) -> list[Example]:
    """Concatenate documents, each ending in EOS, into blocks of `block` tokens; only the last is shorter."""
    stream = [t for doc in docs for t in (*doc, eos_id)]
    return [Example(stream[i : i + block], stream[i : i + block]) for i in range(0, len(stream), block)]


def midtrain_examples(tokenizer, texts: list[str], block: int, seed: int) -> list[Example]:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    docs = tokenizer([texts[i] for i in order], add_special_tokens=False)["input_ids"]
    return pack_documents(docs, tokenizer.eos_token_id, block)


def chat_example(tokenizer, messages: list[dict[str, str]], max_length: int) -> Example | None:
    enc = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True, tokenize=True)
    ids, mask = enc["input_ids"][:max_length], enc["assistant_masks"][:max_length]
    if not any(mask):
        return None
    return Example(list(ids), [t if m else IGNORE for t, m in zip(ids, mask, strict=True)])


def align_examples(
    tokenizer, chats: list[list[dict[str, str]]], max_length: int, source: Path
) -> tuple[list[Example], int]:
    """(examples, chats dropped because truncation left no assistant token)."""
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInput(
            [problem(source, "the base model's tokenizer has no chat template", "use a model built by `msm model`")]
        )
    probe = chat_example(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}], 10**6)
    if probe is None:
        raise InvalidInput(
            [
                problem(
                    source,
                    "the chat template has no {% generation %} markers, so assistant tokens cannot be found",
                    "use a model directory written by `msm model` (its ChatML template has the markers)",
                )
            ]
        )
    examples = [chat_example(tokenizer, chat, max_length) for chat in chats]
    kept = [e for e in examples if e is not None]
    return kept, len(examples) - len(kept)


# ---------------------------------------------------------------- batches


class BatchOrder:
    """Deterministic micro-batches: a seeded permutation per epoch; micro-batch i is a pure function of i.

    That makes resuming exact: a run restarted at optimizer step s continues with micro-batch
    s × grad_accum, whatever happened before.
    """

    def __init__(self, examples: list[Example], micro_batch_size: int, seed: int, pad_id: int):
        self.examples, self.mb, self.seed, self.pad_id = examples, micro_batch_size, seed, pad_id
        self.per_epoch = math.ceil(len(examples) / micro_batch_size)
        self._perm: tuple[int, list[int]] | None = None

    def _permutation(self, epoch: int) -> list[int]:
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(len(self.examples), generator=g).tolist())
        return self._perm[1]

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        epoch, k = divmod(index, self.per_epoch)
        chosen = [self.examples[i] for i in self._permutation(epoch)[k * self.mb : (k + 1) * self.mb]]
        width = max(len(e.input_ids) for e in chosen)
        ids = torch.full((len(chosen), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(chosen), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(chosen), width), dtype=torch.long)
        for row, e in enumerate(chosen):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, :n] = torch.tensor(e.labels)
            attention[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": attention}
