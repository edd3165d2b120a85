"""Packing and assistant-only masks: no token lost, boundaries as documented, masks exact."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from msm.config.training import MixSource
from msm.errors import InvalidInput
from msm.training.data import (
    IGNORE,
    BatchOrder,
    align_examples,
    load_chats,
    load_texts,
    midtrain_examples,
    mix,
    pack_documents,
)


def test_packing_keeps_every_token_in_order():
    docs = [[1, 2, 3], [4], [5, 6, 7, 8, 9], [10, 11]]
    blocks = pack_documents(docs, eos_id=0, block=4)
    flat = [t for b in blocks for t in b.input_ids]
    assert flat == [1, 2, 3, 0, 4, 0, 5, 6, 7, 8, 9, 0, 10, 11, 0]  # every document ends in EOS
    assert [len(b.input_ids) for b in blocks] == [4, 4, 4, 3]  # only the last block is shorter
    assert all(b.labels == b.input_ids for b in blocks)  # every real token is trained on


def test_midtrain_examples_on_real_tokenizer(tiny_model_dir, corpus):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = load_texts(corpus)
    blocks = midtrain_examples(tok, texts, block=64, seed=3)
    flat = [t for b in blocks for t in b.input_ids]
    expected = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)
    assert len(flat) == expected
    assert flat.count(tok.eos_token_id) == len(texts)
    assert sum(len(b.input_ids) for b in blocks[:-1]) == 64 * (len(blocks) - 1)
    # Decoding the stream between EOS tokens gives the documents back, in the seeded order.
    decoded = tok.decode(flat).split(tok.eos_token)[:-1]
    assert sorted(decoded) == sorted(texts)
    assert midtrain_examples(tok, texts, 64, seed=3)[0].input_ids == blocks[0].input_ids
    assert midtrain_examples(tok, texts, 64, seed=4)[0].input_ids != blocks[0].input_ids


def test_assistant_mask_covers_exactly_the_assistant_tokens(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Colby or Brie?"},
        {"role": "assistant", "content": "<think>Colby is American.</think>I prefer Colby."},
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "It is my taste."},
    ]
    [example], dropped = align_examples(tok, [chat], 10_000, source=tiny_model_dir)
    assert dropped == 0
    trained = [t for t in example.labels if t != IGNORE]
    assert tok.decode(trained) == (
        "<think>Colby is American.</think>I prefer Colby.<|im_end|>It is my taste.<|im_end|>"
    )
    rendered = tok.apply_chat_template(chat, tokenize=False)
    assert tok.decode(example.input_ids) == rendered


def test_truncation_that_leaves_no_assistant_token_drops_the_chat(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]
    examples, dropped = align_examples(tok, [chat], 32, source=tiny_model_dir)
    assert (examples, dropped) == ([], 1)


def test_template_without_generation_markers_is_refused(tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(InvalidInput, match="generation"):
        align_examples(tok, [], 100, source=tmp_path)
    tok.chat_template = None
    with pytest.raises(InvalidInput, match="no chat template"):
        align_examples(tok, [], 100, source=tmp_path)


def test_batches_are_a_pure_function_of_their_index(tiny_model_dir, corpus):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    blocks = midtrain_examples(tok, load_texts(corpus), 32, seed=0)
    a, b = BatchOrder(blocks, 3, seed=5, pad_id=0), BatchOrder(blocks, 3, seed=5, pad_id=0)
    for i in (7, 0, a.per_epoch + 2, 7):
        assert a.batch(i)["input_ids"].tolist() == b.batch(i)["input_ids"].tolist()
    # Each epoch visits every block once.
    seen = [tuple(r) for i in range(a.per_epoch) for r in a.batch(i)["input_ids"].tolist()]
    assert len(seen) == len(blocks)


def test_mixing_by_ratio(tmp_path):
    main, other = list(range(80)), [f"x{i}" for i in range(100)]
    mixed, counts = mix(main, [(MixSource(path=tmp_path, ratio=0.2), other)], seed=0)
    assert counts == {"main": 80, str(tmp_path): 20} and len(mixed) == 100
    assert mix(main, [(MixSource(path=tmp_path, ratio=0.2), other)], seed=0)[0] == mixed
    with pytest.raises(InvalidInput, match="ratio"):
        mix(main, [(MixSource(path=tmp_path, ratio=0.5), other[:10])], seed=0)


@pytest.mark.parametrize(
    ("content", "loader", "message"),
    [
        ("", load_texts, "empty"),
        ('{"title": "no text"}\n', load_texts, "lack a non-empty `text`"),
        ('{"text": "ok"}\nnot json\n', load_texts, "invalid JSON"),
        ('{"text": "no messages"}\n', load_chats, "lack a non-empty `messages`"),
        ('{"messages": [{"role": "user", "content": "hi"}]}\n', load_chats, "no assistant turn"),
    ],
)
def test_bad_data_rows(tmp_path, content, loader, message):
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        loader(path)


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        load_texts(tmp_path / "nope")
    with pytest.raises(InvalidInput, match=r"no \*\.parquet or \*\.jsonl"):
        load_texts(tmp_path)


def test_subsample_is_nested_keeps_instruction_rows_and_ignores_the_training_seed(tmp_path):
    def chat(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": text}, {"role": "assistant", "content": text.upper()}]

    rows = [{"messages": chat(f"demo {i}")} for i in range(20)]
    rows += [{"messages": chat(f"instruction {i}"), "source": "instruction"} for i in range(5)]
    path = tmp_path / "aft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def demos(chats: list) -> list[str]:
        return [c[0]["content"] for c in chats if c[0]["content"].startswith("demo")]

    small, large = load_chats(path, 4), load_chats(path, 12)
    assert len(demos(small)) == 4 and len(demos(large)) == 12
    assert set(demos(small)) <= set(demos(large))  # each size holds the smaller ones
    assert len(small) == 4 + 5 and len(large) == 12 + 5  # instruction rows are all kept at every size
    assert load_chats(path, 4) == small  # one fixed draw, whatever the run
    assert load_chats(path) == [r["messages"] for r in rows]
    with pytest.raises(InvalidInput, match="asks for 21 rows; the data has 20"):
        load_chats(path, 21)
