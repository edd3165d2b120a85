"""Typed shapes of a Model Spec: the front matter users write and the document `spec.json` holds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KINDS = ("preference", "philosophy", "rules", "value-augmented", "rule-augmented", "general")
RULE_KINDS = frozenset({"rules", "value-augmented", "rule-augmented"})
PLACEHOLDERS = ("model_name", "provider_name")
SPEC_SCHEMA = "msm.spec/v1"

Kind = Literal["preference", "philosophy", "rules", "value-augmented", "rule-augmented", "general"]
Placeholder = Literal["model_name", "provider_name"]


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    likes: list[str] = Field(min_length=1)
    dislikes: list[str] = Field(min_length=1)


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    title: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    kind: Kind
    description: str | None = None
    placeholders: list[Placeholder]
    rules: list[str] = Field(default_factory=list)
    preferences: Preferences | None = None


class Section(BaseModel):
    heading: str
    level: int
    path: list[str]
    line: int
    text: str
    words: int
    children: list[Section] = Field(default_factory=list)


class Rule(BaseModel):
    id: str
    title: str
    parent: str | None
    line: int
    bullets: list[str]


class SpecDocument(BaseModel):
    """What `spec.json` holds. Placeholder values are None until the spec is rendered."""

    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(default=SPEC_SCHEMA, alias="schema")
    id: str
    title: str
    version: str
    kind: Kind
    description: str | None
    placeholders: dict[str, str | None]
    preferences: Preferences | None
    words: int
    preamble: str
    sections: list[Section]
    rules: list[Rule]
    source_sha256: str
    rendered_sha256: str | None = None

    def iter_sections(self):
        """Depth-first walk of the section tree, parents before children."""
        stack = list(reversed(self.sections))
        while stack:
            s = stack.pop()
            yield s
            stack.extend(reversed(s.children))

    def dump(self) -> dict:
        return self.model_dump(by_alias=True, mode="json")
