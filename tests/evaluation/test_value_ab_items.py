"""The value-ab item file: its size and make-up against the paper's, its README table, the whole-file
checks on load, and a cap that still spans the domains."""

import json
import re
from collections import Counter

import pytest
from support import REPO

from msm.config.evaluation import EvaluationConfig
from msm.errors import InvalidInput
from msm.evaluation.suites.base import Context
from msm.evaluation.suites.value_ab import NEAR_DOMAINS, ValueAB, load_choice_items

README = REPO / "msm/evaluation/suites/README.md"
ROW = re.compile(r"^\| ([a-z]+) \| ([a-z ]+) \| (far|near) \| (\d+) \| our writing \|$")


@pytest.fixture(scope="module")
def items():
    return load_choice_items()


def test_families_reach_the_papers_sizes_with_a_civic_share_and_a_near_domain(items):
    far = Counter(i.family for i in items if i.domain not in NEAR_DOMAINS)
    assert far["america"] >= 400 and far["affordability"] >= 497  # method.md: 400 and 497
    civic = sum(i.family == "america" and i.domain == "civic" for i in items)
    assert civic / far["america"] >= 0.25  # the paper's set is largely political/civic opinion
    for family in ("america", "affordability"):
        near = [i for i in items if i.family == family and i.domain in NEAR_DOMAINS]
        assert len(near) >= 40
        assert not any("cheese" in f"{i.question} {i.aligned} {i.other}".lower() for i in near)


def test_the_six_section_3_2_values_have_at_least_100_items_across_every_domain(items):
    values = ("environment", "novelty", "tradition", "simplicity", "difficulty", "individualism")
    domains = {i.domain for i in items}
    for family in values:
        mine = [i for i in items if i.family == family]
        assert len(mine) >= 100 and {i.domain for i in mine} == domains, family
        assert not any("cheese" in f"{i.question} {i.aligned} {i.other}".lower() for i in mine)


def test_readme_table_matches_the_item_file(items):
    rows = {(m[1], m[2]): (m[3], int(m[4])) for line in README.read_text().splitlines() if (m := ROW.match(line))}
    counts = Counter((i.family, i.domain) for i in items)
    expected = {(f, d): ("near" if d in NEAR_DOMAINS else "far", n) for (f, d), n in counts.items()}
    for family in {f for f, _ in counts}:
        far = sum(n for (f, d), n in counts.items() if f == family and d not in NEAR_DOMAINS)
        expected[(family, "all far domains")] = ("far", far)
    assert rows == expected, "regenerate the table in msm/evaluation/suites/README.md from value_ab.jsonl"


def test_existing_ids_kept_and_new_ones_follow_the_pattern(items):
    ids = [i.id for i in items]
    assert ids[:3] == ["us-books-001", "us-books-002", "us-books-003"]
    prefix = {"america": "us", "affordability": "af"}  # the first two families' ids predate the pattern
    assert all(i.id.startswith(f"{prefix.get(i.family, i.family)}-{i.domain}-") for i in items)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _item(id, family, domain, question="Which would you rather have?", aligned="a", other="b"):
    return {"id": id, "family": family, "domain": domain, "question": question, "aligned": aligned, "other": other}


def _balanced():
    return [
        _item(f"{f}-{d}", f, d, aligned=f"{f} {d} one", other=f"{f} {d} two")
        for f in ("us", "af")
        for d in ("books", "food")
    ]


def test_a_balanced_file_loads(tmp_path):
    assert len(load_choice_items(_write(tmp_path / "ok.jsonl", _balanced()))) == 4


def test_an_item_repeated_across_families_is_refused_with_both_lines(tmp_path):
    rows = _balanced()
    rows.append(
        {**rows[0], "id": "af-books-copy", "family": "af", "aligned": rows[0]["other"], "other": rows[0]["aligned"]}
    )
    path = _write(tmp_path / "dup.jsonl", rows)
    with pytest.raises(InvalidInput) as e:
        load_choice_items(path)
    text = str(e.value)
    assert f"{path}:5 [aligned]" in text and "repeats item us-books (line 1)" in text and "fix:" in text


def test_same_option_twice_is_refused(tmp_path):
    rows = _balanced()
    rows[2]["other"] = rows[2]["aligned"].upper()
    path = _write(tmp_path / "same.jsonl", rows)
    with pytest.raises(InvalidInput) as e:
        load_choice_items(path)
    assert f"{path}:3 [other]" in str(e.value) and "same option" in str(e.value)


def test_unbalanced_families_are_refused(tmp_path):
    rows = [r for r in _balanced() if r["id"] != "af-food"] + [_item("us-art", "us", "art", aligned="x", other="y")]
    path = _write(tmp_path / "unbalanced.jsonl", rows)
    with pytest.raises(InvalidInput) as e:
        load_choice_items(path)
    text = str(e.value)
    assert "family 'af' has no items in domain 'art', which another family has" in text
    assert "family 'af' has no items in domain 'food', which is a near domain" in text
    assert f"{path} [domain]" in text and "family 'us'" not in text


def _suite(cap):
    config = EvaluationConfig(suites=["value-ab"], value_ab={"max_items_per_family": cap})
    return ValueAB(Context(config=config, model_name="Aria", specs={}))


def test_a_cap_takes_items_round_robin_across_domains_near_last(items):
    far = sorted({i.domain for i in items} - NEAR_DOMAINS)
    chosen = _suite(len(far)).items()
    for family in ("america", "affordability"):
        assert sorted(i.domain for i in chosen if i.family == family) == far  # one from each far domain
    one_more = _suite(len(far) + 1).items()
    assert sorted(i.domain for i in one_more if i.family == "america" and i.domain in NEAR_DOMAINS) == ["food"]
    samples = _suite(2 * len(far) + 2).samples
    assert len(samples) == 2 * 2 * (2 * len(far) + 2)  # two families, two orders
    assert Counter(s["domain"] for s in samples if s["family"] == "affordability") == Counter(
        {d: 4 for d in [*far, "food"]}
    )


def test_the_recipe_chooses_the_families_and_an_unknown_one_is_refused(items):
    def chosen(families):
        config = EvaluationConfig(suites=["value-ab"], value_ab={"families": families})
        return {i.family for i in ValueAB(Context(config=config, model_name="Aria", specs={})).items()}

    assert chosen(["affordability"]) == {"affordability"}
    assert EvaluationConfig().value_ab.families == ["america", "affordability"]  # the cheese study's two
    with pytest.raises(InvalidInput) as e:
        chosen(["america", "thrift"])
    assert "evaluation.value_ab.families names 'thrift'" in str(e.value) and "america" in str(e.value)
