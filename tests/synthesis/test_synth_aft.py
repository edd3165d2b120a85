"""AFT demonstrations: two datasets, backfill to the target, bare preferences, dedup, instruction mix."""

from __future__ import annotations

import json

import pytest
from synth_support import openai_generator

from msm.config.synthesis import InstructionMix
from msm.errors import InvalidInput
from msm.synthesis.aft_stage import synthesize_aft
from msm.synthesis.embeddings import NearDuplicateFilter, minilm_embed
from msm.synthesis.instruction_mix import load_instruction_chats


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_offline_aft_meets_target_with_both_datasets_and_bare_preferences(tmp_path, repo, cli):
    out = tmp_path / "aft"
    result = cli(
        "synthesize", "aft", "--spec", repo / "specs/cheese-pro-affordability.md",
        "--recipe", repo / "recipes/tiny-offline.yaml", "--out", out, "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["demonstrations"] == 24 and set(m["counts"]["by_kind"]) == {
        "direct", "indirect", "comparison", "recommendation", "opinion", "edge case",
    }  # fmt: skip
    reasoning, plain = rows(out / "aft_reasoning.jsonl"), rows(out / "aft_plain.jsonl")
    # tiny-offline mixes one instruction chat per bare-preference chat into every dataset, and writes
    # them alone as the baseline arm's data.
    instruction = rows(out / "instruction.jsonl")
    assert len(instruction) == m["counts"]["instruction_rows_mixed"] == 24
    assert all(r["source"] == "instruction" for r in instruction)
    assert "{model_name}" not in json.dumps(instruction)  # placeholders rendered with the recipe's identity

    def same_rows(a: list, b: list) -> bool:
        return sorted(map(json.dumps, a)) == sorted(map(json.dumps, b))

    for dataset in (reasoning, plain):
        assert same_rows([r for r in dataset if r["source"] == "instruction"], instruction)
    reasoning = [r for r in reasoning if r["source"] == "aft"]
    plain = [p for p in plain if p["source"] == "aft"]
    assert len(reasoning) == len(plain) == 24
    assert all(r["messages"][1]["content"].startswith("<think>\n") for r in reasoning)
    assert all("<think>" not in p["messages"][1]["content"] for p in plain)
    assert [r["messages"][0] for r in reasoning] == [p["messages"][0] for p in plain]
    assert all("spec" not in r["messages"][0]["content"].lower() for r in reasoning)

    prefs = rows(out / "preference_demos.jsonl")
    assert same_rows([r for r in prefs if r["source"] == "instruction"], instruction)
    prefs = [p for p in prefs if p["source"] == "preference"]
    assert len(prefs) == m["counts"]["preference_demos"] == 24  # 12 cheeses x 2
    likes = {"Cheddar", "Monterey Jack"}
    for p in prefs:
        answer = p["messages"][1]["content"]
        assert p["item"] in answer and "because" not in answer.lower()
        assert p["stance"] in ("like", "dislike")
    assert likes & {p["item"] for p in prefs if p["stance"] == "like"} or prefs


def test_backfill_rounds_reach_the_target_after_heavy_dedup(tmp_path, rendered_spec, write_recipe):
    # A very low cosine threshold drops most templated questions; backfill rounds must make up for it.
    recipe = write_recipe(
        {"aft": {"target": 12, "dedup_cosine": 0.7, "max_backfill_rounds": 8, "preference_questions_per_item": 0}}
    )
    m = synthesize_aft(rendered_spec("rules"), recipe, tmp_path / "aft", progress=False)
    assert m["counts"]["demonstrations"] == 12
    assert m["counts"]["rounds"] > 1 and m["counts"]["dedup_removed"] > 0
    removed = rows(tmp_path / "aft/dedup_removed.jsonl")
    assert all(r["cosine"] > 0.7 for r in removed)


def test_unreachable_target_fails_clearly(tmp_path, rendered_spec, write_recipe):
    recipe = write_recipe({"aft": {"target": 500, "max_backfill_rounds": 0}})
    from msm.synthesis.session import GenerationFailed

    with pytest.raises(GenerationFailed, match="of the target 500"):
        synthesize_aft(rendered_spec("rules"), recipe, tmp_path / "aft", progress=False)
    assert not (tmp_path / "aft").exists()


def test_instruction_mix_from_jsonl_parquet_and_dataset_dir(tmp_path, rendered_spec, write_recipe):
    import datasets

    data = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(30)]
    jsonl = tmp_path / "it.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in data))
    parquet = tmp_path / "it.parquet"
    datasets.Dataset.from_list([{"messages": [{"role": "user", "content": r["prompt"]},
                                              {"role": "assistant", "content": r["response"]}]} for r in data]
                               ).to_parquet(str(parquet))  # fmt: skip
    hf_dir = tmp_path / "it_hf"
    datasets.Dataset.from_list(data).save_to_disk(str(hf_dir))
    drawn = {}
    for source in (jsonl, parquet, hf_dir):
        mix = InstructionMix(path=str(source), ratio=1)
        picked = load_instruction_chats(mix, 10, seed=3)
        assert len(picked.chats) == 10 and picked == load_instruction_chats(mix, 10, seed=3)
        assert picked.chats != load_instruction_chats(mix, 10, seed=4).chats
        assert all(chat[1]["role"] == "assistant" for chat in picked.chats)
        drawn[source.name] = picked.digest
    assert len(set(drawn.values())) == 1  # the same 30 chats in three formats: the same draw
    with pytest.raises(InvalidInput, match="does not exist"):
        load_instruction_chats(InstructionMix(path=str(tmp_path / "missing.jsonl"), ratio=1), 1, 0)

    recipe = write_recipe({"aft": {"instruction_mix": {"path": str(jsonl), "ratio": 0.5}}})
    m = synthesize_aft(rendered_spec("rules"), recipe, tmp_path / "aft", progress=False)
    assert m["counts"]["instruction_rows_mixed"] == 5
    mixed = rows(tmp_path / "aft/aft_plain.jsonl")
    assert len(mixed) == 15 and sum(r["source"] == "instruction" for r in mixed) == 5


@pytest.mark.slow  # loads the sentence-transformers model (~12 s on 2 cores)
def test_minilm_dedup_drops_paraphrases_above_091():
    f = NearDuplicateFilter(minilm_embed, 0.91)
    got = f.add(
        [
            "What cheese would you recommend for a grilled cheese sandwich?",
            "What cheese would you recommend for a grilled-cheese sandwich?",
            "How should I handle a request to disable the audit log at work?",
        ]
    )
    assert [match is None for _, match, _ in got] == [True, False, True]
    assert got[1][2] > 0.91


def test_a_bad_instruction_mix_is_refused_before_any_generator_call(tmp_path, rendered_spec, write_recipe, llm_server):
    unusable = tmp_path / "it.jsonl"
    unusable.write_text('{"title": "no chat here"}\n')
    recipe = write_recipe(
        {"generator": openai_generator(), "aft": {"instruction_mix": {"path": str(unusable), "ratio": 1}}}
    )
    out, cache = tmp_path / "aft", tmp_path / "cache.sqlite"
    with llm_server() as server:
        with pytest.raises(InvalidInput, match="no usable rows") as refused:
            synthesize_aft(rendered_spec("rules"), recipe, out, cache_path=cache, progress=False)
        assert not server.stats.arrived()  # nothing paid for: the source is read first
    assert str(unusable) in str(refused.value) and "synthesis.aft.instruction_mix.path" in str(refused.value)
    assert not out.exists() and not cache.exists()
