"""Reading and checking a Model Spec file (format: specs/README.md).

Every check collects problems instead of stopping at the first, so one run of
`msm spec validate` lists everything a user has to fix. Each problem names the file, the line
or front-matter field, and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from msm.artefacts.spec_schema import (
    KINDS,
    PLACEHOLDERS,
    RULE_KINDS,
    FrontMatter,
    Rule,
    Section,
    SpecDocument,
)
from msm.artefacts.spec_source import read_spec_source
from msm.errors import InvalidInput, Problem, problem, validation_problems
from msm.hashing import sha256_text

MIN_WORDS = 50
MAX_WORDS = 200_000

WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
RULE_HEADING = re.compile(r"^(?P<id>[A-Z]{1,4}\d+(?:\.\d+)*):\s+(?P<title>\S.*)$")
RULE_ID = re.compile(r"^[A-Z]{1,4}\d+(?:\.\d+)*$")
BULLET = re.compile(r"^[-*]\s+(?P<text>\S.*)$")
# `{{` and `}}` are literal braces; `{name}` a placeholder; any other brace is unbalanced.
BRACE_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{|\}")


def count_words(text: str) -> int:
    return len(WORD.findall(text))


@dataclass(frozen=True)
class SpecSource:
    """A spec file split into its parts; `body_line` is the file line where the body starts."""

    path: Path
    front: FrontMatter
    body: str
    body_line: int
    source_sha256: str


# ---------------------------------------------------------------- reading the file


def split_front_matter(path: Path, text: str) -> tuple[str, str, int]:
    """(front matter YAML, body, first body line). Raises InvalidInput if there is none."""
    lines = text.split("\n")
    if lines[0].strip() != "---":
        raise InvalidInput(
            [
                problem(
                    path,
                    "missing YAML front matter: the file must start with a line '---'",
                    "add a front matter block (id, title, version, kind, placeholders) between '---' lines; "
                    "see specs/README.md",
                    line=1,
                )
            ]
        )
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), i + 2
    raise InvalidInput(
        [problem(path, "front matter is never closed", "add a line '---' after the front matter", line=1)]
    )


def _field_line(front_yaml: str, field: str) -> int | None:
    """File line of a top-level front-matter key (the YAML starts on file line 2)."""
    top = field.split(".")[0]
    for i, line in enumerate(front_yaml.split("\n")):
        if re.match(rf"^{re.escape(top)}\s*:", line):
            return i + 2
    return None


FIELD_FIXES = {
    "id": "use a slug of lower-case letters, digits and hyphens, e.g. `id: rules`",
    "title": 'give a non-empty title, e.g. `title: "{model_name} Rules"`',
    "version": 'use MAJOR.MINOR.PATCH in quotes, e.g. `version: "1.0.0"`',
    "kind": f"use one of: {', '.join(KINDS)}",
    "placeholders": f"list the placeholders the text uses, from: {', '.join(PLACEHOLDERS)} (or [])",
    "rules": "list the top-level rule ids, e.g. `rules: [SP1, SP2]`",
    "preferences": "give `likes:` and `dislikes:` as non-empty lists of items",
}


def parse_front_matter(path: Path, front_yaml: str) -> tuple[FrontMatter | None, list[Problem]]:
    try:
        raw = yaml.safe_load(front_yaml)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        what = getattr(e, "problem", None) or str(e).split("\n")[0]
        return None, [
            problem(
                path,
                f"front matter is not valid YAML: {what}",
                "fix the YAML syntax (quote values that contain ':' or '{')",
                line=line,
            )
        ]
    if not isinstance(raw, dict):
        return None, [
            problem(
                path,
                "front matter must be a YAML mapping of fields",
                "write `key: value` lines: id, title, version, kind, placeholders",
                line=2,
            )
        ]
    try:
        return FrontMatter.model_validate(raw), []
    except ValidationError as e:

        def fix_for(err: dict) -> str:
            top = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "extra_forbidden":
                return f"remove `{top}` or correct its spelling; allowed fields: {', '.join(FrontMatter.model_fields)}"
            return FIELD_FIXES.get(top, "see specs/README.md for the field's format")

        return None, validation_problems(
            path, e, fix_for=fix_for, line_for=lambda loc: _field_line(front_yaml, ".".join(map(str, loc)))
        )


def check_front_matter(path: Path, front: FrontMatter, front_yaml: str) -> list[Problem]:
    problems = []

    def at(field: str, message: str, fix: str) -> None:
        problems.append(problem(path, message, fix, line=_field_line(front_yaml, field), field=field))

    if front.kind == "preference" and front.preferences is None:
        at("preferences", "kind 'preference' needs a `preferences` block", FIELD_FIXES["preferences"])
    if front.preferences is not None:
        for side in ("likes", "dislikes"):
            seen: dict[str, str] = {}
            for item in getattr(front.preferences, side):
                key = item.strip().casefold()
                if not key:
                    at(f"preferences.{side}", f"empty item in `{side}`", "remove the empty entry")
                elif key in seen:
                    at(f"preferences.{side}", f"'{item}' is listed twice in `{side}`", "list each item once")
                seen[key] = item
        overlap = {i.strip().casefold() for i in front.preferences.likes} & {
            i.strip().casefold() for i in front.preferences.dislikes
        }
        for key in sorted(overlap):
            at(
                "preferences",
                f"'{key}' is both liked and disliked",
                "keep the item in only one of `likes` and `dislikes`",
            )
    if front.kind in RULE_KINDS and not front.rules:
        at("rules", f"kind '{front.kind}' needs a `rules` list", FIELD_FIXES["rules"])
    seen_ids = set()
    for rid in front.rules:
        if not RULE_ID.match(rid) or "." in rid:
            at("rules", f"'{rid}' is not a top-level rule id", "use 1-4 capital letters and a number, e.g. SP1")
        if rid in seen_ids:
            at("rules", f"rule id '{rid}' is listed twice", "list each rule id once")
        seen_ids.add(rid)
    return problems


# ---------------------------------------------------------------- placeholders


def scan_placeholders(path: Path, text: str, first_line: int) -> tuple[set[str], list[Problem]]:
    """Placeholders used in `text` and problems with braces (unknown names, unbalanced)."""
    used, problems = set(), []
    for n, line in enumerate(text.split("\n"), start=first_line):
        for m in BRACE_TOKEN.finditer(line):
            token, name = m.group(0), m.group(1)
            if token in ("{{", "}}"):
                continue
            if name is not None:
                if name in PLACEHOLDERS:
                    used.add(name)
                else:
                    problems.append(
                        problem(
                            path,
                            f"unknown placeholder '{{{name}}}' (column {m.start() + 1})",
                            f"use one of {', '.join('{' + p + '}' for p in PLACEHOLDERS)}, "
                            f"or write a literal brace as '{{{{' / '}}}}'",
                            line=n,
                        )
                    )
            else:
                problems.append(
                    problem(
                        path,
                        f"unbalanced brace '{token}' (column {m.start() + 1})",
                        "close the placeholder as {model_name} / {provider_name}, or write a literal "
                        "brace as '{{' / '}}'",
                        line=n,
                    )
                )
    return used, problems


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace placeholders; assumes `scan_placeholders` found no problem."""

    def repl(m: re.Match) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return values[m.group(1)]

    return BRACE_TOKEN.sub(repl, text)


