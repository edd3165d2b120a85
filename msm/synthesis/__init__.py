"""Stage 2, synthesis: the MSM document corpus and the AFT demonstrations, from an ingest output
(msm.artefacts.spec; the CLI ingests a spec .md file first).

Entry points: `msm.synthesis.corpus_stage.synthesize_documents`, `msm.synthesis.aft_stage.synthesize_aft`,
`msm.synthesis.preview.preview`. Every call to the generator goes through msm.llm's client; the
recipe section is `msm.config.synthesis`.
"""
