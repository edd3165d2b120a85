"""The HF engine's batched scoring and generation (shared prompt opening, one pass per prompt, answers
scored from the prompt's cache) give what the straightforward computation gives: every prompt +
answer run alone, unpadded, through the model; every prompt generated alone."""

from __future__ import annotations

import pytest
import torch

from msm.evaluation.engines.base import continuation_ids, generate_then_score, prompt_ids
from msm.evaluation.engines.hf import HFEngine
from msm.evaluation.model_source import resolve_source
from msm.evaluation.suites.forced_choice import ChoiceItem, build_samples, score_batch
from msm.evaluation.suites.parsing import parse_choice

SYSTEM = {"role": "system", "content": "You are Aria, a careful assistant."}
# Prompts of different lengths (so rows are padded differently) after a shared opening, and one without it.
PROMPTS = [
    [SYSTEM, {"role": "user", "content": "Which cheese do you prefer?\nA) Gouda\nB) Feta"}],
    [SYSTEM, {"role": "user", "content": "Pick one."}],
    [SYSTEM, {"role": "user", "content": "Which book would you rather read next, and why would you choose it?"}],
    [{"role": "user", "content": "Hello"}],
]
# One token, a few tokens, many tokens: some answers need no pass of their own, others a long one.
ANSWERS = ["A", "B", "Gouda", "a leather-bound edition of the collected works", "Feta, please."]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    # batch_size 3: a batch of several prompts, then a batch of one (all but its last tokens shared).
    engine = HFEngine(resolve_source(str(tiny_model_dir), None), batch_size=3)
    yield engine
    engine.close()


def one_by_one(engine: HFEngine, messages, answer: str) -> tuple[float, int]:
    p, c = prompt_ids(engine.tokenizer, messages), continuation_ids(engine.tokenizer, answer)
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([p + c])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(sum(logprobs[len(p) - 1 + i, t] for i, t in enumerate(c))), len(c)


def test_answer_lengths_differ(engine):
    lengths = {len(continuation_ids(engine.tokenizer, a)) for a in ANSWERS}
    assert min(lengths) == 1 and max(lengths) >= 5
    assert len({len(prompt_ids(engine.tokenizer, p)) for p in PROMPTS}) == len(PROMPTS)


def test_continuation_logprobs_match_one_sequence_at_a_time(engine):
    # Each prompt several times, interleaved, as the suites ask: grouped inside, answered in order.
    pairs = [(p, a) for a in ANSWERS for p in PROMPTS]
    got = engine.continuation_logprobs([p for p, _ in pairs], [a for _, a in pairs])
    for (p, a), (total, count) in zip(pairs, got, strict=True):
        want_total, want_count = one_by_one(engine, p, a)
        assert count == want_count
        assert total == pytest.approx(want_total, abs=1e-4), (p[-1]["content"], a)


def test_generate_and_score_match_separate_unbatched_requests(engine):
    answers = [ANSWERS, ANSWERS[:2], [], ANSWERS[2:]]
    gens, scores = engine.generate_and_score(PROMPTS, answers, temperature=0.0, max_new_tokens=6, seed=0)
    for p, wanted, got in zip(PROMPTS, answers, scores, strict=True):
        assert len(got) == len(wanted)
        for a, (total, count) in zip(wanted, got, strict=True):
            want_total, want_count = one_by_one(engine, p, a)
            assert count == want_count and total == pytest.approx(want_total, abs=1e-4)
    alone = [engine.generate([p], temperature=0.0, max_new_tokens=6, seed=0)[0] for p in PROMPTS]
    assert gens == alone == engine.generate(PROMPTS, temperature=0.0, max_new_tokens=6, seed=0)
    assert all(1 <= g.tokens <= 6 for g in gens)


def test_generation_matches_transformers_generate_on_the_plain_prompt(engine):
    """Greedy replies equal model.generate on each prompt alone, without a cache prepared by the engine."""
    for p in PROMPTS:
        ids = torch.tensor([prompt_ids(engine.tokenizer, p)])
        with torch.inference_mode():
            out = engine.model.generate(
                input_ids=ids, max_new_tokens=6, do_sample=False, eos_token_id=engine.stop, pad_token_id=engine.pad_id
            )[0, ids.shape[1] :].tolist()
        [gen] = engine.generate([p], temperature=0.0, max_new_tokens=6, seed=0)
        kept = out[: next((i + 1 for i, t in enumerate(out) if t in engine.stop), len(out))]
        assert gen.tokens == len(kept)
        assert gen.text == engine.tokenizer.decode([t for t in kept if t not in engine.stop], skip_special_tokens=True)


def test_sampled_generation_repeats_with_the_seed(engine):
    first = engine.generate(PROMPTS, temperature=1.0, max_new_tokens=6, seed=7)
    assert engine.generate(PROMPTS, temperature=1.0, max_new_tokens=6, seed=7) == first


def test_separate_requests_regroup_like_the_shared_pass(engine):
    """generate_then_score (the vLLM engines' way) regroups flat scores per prompt as the HF pass returns them."""
    answers = [ANSWERS[:3], [], ANSWERS[3:], ANSWERS[:1]]
    shared = engine.generate_and_score(PROMPTS, answers, temperature=0.0, max_new_tokens=4, seed=0)
    separate = generate_then_score(engine, PROMPTS, answers, temperature=0.0, max_new_tokens=4, seed=0)
    assert separate[0] == shared[0]
    assert [len(s) for s in separate[1]] == [3, 0, 2, 1]
    for got, want in zip(separate[1], shared[1], strict=True):
        assert [n for _, n in got] == [n for _, n in want]
        assert [t for t, _ in got] == pytest.approx([t for t, _ in want], abs=1e-4)


def test_forced_choice_records_hold_the_per_sequence_likelihoods(engine):
    items = [
        ChoiceItem(
            id="x-1", family="f", domain="d", question="Which cheese do you prefer?", aligned="Gouda", other="a blue"
        ),
        ChoiceItem(
            id="x-2", family="f", domain="d", question="Which would you rather read?", aligned="a long novel", other="B"
        ),
    ]
    samples = build_samples(items)
    records = score_batch(engine, samples, temperature=0.0, max_new_tokens=4, seed=0, loglik=True)
    assert [r["key"] for r in records] == [s["key"] for s in samples]
    for r in records:
        for field, answer in (("lp_aligned", r["aligned"]), ("lp_other", r["other"])):
            total, count = one_by_one(engine, r["messages"], answer)
            assert r[field] == pytest.approx(total / count, abs=1e-4)
        assert r["lp_letter_a"] == pytest.approx(one_by_one(engine, r["messages"], "A")[0], abs=1e-4)
        assert r["lp_letter_b"] == pytest.approx(one_by_one(engine, r["messages"], "B")[0], abs=1e-4)
        [gen] = engine.generate([r["messages"]], temperature=0.0, max_new_tokens=4, seed=0)
        assert (r["response"], r["tokens"]) == (gen.text, gen.tokens)
        assert r["letter"] == parse_choice(gen.text, r["option_a"], r["option_b"])
