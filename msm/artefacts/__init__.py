"""What each stage writes and the next one reads: file names, layouts and checked readers.

One module per artefact, each the only place its file names are spelled:
  spec_source   a Model Spec source file (specs/*.md): read_spec_source
  spec          an ingest output (spec.md, spec.json, manifest.json): RenderedSpec, read_spec, write_spec_files
  spec_schema   the spec document spec.json holds: SpecDocument, Section, Rule, FrontMatter
  corpus        a document corpus (`msm synthesize docs`): row_files, and training_files for any training input
  aft           an AFT data output (`msm synthesize aft`): AFT_VARIANTS, aft_data_file
  model         model and adapter directories, a training run's output: model_fingerprint, adapter_sha256
  evaluation    an evaluation's output (`msm evaluate`): samples_path, read_finished (manifest + checked metrics)

A lower layer: it imports only msm.errors, msm.hashing, msm.lineage, msm.manifest, msm.outputs,
msm.rows, pydantic and the standard library, never a stage package.
"""
