"""The transformers side of the Hugging Face round trip (`scripts/hf_roundtrip.sh`), and its record.

`transcribe` runs an exported checkpoint directory the way a transformers user would, with nothing
of conprune's in the path: `ParakeetForCTC` and `AutoProcessor` loaded from the directory alone,
audio read with soundfile, `processor(audio, sampling_rate=16000)` on padded batches, greedy
`model.generate` and `processor.batch_decode`. Only the scoring is shared with `conprune evaluate`
(torchmetrics' word error rate against the manifest transcripts), after upper-casing each hypothesis,
conprune's transcript convention; so a WER that differs from conprune's own measures a difference in
the model, the front end or the tokenizer, never in the scoring. Hypotheses are written in the
format of `conprune evaluate --predictions` (id, speaker, ref, hyp), so the two can be compared
utterance by utterance.

`record` gathers what the round trip wrote under its run directory into one JSON file
(bench/hf_roundtrip_cpu.json): both WERs of the exported teacher and their difference, how many
hypotheses differ, the parity checks of export and import, the -50 % student and the commands.

    python scripts/hf_transcribe.py transcribe DIR --data-root data/synth --splits test-clean,test-other \
        --out OUT.json --predictions PRED_DIR
    python scripts/hf_transcribe.py record runs/hf-roundtrip --out bench/hf_roundtrip_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import time
from pathlib import Path

import soundfile
import torch
from torchmetrics.functional.text import word_error_rate

SAMPLE_RATE = 16000


def read_rows(data_root: Path, split: str) -> list[dict]:
    """The manifest rows of `split` (written by `conprune data prepare`)."""
    path = data_root / "manifests" / f"{split}.jsonl"
    if not path.is_file():
        raise SystemExit(f"no manifest {path}: run `make data` (or `conprune data prepare`) first")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def length_batches(rows: list[dict], max_seconds: float) -> list[list[int]]:
    """Row indices in batches of similar length, at most `max_seconds` of padded audio each."""
    batches: list[list[int]] = [[]]
    for i in sorted(range(len(rows)), key=lambda i: rows[i]["num_samples"]):
        if batches[-1] and rows[i]["num_samples"] / SAMPLE_RATE * (len(batches[-1]) + 1) > max_seconds:
            batches.append([])
        batches[-1].append(i)
    return [b for b in batches if b]


def transcribe(directory: Path, rows: list[dict], max_seconds: float = 240.0) -> list[str]:
    """transformers' greedy transcripts of manifest rows, in row order. Utterances are batched by
    length, as a user transcribing a corpus would; the attention mask keeps padding out of every
    utterance's result."""
    import transformers

    processor = transformers.AutoProcessor.from_pretrained(directory)
    model = transformers.ParakeetForCTC.from_pretrained(directory, dtype=torch.float32).eval()
    hyps = [""] * len(rows)
    for batch in length_batches(rows, max_seconds):
        audio = [soundfile.read(rows[j]["path"], dtype="float32")[0] for j in batch]
        inputs = processor(audio, sampling_rate=SAMPLE_RATE)
        with torch.inference_mode():
            ids = model.generate(**inputs)
        for j, text in zip(batch, processor.batch_decode(ids, skip_special_tokens=True)):
            hyps[j] = text.upper()
    return hyps


