"""neuface merge stage: apply a model to a dst video (DFL's merger, dfl-formats.md §10).

Modules, one job each: `options` (DFL's option names and ranges), `faces` (stored alignments or on-the-fly
detection), `models` (.dfm via onnxruntime, SAEHD model folder via PyTorch), `masks` (mask modes, DFL's
erode/blur), `effects` (hist-match, blur/sharpen, colour transfer glue), `motion` (DFL's motion estimate and
motion blur, with the streaming lookahead), `paste` (per-face paste-back),
`merger` (batched model calls, threaded paste), `encode` (PyAV video with the dst's timing and audio),
`label` and `provenance` (visible label, container metadata), `preview` (before|after sheet) and
`pipeline.run_merge` (the whole command, safely).
"""
