"""The plain (non-Lightning) verbs of `conprune`: each one's arguments and what it runs.

`conprune.cli.COMMANDS` is the table that names them; these modules only hold the two halves of
each verb: `<verb>_args(parser)` declares its options, `<verb>(args)` runs it. Heavy imports
(torch, Lightning, matplotlib) happen inside the handlers, so `conprune --help` stays fast.
"""

from conprune.commands.data import (
    download,
    download_args,
    prepare,
    prepare_args,
    synth,
    synth_args,
    tokenizer,
    tokenizer_args,
)
from conprune.commands.interop import import_hf, import_hf_args
from conprune.commands.measure import bench, bench_args, evaluate, evaluate_args, step_ratio, step_ratio_args
from conprune.commands.models import (
    baseline,
    baseline_args,
    compact,
    compact_args,
    export,
    export_args,
    quantize,
    quantize_args,
    transcribe,
    transcribe_args,
)
from conprune.commands.report import (
    prune_summary,
    prune_summary_args,
    readme,
    readme_args,
    report,
    report_args,
    voices,
    voices_args,
)
from conprune.commands.run_steps import stage, stage_args
from conprune.commands.ship import card_lm, card_lm_args, ship_teacher, ship_teacher_args
from conprune.commands.sweep import sweep, sweep_args

__all__ = [
    "baseline",
    "baseline_args",
    "bench",
    "bench_args",
    "card_lm",
    "card_lm_args",
    "compact",
    "compact_args",
    "download",
    "download_args",
    "evaluate",
    "evaluate_args",
    "export",
    "export_args",
    "import_hf",
    "import_hf_args",
    "prepare",
    "prepare_args",
    "prune_summary",
    "prune_summary_args",
    "quantize",
    "quantize_args",
    "readme",
    "readme_args",
    "report",
    "report_args",
    "ship_teacher",
    "ship_teacher_args",
    "stage",
    "stage_args",
    "step_ratio",
    "step_ratio_args",
    "sweep",
    "sweep_args",
    "synth",
    "synth_args",
    "tokenizer",
    "tokenizer_args",
    "transcribe",
    "transcribe_args",
    "voices",
    "voices_args",
]