# ---------------------------------------------------------------- body structure


@dataclass
class _Heading:
    level: int
    text: str
    line: int  # file line
    index: int  # body line index


def _headings(body: str, first_line: int) -> list[_Heading]:
    found, in_fence = [], False
    for i, line in enumerate(body.split("\n")):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and (m := HEADING.match(line)) and m.group(2):
            found.append(_Heading(len(m.group(1)), m.group(2), first_line + i, i))
    return found


def _bullets(text: str) -> list[str]:
    """Top-level list items of a section's own text; indented lines continue the item."""
    items: list[str] = []
    current: list[str] | None = None
    in_fence = False
    for line in text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            current = None
            continue
        if m := BULLET.match(line):
            current = [m.group("text").rstrip()]
            items.append("")
        elif current is not None and line[:1] in (" ", "\t") and line.strip():
            current.append(line.strip())
        else:
            current = None
            continue
        items[-1] = " ".join(current)
    return items


def build_document(
    path: Path, front: FrontMatter, body: str, body_line: int, source_sha256: str
) -> tuple[SpecDocument | None, list[Problem]]:
    """Section tree and rules of a body, with the structural problems found on the way."""
    problems: list[Problem] = []
    lines = body.split("\n")
    heads = _headings(body, body_line)
    words = count_words(body)
    if not heads:
        problems.append(
            problem(
                path,
                "the body has no Markdown headings",
                "organise the spec under '# Title' and '## Section' headings",
                line=body_line,
            )
        )
    if words < MIN_WORDS:
        problems.append(
            problem(
                path,
                f"the body has {words} words; a spec needs at least {MIN_WORDS}",
                "write the spec out: what the model does and why",
                line=body_line,
            )
        )
    if words > MAX_WORDS:
        problems.append(
            problem(
                path,
                f"the body has {words:,} words; the limit is {MAX_WORDS:,}",
                "split the spec into several specs, or remove pasted material",
                line=body_line,
            )
        )

    sections: list[Section] = []
    stack: list[Section] = []
    rules: list[Rule] = []
    rule_lines: dict[str, int] = {}
    for k, h in enumerate(heads):
        end = heads[k + 1].index if k + 1 < len(heads) else len(lines)
        own_text = "\n".join(lines[h.index + 1 : end]).strip("\n")
        while stack and stack[-1].level >= h.level:
            stack.pop()
        section = Section(
            heading=h.text,
            level=h.level,
            path=[s.heading for s in stack] + [h.text],
            line=h.line,
            text=own_text,
            words=count_words(own_text),
        )
        (stack[-1].children if stack else sections).append(section)
        stack.append(section)

        if m := RULE_HEADING.match(h.text):
            rid = m.group("id")
            if rid in rule_lines:
                problems.append(
                    problem(
                        path,
                        f"duplicate rule id '{rid}' (first used on line {rule_lines[rid]})",
                        "give every rule a unique id",
                        line=h.line,
                    )
                )
                continue
            rule_lines[rid] = h.line
            parent = rid.rsplit(".", 1)[0] if "." in rid else None
            if parent is not None and parent not in rule_lines:
                problems.append(
                    problem(
                        path,
                        f"sub-rule '{rid}' has no parent rule '{parent}' before it",
                        f"add a '{parent}: ...' heading above it or renumber it",
                        line=h.line,
                    )
                )
            rules.append(Rule(id=rid, title=m.group("title"), parent=parent, line=h.line, bullets=_bullets(own_text)))

    top_level = [r.id for r in rules if r.parent is None]
    for rid in front.rules:
        if rid not in rule_lines:
            problems.append(
                problem(
                    path,
                    f"rule '{rid}' is declared in front matter but has no heading",
                    f"add a heading '## {rid}: <title>' or remove it from `rules`",
                    field="rules",
                )
            )
    for rid in top_level:
        if rid not in front.rules:
            problems.append(
                problem(
                    path,
                    f"rule heading '{rid}' is not declared in front matter `rules`",
                    f"add {rid} to `rules:` in the front matter",
                    line=rule_lines[rid],
                )
            )
    if problems:
        return None, problems

    preamble = "\n".join(lines[: heads[0].index]).strip("\n")
    doc = SpecDocument(
        id=front.id,
        title=front.title,
        version=front.version,
        kind=front.kind,
        description=front.description,
        placeholders={p: None for p in front.placeholders},
        preferences=front.preferences,
        words=words,
        preamble=preamble,
        sections=sections,
        rules=rules,
        source_sha256=source_sha256,
    )
    return doc, []


