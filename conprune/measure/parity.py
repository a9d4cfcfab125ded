"""Does the exported model compute what the PyTorch model computes? Checked on real utterances.

The exported graph and the model file are run on the same batches of a corpus split (padded
batches, so the masking path is exercised too): the largest absolute difference of any valid
frame's log-probability, and whether the greedy transcripts are identical, utterance by utterance.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from conprune.data.dataset import AsrDataset, collate
from conprune.data.features import front_end
from conprune.data.sampling import EvalBatchSampler
from conprune.data.tokenizer import Tokenizer
from conprune.inference.onnx_model import OnnxCTC
from conprune.models.conformer import ConformerCTC
from conprune.models.ctc import greedy_decode


@torch.inference_mode()
def onnx_parity(model: ConformerCTC, info: dict, exported: OnnxCTC, rows: list[dict],
                max_frames: int = 30000) -> dict:
    """{"max_abs_log_prob", "transcripts_identical", "differing_transcripts", "utterances"}."""
    tokenizer = Tokenizer(model_proto=info["tokenizer"])
    logmel, cmvn = front_end(info["cmvn"])
    dataset = AsrDataset(rows, tokenizer, cmvn, logmel=logmel)
    loader = DataLoader(dataset, batch_sampler=EvalBatchSampler(dataset.frame_lengths(), max_frames),
                        collate_fn=collate)
    worst, differing, count = 0.0, 0, 0
    model.eval()
    for batch in loader:
        ours = model(batch["features"], batch["lengths"])
        theirs = exported(batch["features"], batch["lengths"])
        for i, n in enumerate(ours.lengths.tolist()):
            worst = max(worst, float((ours.log_probs[i, :n] - theirs.log_probs[i, :n]).abs().max()))
        a = greedy_decode(ours.log_probs, ours.lengths)
        b = greedy_decode(theirs.log_probs, theirs.lengths)
        differing += sum(x != y for x, y in zip(a, b))
        count += len(a)
    return {"max_abs_log_prob": worst, "transcripts_identical": differing == 0,
            "differing_transcripts": differing, "utterances": count}
