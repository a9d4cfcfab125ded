"""Training compute of a comparison run, so that rivals can be given conprune's compute, not only its steps.

Equal steps are not equal compute: conprune's gate phase trains the full-width student (gates only
mask it), so its steps cost more than those of a rival trained at the pruned size from the start
(measured on the full schedule: 853 s against 598 s of training, medians). The rule, in MACs per
training step on the same batches: the teacher runs forward once (T) and the student forward and
backward, about three forwards (3 S, Kaplan et al. 2020's 2+4 FLOPs per parameter and token, the
convolutions and attention alike); T and S are the models' forward MACs for 10 s of audio from
the analytic cost model. conprune's run costs P (T + 3 T) + F (T + 3 S) for P gate-phase and F
finetune steps with a compact student S; a rival whose student costs R gets
ceil(conprune's cost / (T + 3 R)) steps. Distillation projections and the gates themselves are
left out (under 1 % of a step here).
"""

from __future__ import annotations

import math

STUDENT_FORWARD_AND_BACKWARD = 3.0


def step_macs(teacher_macs: float, student_macs: float) -> float:
    """MACs of one distillation step: the teacher's forward, the student's forward and backward."""
    return teacher_macs + STUDENT_FORWARD_AND_BACKWARD * student_macs


def conprune_macs(teacher_macs: float, student_macs: float, gate_steps: int, finetune_steps: int) -> float:
    """conprune's training compute: gate-phase steps on the full-width student (the teacher's
    size), then finetune steps on the compact student."""
    return gate_steps * step_macs(teacher_macs, teacher_macs) + finetune_steps * step_macs(teacher_macs, student_macs)


def equal_compute_steps(teacher_macs: float, student_macs: float, gate_steps: int, finetune_steps: int,
                        rival_macs: float) -> int:
    """The steps at which a rival whose student costs `rival_macs` has used conprune's compute."""
    if min(teacher_macs, student_macs, rival_macs) <= 0 or gate_steps < 0 or finetune_steps < 0:
        raise ValueError("MACs must be positive and step counts non-negative")
    total = conprune_macs(teacher_macs, student_macs, gate_steps, finetune_steps)
    return math.ceil(total / step_macs(teacher_macs, rival_macs))