# ---------------------------------------------------------------- entry points


def load_source(path: Path | str) -> SpecSource:
    """Read and fully validate a spec file; InvalidInput lists every problem found."""
    path = Path(path)
    text = read_spec_source(path)
    front_yaml, body, body_line = split_front_matter(path, text)
    front, problems = parse_front_matter(path, front_yaml)
    if front is None:
        raise InvalidInput(problems)
    problems += check_front_matter(path, front, front_yaml)

    used, brace_problems = scan_placeholders(path, body, body_line)
    problems += brace_problems
    for field in ("title", "description"):  # the front-matter fields that may use placeholders
        field_used, field_problems = scan_placeholders(
            path, getattr(front, field) or "", _field_line(front_yaml, field) or 1
        )
        problems += field_problems
        used |= field_used
    declared = set(front.placeholders)
    for name in sorted(used - declared):
        problems.append(
            problem(
                path,
                f"placeholder '{{{name}}}' is used but not declared",
                f"add {name} to `placeholders:`",
                line=_field_line(front_yaml, "placeholders"),
                field="placeholders",
            )
        )
    for name in sorted(declared - used):
        problems.append(
            problem(
                path,
                f"placeholder '{name}' is declared but never used",
                f"remove {name} from `placeholders:` or use {{{name}}} in the text",
                line=_field_line(front_yaml, "placeholders"),
                field="placeholders",
            )
        )

    source = SpecSource(path=path, front=front, body=body, body_line=body_line, source_sha256=sha256_text(text))
    _, structure_problems = build_document(path, front, body, body_line, source.source_sha256)
    problems += structure_problems
    if problems:
        raise InvalidInput(problems)
    return source


def validate_spec(path: Path | str) -> list[Problem]:
    try:
        load_source(path)
    except InvalidInput as e:
        return e.problems
    return []


def describe(source: SpecSource) -> SpecDocument:
    """The structure of an unrendered spec (placeholders left in place)."""
    doc, problems = build_document(source.path, source.front, source.body, source.body_line, source.source_sha256)
    assert doc is not None and not problems, "load_source validated the structure"
    return doc
