"""conprune.stages: the plain-torch side of the training stages, importable without Lightning.

A stage's argument groups (`settings`), the checkpoint files it writes and reads (`checkpoint_io`),
the standalone model files cut from them (`export`, `baseline_export`) and the registry of
comparison methods (`methods`). `measure` and `report` read runs through this package, never
through `conprune.lit`, so a report or a benchmark needs no Lightning.
"""
