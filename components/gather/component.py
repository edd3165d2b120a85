"""Gather: up to 24 evaluations (or bundles of them) as one bundle, for a study with more runs than
one report has slots."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def gather(
    bundle: Output[Dataset],
    run01: Input[Dataset] = None,
    run02: Input[Dataset] = None,
    run03: Input[Dataset] = None,
    run04: Input[Dataset] = None,
    run05: Input[Dataset] = None,
    run06: Input[Dataset] = None,
    run07: Input[Dataset] = None,
    run08: Input[Dataset] = None,
    run09: Input[Dataset] = None,
    run10: Input[Dataset] = None,
    run11: Input[Dataset] = None,
    run12: Input[Dataset] = None,
    run13: Input[Dataset] = None,
    run14: Input[Dataset] = None,
    run15: Input[Dataset] = None,
    run16: Input[Dataset] = None,
    run17: Input[Dataset] = None,
    run18: Input[Dataset] = None,
    run19: Input[Dataset] = None,
    run20: Input[Dataset] = None,
    run21: Input[Dataset] = None,
    run22: Input[Dataset] = None,
    run23: Input[Dataset] = None,
    run24: Input[Dataset] = None,
):
    """Copy evaluations into one bundle, in slot order (msm.artefacts.bundle.write_bundle); the report
    reads a bundle's runs as if each had its own slot.

    Args:
        bundle: The runs, each in its own folder, listed in bundle.json.
        run01: An evaluation or a bundle.
        run02: Another evaluation or bundle, or none.
        run03: Another evaluation or bundle, or none.
        run04: Another evaluation or bundle, or none.
        run05: Another evaluation or bundle, or none.
        run06: Another evaluation or bundle, or none.
        run07: Another evaluation or bundle, or none.
        run08: Another evaluation or bundle, or none.
        run09: Another evaluation or bundle, or none.
        run10: Another evaluation or bundle, or none.
        run11: Another evaluation or bundle, or none.
        run12: Another evaluation or bundle, or none.
        run13: Another evaluation or bundle, or none.
        run14: Another evaluation or bundle, or none.
        run15: Another evaluation or bundle, or none.
        run16: Another evaluation or bundle, or none.
        run17: Another evaluation or bundle, or none.
        run18: Another evaluation or bundle, or none.
        run19: Another evaluation or bundle, or none.
        run20: Another evaluation or bundle, or none.
        run21: Another evaluation or bundle, or none.
        run22: Another evaluation or bundle, or none.
        run23: Another evaluation or bundle, or none.
        run24: Another evaluation or bundle, or none.
    """
    from pathlib import Path

    from msm.artefacts.bundle import write_bundle

    slots = (
        run01,
        run02,
        run03,
        run04,
        run05,
        run06,
        run07,
        run08,
        run09,
        run10,
        run11,
        run12,
        run13,
        run14,
        run15,
        run16,
        run17,
        run18,
        run19,
        run20,
        run21,
        run22,
        run23,
        run24,
    )
    write_bundle([Path(a.path) for a in slots if a is not None], Path(bundle.path))
