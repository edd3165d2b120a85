"""Strict answer parsing for forced-choice items: a letter counts only when the answer is unambiguous.

Accepted: the reply is the letter alone ("A", "b.", "(A)", "**B**"), or it opens with "A)"/"A:"/
"Answer: A", or it names exactly one option's full text. Rejected (None): both letters, no letter,
a letter inside a longer word, prose that names both options, and a reply that lists both options
again ("A) ...\nB) ..."): small models often echo the list, which would otherwise read as "A".
A judge fallback, if used, is reported separately; it never rewrites these results.
"""

from __future__ import annotations

import re

_ALONE = re.compile(r"^\W*(?:answer\s*(?:is)?\s*[:\-]?\s*)?\(?\s*([ab])\s*\)?\W*$", re.IGNORECASE)
_LISTED = re.compile(r"^\W*\(?([ab])(?:\)|:|\.)", re.IGNORECASE | re.MULTILINE)  # a line opening "B)"
_LEADING = re.compile(r"^\W*(?:(?:my\s+)?answer\s*(?:is)?\s*[:\-]?\s*)?\(?([ab])(?:\)|:|\.|\s*-)\s", re.IGNORECASE)


def parse_choice(text: str, option_a: str, option_b: str) -> str | None:
    """'A', 'B' or None for one reply to a prompt that listed A) option_a and B) option_b."""
    reply = text.strip()
    if not reply:
        return None
    if {m.upper() for m in _LISTED.findall(reply)} == {"A", "B"}:
        return None
    first_line = reply.splitlines()[0].strip()
    for candidate in (reply, first_line):
        if m := _ALONE.match(candidate):
            return m.group(1).upper()
    if m := _LEADING.match(reply + " "):
        return m.group(1).upper()
    lowered = reply.lower()
    has_a, has_b = option_a.lower() in lowered, option_b.lower() in lowered
    if has_a != has_b:
        return "A" if has_a else "B"
    return None
