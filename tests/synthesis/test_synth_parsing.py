"""Tag parsing: what is repaired and what is sent back as a re-ask."""

from __future__ import annotations

import pytest

from msm.synthesis import parsing


def test_repairs_case_fences_and_an_unclosed_last_tag():
    text = "```xml\n<Idea>first</IDEA>\n<idea>second</idea><idea>third, cut off by the token limit\n```"
    assert parsing.items(text, "idea") == ["first", "second", "third, cut off by the token limit"]


def test_items_are_distinct_and_nonempty():
    assert parsing.items("<a>X.</a><a> x </a><a></a><a>y</a>", "a") == ["X.", "y"]
    with pytest.raises(parsing.ParseError, match="no <a>"):
        parsing.items("plain prose", "a")


def test_subdomain_section_ids_are_normalised_and_checked():
    text = (
        "<subdomain><name>One</name><section>s2</section></subdomain>"
        "<subdomain><name>Two</name><section>[S 3]</section></subdomain>"
        "<subdomain><name>Three</name><section>S9</section></subdomain>"
    )
    got = parsing.subdomains(text, {"S1", "S2", "S3"})
    assert [(s["name"], s["section"]) for s in got] == [("One", "S2"), ("Two", "S3")]
    with pytest.raises(parsing.ParseError, match="not in the list"):
        parsing.subdomains("<subdomain><name>X</name><section>S9</section></subdomain>", {"S1"})


def test_document_needs_content_without_placeholders():
    body = " ".join(["word"] * 30)
    assert parsing.document(f"<scratchpad>plan</scratchpad><content>{body}</content>") == body
    with pytest.raises(parsing.ParseError, match="content"):
        parsing.document(f"<scratchpad>{body}</scratchpad>")
    with pytest.raises(parsing.ParseError, match="placeholder"):
        parsing.document(f"<content>{body} signed, [Your Name]</content>")


def test_reasoned_answer_and_verdict():
    assert parsing.reasoned_answer("<think>why</think>\n\nThe answer.") == ("why", "The answer.")
    with pytest.raises(parsing.ParseError):
        parsing.reasoned_answer("<think>why</think>")
    assert parsing.verdict("<reason>ok</reason><verdict> PASS </verdict>") is True
    assert parsing.verdict("<verdict>fail</verdict>") is False
    with pytest.raises(parsing.ParseError):
        parsing.verdict("<verdict>maybe</verdict>")
