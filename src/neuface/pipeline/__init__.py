"""`neuface run` and `neuface demo`: the whole pipeline as one resumable job.

- `names`: the stage names and their order (light: imported by the CLI for `--help`).
- `params`: each stage's options from neuface.toml tables, parsed exactly as the stage's own command would.
- `state`: per-step stamps (what ran, with which options, when) that make re-runs skip finished work.
- `journal`: `workspace/run.log` and `workspace/run_summary.json`, updated as each step starts and ends.
- `steps`: one adapter per stage: decide (run / skip and why) and run through the stage's library function.
- `runner`: `run_pipeline`, stopping at the first failing step with its error and a hint.
- `clips`, `preview`, `demo`: the self-contained demo built from public-domain portraits shipped inside dependencies.
"""
