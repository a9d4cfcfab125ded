"""Beam-search time per second of audio against the acoustic models' own, side by side, 1 thread.

Which beam `conprune.inference.lm_decoder` takes by default is a speed decision: the search must
cost less per audio second than the acoustic model of the -50 % params student. This probe runs,
interleaved in one process (`conprune.measure.latency.side_by_side`, medians of repeats): the
teacher's and the student's forward passes over every dev utterance (batch 1), and the search
over the teacher's log-probabilities of the same utterances at each beam (batch 1). It prints one
JSON row per beam, with the dev WER the search reached there.

    python scripts/probes/lm_decode_speed.py --teacher pretrained/demo-teacher-v1/model.pt \
        --student /tmp/s50.pt --lm data/synth/lm/words-4gram.bin --beams 8,16,24,32,48,64
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace

import torch
from torchmetrics.functional.text import word_error_rate

from conprune.data import layout
from conprune.data.dataset import AsrDataset
from conprune.data.features import front_end
from conprune.data.manifest import read_manifest
from conprune.data.tokenizer import Tokenizer
from conprune.inference.decoder_meta import resolve
from conprune.inference.lm_decoder import BeamDecoder, BeamSettings
from conprune.measure.latency import side_by_side
from conprune.models.package import load_model


def features(info: dict, rows: list[dict]) -> list[torch.Tensor]:
    """Normalised features [1, T, F] of each row, as the model's own front end makes them."""
    logmel, cmvn = front_end(info["cmvn"])
    dataset = AsrDataset(rows, Tokenizer(model_proto=info["tokenizer"]), cmvn, logmel=logmel)
    return [dataset[i]["features"][None] for i in range(len(rows))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", required=True, help="the -50 % params student (its acoustic time is the bound)")
    p.add_argument("--lm", required=True)
    p.add_argument("--data-root", default="data/synth")
    p.add_argument("--splits", default="dev-clean,dev-other")
    p.add_argument("--beams", default="8,16,24,32,48,64")
    p.add_argument("--beam-token", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = [r for s in args.splits.split(",") for r in read_manifest(layout.manifest_path(args.data_root, s))]
    audio_s = sum(r["num_samples"] / r["sample_rate"] for r in rows)
    teacher, info = load_model(args.teacher)
    student, student_info = load_model(args.student)
    feats, student_feats = features(info, rows), features(student_info, rows)
    with torch.inference_mode():
        log_probs = [teacher(f, None).log_probs for f in feats]
    _, tuned = resolve(info, "beam", args.lm, {})  # the model's tuned weights for this LM, if any
    if args.beam_token is not None:
        tuned = replace(tuned, beam_token=args.beam_token)
    tokenizer = Tokenizer(model_proto=info["tokenizer"])
    decoders = {int(b): BeamDecoder(tokenizer, args.lm, replace(tuned, beam=int(b))) for b in args.beams.split(",")}
    hyps: dict[int, list[str]] = {}

    def search(beam: int):
        def run() -> None:
            decoder = decoders[beam]
            hyps[beam] = [decoder(lp, torch.tensor([lp.shape[1]]))[0] for lp in log_probs]
        return run

    calls = {"teacher": lambda: [teacher(f, None) for f in feats],
             "student": lambda: [student(f, None) for f in student_feats],
             **{f"beam{b}": search(b) for b in decoders}}
    timed = side_by_side(calls, repeats=args.repeats, warmup=1)
    refs = [r["text"] for r in rows]
    per_s = {name: 1000 * t["median_s"] / audio_s for name, t in timed.items()}
    for beam, decoder in decoders.items():
        settings: BeamSettings = decoder.settings
        print(json.dumps({
            "command": "python " + shlex.join(sys.argv), "splits": args.splits, "audio_s": round(audio_s, 1),
            "threads": 1, "lm": args.lm, **settings.to_dict(), "search": decoder.kind,
            "search_ms_per_audio_s": round(per_s[f"beam{beam}"], 3),
            "teacher_acoustic_ms_per_audio_s": round(per_s["teacher"], 3),
            "student_acoustic_ms_per_audio_s": round(per_s["student"], 3),
            "search_under_student": per_s[f"beam{beam}"] < per_s["student"],
            "dev_wer": round(float(word_error_rate(hyps[beam], refs)), 4)}))


if __name__ == "__main__":
    main()
