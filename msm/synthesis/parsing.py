"""Pull the tagged parts out of a generator's reply, repairing what can be repaired.

Repairs: tag names in any case, code fences around the reply, a final tag left unclosed (a reply
cut off by the token limit), ids written as `s3`, `[S3]` or `3`. Anything else is a ParseError whose
message is sent back to the generator in a re-ask (msm.llm.client bounds how often).
"""

from __future__ import annotations

import re

from msm.llm.parsing import ParseError

FENCE = re.compile(r"^```[a-zA-Z]*\n|\n```\s*$")
# "[Your Name]", "[Company]", "<insert date>": fill-in-the-blank placeholders the prompts forbid.
PLACEHOLDER = re.compile(r"\[(?:[Yy]our |[Ii]nsert )?[A-Z][a-zA-Z]*(?: [A-Z][a-zA-Z]*){0,3}\]|(?i:<insert[^>]*>)")


def _clean(text: str) -> str:
    return FENCE.sub("", text.strip()).strip()


def find_all(text: str, tag: str) -> list[str]:
    """Contents of every <tag>...</tag>; an unclosed last one runs to the end of the reply."""
    text = _clean(text)
    pattern = re.compile(rf"<{tag}(?:\s[^>]*)?>(.*?)(?:</{tag}\s*>|(?=<{tag}[\s>])|\Z)", re.I | re.S)
    return [m.group(1).strip() for m in pattern.finditer(text)]


def find_one(text: str, tag: str) -> str | None:
    found = find_all(text, tag)
    return found[0] if found else None


def items(text: str, tag: str) -> list[str]:
    """Non-empty, distinct (case- and space-insensitive) items in order."""
    seen: set[str] = set()
    out = []
    for raw in find_all(text, tag):
        item = " ".join(raw.split())
        key = item.lower().rstrip(".")
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    if not out:
        raise ParseError(f"no <{tag}>...</{tag}> blocks were found")
    return out


def named_items(text: str, tag: str) -> list[dict[str, str]]:
    """Blocks like <domain><name>..</name><description>..</description></domain>."""
    out, seen = [], set()
    for block in find_all(text, tag):
        name = " ".join((find_one(block, "name") or "").split())
        desc = " ".join((find_one(block, "description") or "").split())
        if name and name.lower() not in seen:
            seen.add(name.lower())
            out.append({"name": name, "description": desc or name})
    if not out:
        raise ParseError(f"no <{tag}> blocks with a <name> were found")
    return out


def section_id(raw: str, valid: set[str]) -> str | None:
    m = re.search(r"\d+", raw)
    sid = f"S{int(m.group())}" if m else ""
    return sid if sid in valid else None


def subdomains(text: str, valid_ids: set[str]) -> list[dict[str, str]]:
    out, seen, bad = [], set(), []
    for block in find_all(text, "subdomain"):
        name = " ".join((find_one(block, "name") or "").split())
        sid = section_id(find_one(block, "section") or "", valid_ids)
        if not name or name.lower() in seen:
            continue
        if sid is None:
            bad.append(name)
            continue
        seen.add(name.lower())
        desc = " ".join((find_one(block, "description") or "").split())
        out.append({"name": name, "description": desc or name, "section": sid})
    if not out:
        why = f"section ids of {bad} are not in the list" if bad else "no <subdomain> blocks were found"
        raise ParseError(f"{why}; give each subdomain a <name> and a <section> id from the list")
    return out


def document(text: str, *, min_words: int = 20) -> str:
    content = find_one(text, "content")
    if content is None:
        raise ParseError("the document must be inside <content></content> tags")
    if len(content.split()) < min_words:
        raise ParseError(f"the document inside <content> has fewer than {min_words} words")
    if m := PLACEHOLDER.search(content):
        raise ParseError(f"the document contains the placeholder {m.group()!r}; write real text instead")
    return content


def reasoned_answer(text: str) -> tuple[str, str]:
    """(reasoning, answer) from '<think>...</think> answer'."""
    cleaned = _clean(text)
    m = re.search(r"<think>(.*?)</think>(.*)", cleaned, re.I | re.S)
    if not m:
        raise ParseError("put the reasoning inside <think></think> tags, then the answer after the closing tag")
    think, answer = m.group(1).strip(), m.group(2).strip()
    if not think or not answer:
        raise ParseError("both the reasoning inside <think> and the answer after it must be non-empty")
    return think, answer


def verdict(text: str) -> bool:
    v = (find_one(text, "verdict") or "").strip().lower()
    if v not in ("pass", "fail"):
        raise ParseError("end with <verdict>pass</verdict> or <verdict>fail</verdict>")
    return v == "pass"


def answer(text: str) -> str:
    a = find_one(text, "answer")
    if not a:
        raise ParseError("put the reply inside <answer></answer> tags")
    return " ".join(a.split())
