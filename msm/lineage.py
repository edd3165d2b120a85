"""Lineage: which spec, corpus, AFT data and checkpoints a score came from.

Every stage that reads another stage's output records that output's lineage node in its own
manifest (`lineage: {input name: node}`), so the evaluation's manifest carries the whole tree
spec → corpus / AFT data → checkpoints → evaluation, even where (in a cluster) the upstream
directories are no longer reachable. A node names an output by the digest of its file hashes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem
from msm.manifest import MANIFEST_NAME, load_manifest


def output_digest(manifest: dict[str, Any]) -> str:
    """sha256 over an output's {file: sha256} map: one hash for a whole output directory."""
    canonical = json.dumps(manifest.get("outputs", {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def node(out_dir: Path | str | None) -> dict[str, Any] | None:
    """The lineage node of an msm output directory (or of the directory holding an output file)."""
    if out_dir is None:
        return None
    path = Path(out_dir)
    home = path.parent if path.is_file() else path
    manifest = load_manifest(home)  # checked: a broken upstream manifest is refused, not dropped
    if manifest is None:
        return None
    entry: dict[str, Any] = {"stage": manifest["stage"], "digest": output_digest(manifest)}
    if manifest["stage"] == "ingest":  # the root of every tree: name the spec itself
        spec_sha = (manifest["inputs"].get("spec") or {}).get("sha256")
        if not isinstance(spec_sha, str):
            raise InvalidInput(
                [
                    problem(
                        home / MANIFEST_NAME,
                        "an ingest manifest without the spec's sha256",
                        "render the spec again with `msm ingest` or `msm spec render`",
                        field="inputs.spec.sha256",
                    )
                ]
            )
        entry["spec_sha256"] = spec_sha
    if volume := _volume(manifest):
        entry["volume"] = volume
    entry["upstream"] = manifest.get("lineage", {})
    return entry


def _volume(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """How much a synthesis output holds and cost (documents or chats, tokens, dollars), so a report
    can state it without the output's directory."""
    counts, tokens = manifest.get("counts", {}), manifest.get("tokens") or {}
    if manifest["stage"] == "synthesize-docs":
        volume = {"documents": counts.get("documents_kept")}
    elif manifest["stage"] == "synthesize-aft":
        volume = {"chats": counts.get("demonstrations"), "preference_chats": counts.get("preference_demos")}
    else:
        return None
    volume["tokens"] = tokens.get("total")
    volume["tokenizer"] = tokens.get("tokenizer")
    volume["cost_usd"] = ((manifest.get("accounting") or {}).get("totals") or {}).get("cost_usd")
    return volume


def volumes(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{stage: volume} of the synthesis outputs along a lineage tree (the nearest of each stage)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(nodes: dict[str, Any]) -> None:
        for n in nodes.values():
            if "volume" in n:
                found.setdefault(n["stage"], n["volume"])
            walk(n.get("upstream", {}))

    walk(tree)
    return found


def upstream_nodes(inputs: dict[str, Path | str | None]) -> dict[str, Any]:
    """Lineage nodes of a stage's inputs that are msm outputs; other inputs are left out."""
    nodes = {name: node(path) for name, path in inputs.items()}
    return {name: n for name, n in nodes.items() if n is not None}


def flatten(tree: dict[str, Any]) -> dict[str, str]:
    """{stage: short digest} along a lineage tree, nearest first (for a report's table)."""
    found: dict[str, str] = {}

    def walk(nodes: dict[str, Any]) -> None:
        for n in nodes.values():
            key = "spec" if n["stage"] == "ingest" else n["stage"]
            value = n.get("spec_sha256", n["digest"])[:12]
            if found.setdefault(key, value) != value and value not in found[key].split(", "):
                found[key] += f", {value}"
            walk(n.get("upstream", {}))

    walk(tree)
    return found