def write_predictions(out_dir: Path, split: str, rows: list[dict], hyps: list[str]) -> None:
    """predictions-<split>.jsonl as `conprune evaluate --predictions` writes it (sorted by id)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": r["id"], "speaker": r.get("speaker", ""), "ref": r["text"], "hyp": h})
             for r, h in sorted(zip(rows, hyps), key=lambda pair: pair[0]["id"])]
    (out_dir / f"predictions-{split}.jsonl").write_text("".join(line + "\n" for line in lines))


def transcribe_command(args: argparse.Namespace) -> None:
    import transformers

    start, wer, refs, hyps = time.time(), {}, [], []
    for split in args.splits.split(","):
        rows = read_rows(Path(args.data_root), split)
        split_hyps = transcribe(Path(args.model_dir), rows)
        wer[split] = float(word_error_rate(split_hyps, [r["text"] for r in rows]))
        refs += [r["text"] for r in rows]
        hyps += split_hyps
        if args.predictions:
            write_predictions(Path(args.predictions), split, rows, split_hyps)
    result = {"wer": wer, "wer_pooled": float(word_error_rate(hyps, refs)), "utterances": len(refs),
              "seconds": round(time.time() - start, 1), "transformers": transformers.__version__,
              "model_class": "ParakeetForCTC", "processor": "AutoProcessor"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


def predictions(directory: Path, splits: list[str]) -> dict[str, dict[str, dict]]:
    """Per split: utterance id -> its predictions row."""
    return {s: {row["id"]: row for row in map(json.loads, (directory / f"predictions-{s}.jsonl").read_text()
                                              .splitlines())} for s in splits}


def pooled(preds: dict[str, dict[str, dict]]) -> dict[str, float]:
    """WER of each split and of all splits together (word-weighted), from predictions rows."""
    rows = {s: list(p.values()) for s, p in preds.items()}
    wer = {s: float(word_error_rate([r["hyp"] for r in rs], [r["ref"] for r in rs])) for s, rs in rows.items()}
    every = [r for rs in rows.values() for r in rs]
    return wer | {"pooled": float(word_error_rate([r["hyp"] for r in every], [r["ref"] for r in every]))}


def fit_seconds(run: Path) -> float | None:
    """The fit wall time `conprune stage` stamped into RUN/DONE."""
    done = run / "DONE"
    return float(done.read_text().split(":")[1].split()[0]) if done.is_file() else None


def commands(path: Path) -> list[str]:
    """The commands scripts/hf_roundtrip.sh noted (shell-quoted, a tab, then a file for `> FILE`)."""
    lines = [line.partition("\t") for line in path.read_text().splitlines()]
    return [shlex.join(shlex.split(words)) + (f" > {file}" if file else "") for words, _, file in lines]


def record_command(args: argparse.Namespace) -> None:
    """Write the bench JSON from the files the round trip left under `args.run` (their names are
    fixed by scripts/hf_roundtrip.sh)."""
    import transformers

    run, splits = Path(args.run), args.splits.split(",")
    def load(name: str) -> dict:
        return json.loads((run / name).read_text())

    teacher, student = load("teacher/results.json"), json.loads((Path(args.student) / "results.json").read_text())
    ours, theirs = predictions(run / "teacher/predictions", splits), predictions(run / "transformers/predictions", splits)
    reimported = predictions(run / "imported/predictions", splits)
    wer_ours, wer_theirs = pooled(ours), pooled(theirs)
    differ = {s: sum(ours[s][u]["hyp"] != theirs[s][u]["hyp"] for u in ours[s]) for s in splits}
    differ_words = {s: sum(ours[s][u]["hyp"].split() != theirs[s][u]["hyp"].split() for u in ours[s]) for s in splits}
    export, imported = load("export.json"), load("imported/import.json")
    stages = {name: fit_seconds(run / name) for name in ("teacher", "prune", "finetune")}
    finetuned = Path(args.student).name == "finetune"
    record = {
        "what": "a Parakeet-architecture teacher trained here (quick schedule), exported with `conprune export "
                "--format hf`, transcribed by transformers' own ParakeetForCTC + AutoProcessor, imported back and "
                "pruned to -50 % params; greedy CTC, no LM",
        "teacher": {"config": teacher["config"], "params": teacher["params"], "fit_s": stages["teacher"],
                    "front_end": "parakeet (transformers' ParakeetFeatureExtractor, reproduced)",
                    "tokenizer": "conprune SentencePiece unigram, 64 pieces (exported as a tokenizers Unigram)"},
        "export_parity": export["parity"], "import_parity": imported["parity"],
        "wer_transformers": wer_theirs, "wer_conprune": wer_ours,
        "wer_difference_points": {k: round(100 * (wer_theirs[k] - wer_ours[k]), 4) for k in wer_ours},
        "hypotheses_differing": differ, "hypotheses_differing_in_words": differ_words,
        "hypotheses_note": "a hypothesis string can differ only in white space (transformers' tokenizer decoder keeps "
                           "a leading space where the first piece starts a word); the WER compares words",
        "utterances": {s: len(ours[s]) for s in splits},
        "wer_conprune_reimported": pooled(reimported),
        "transformers_transcribe_s": load("transformers/results.json")["seconds"],
        "student": {"target": "params -50 %", "stages": ["prune (quick, 250 steps)", "compact"]
                    + (["finetune (quick, 60 steps)", "compact"] if finetuned else []),
                    "params": student["params"], "dense_params": student["dense_params"],
                    "params_ratio": round(student["params"] / student["dense_params"], 4),
                    "wer": pooled(predictions(Path(args.student) / "predictions", splits)),
                    "prune_fit_s": stages["prune"], "finetune_fit_s": stages["finetune"]},
        "commands": commands(run / "commands.txt"),
        "device": f"{platform.machine()} CPU, {torch.get_num_threads()} threads", "torch": torch.__version__,
        "transformers": transformers.__version__, "date": datetime.date.today().isoformat(),
    }
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: record[k] for k in ("wer_transformers", "wer_conprune", "wer_difference_points",
                                             "hypotheses_differing_in_words")} | {"student": record["student"]["wer"]},
                     indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    t = sub.add_parser("transcribe", help="WER of an exported directory with transformers' own classes")
    t.add_argument("model_dir", help="directory written by `conprune export --format hf`")
    t.add_argument("--data-root", default="data/synth")
    t.add_argument("--splits", default="test-clean,test-other")
    t.add_argument("--out", required=True, help="results JSON to write")
    t.add_argument("--predictions", help="directory for predictions-<split>.jsonl")
    r = sub.add_parser("record", help="the bench JSON of a finished round trip")
    r.add_argument("run", help="the round trip's run directory (runs/hf-roundtrip)")
    r.add_argument("--student", required=True, help="run directory of the evaluated student (prune or finetune)")
    r.add_argument("--splits", default="test-clean,test-other")
    r.add_argument("--out", required=True)
    args = parser.parse_args()
    transcribe_command(args) if args.verb == "transcribe" else record_command(args)


if __name__ == "__main__":
    main()
