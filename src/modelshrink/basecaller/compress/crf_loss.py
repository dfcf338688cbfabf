"""The flip-flop CRF loss used to fine-tune pruned and quantized networks.

Loss = log Z - log S(sequence): Z sums the exponentiated scores of every state path
(`taiyaki.flipflop.log_partition`, the same forward algorithm the decoder uses), S
sums those of the paths that spell the true sequence. Both are forward algorithms in
log space, differentiable by autograd, batched over chunks.

The true sequence is coded as flip-flop states the way Taiyaki does: a base is in its
flip state unless it repeats the previous base while that one was flip, then flop
(AAA -> flip A, flop A, flip A). A path spells the sequence when it visits those states
in order, staying any number of steps in each; it starts in the first base's state.

`flipflop_kl` is the distillation loss: the exact KL divergence between the teacher's
and the student's distributions over whole state paths. Because a path's score is a
sum of per-step transition scores, E_teacher[log P_student(path)] needs only the
teacher's transition posteriors q: KL = (log Z_s - sum q * s_s) - (log Z_t - sum q * s_t).
It needs no labels (any signal teaches), is zero when the student equals the teacher,
and its gradient with respect to the student's scores is p_student - q_teacher.
"""

from __future__ import annotations

import torch

from modelshrink.basecaller.flipflop import (
    fast_log_partition,
    nbase_from_scores,
    transition_posteriors,
)
from modelshrink.errors import ModelshrinkError

IMPOSSIBLE = 1e30


class _LogPartition(torch.autograd.Function):
    """log Z with its exact gradient, the transition posteriors, both from the decoder's
    written-out forward-backward: autograd through the 1000-step logsumexp recursion
    took ~5x longer than the whole rest of a fine-tuning step."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scores)
        return fast_log_partition(scores)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (scores,) = ctx.saved_tensors
        return grad[None, :, None] * transition_posteriors(scores.detach())


def flipflop_states(bases: torch.Tensor, lengths: torch.Tensor, nbase: int) -> torch.Tensor:
    """Flip-flop state of every base, [B, L] from bases [B, L] (0..nbase-1)."""
    states = bases.clone()
    for position in range(1, bases.shape[1]):
        repeat = (bases[:, position] == bases[:, position - 1]) & (states[:, position - 1] < nbase)
        states[:, position] = torch.where(repeat, bases[:, position] + nbase, bases[:, position])
    return torch.where(torch.arange(bases.shape[1]) < lengths[:, None], states, 0)


def transition_index(source: torch.Tensor, dest: torch.Tensor, nbase: int) -> torch.Tensor:
    """Index into the 2*nbase*(nbase+1) scores of the transition source -> dest.

    Into flip b from any state s: b * 2nbase + s; into flop b from flip b:
    2nbase^2 + b; flop b staying: 2nbase^2 + nbase + b (docs/TAIYAKI_FACTS.md layout). The
    caller only asks for allowed transitions.
    """
    into_flip = dest * 2 * nbase + source
    flop_base = dest - nbase
    into_flop = 2 * nbase * nbase + flop_base + torch.where(source == dest, nbase, 0)
    return torch.where(dest < nbase, into_flip, into_flop)


def sequence_log_score(
    scores: torch.Tensor, bases: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """log S: log-sum of the scores of all paths spelling each sequence, [B]."""
    _, batch, nscore = scores.shape
    nbase = nbase_from_scores(nscore)
    states = flipflop_states(bases, lengths, nbase)
    stay = transition_index(states, states, nbase)  # [B, L]
    move = transition_index(states[:, :-1], states[:, 1:], nbase)  # [B, L-1]
    # large but finite, as Taiyaki's start penalty: -inf would give NaN gradients
    alpha = torch.full((batch, bases.shape[1]), -IMPOSSIBLE, dtype=scores.dtype)
    alpha[:, 0] = 0.0
    for scores_t in scores.unbind(0):
        stayed = alpha + scores_t.gather(1, stay)
        moved = alpha[:, :-1] + scores_t.gather(1, move)
        alpha = torch.cat([stayed[:, :1], torch.logaddexp(stayed[:, 1:], moved)], 1)
    return alpha.gather(1, (lengths - 1)[:, None]).squeeze(1)


def flipflop_nll(
    scores: torch.Tensor, bases: torch.Tensor, lengths: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Negative log-likelihood of the true sequences under the flip-flop CRF.

    scores [T, B, 40] (network output), bases [B, L] int (0..3, padded anyhow past each
    length), lengths [B]. `reduction` "none" gives [B]; "mean" divides each chunk by
    its T steps first (Taiyaki reports loss per step) and averages; "sum" adds.
    """
    nsteps = scores.shape[0]
    lengths = lengths.to(torch.long)
    bases = bases.to(torch.long)
    if bases.shape[0] != scores.shape[1] or lengths.shape != (scores.shape[1],):
        raise ModelshrinkError(
            f"flip-flop loss: {scores.shape[1]} chunks of scores but bases {tuple(bases.shape)} "
            f"and lengths {tuple(lengths.shape)}"
        )
    if bool((lengths < 1).any()) or bool((lengths - 1 > nsteps).any()):
        raise ModelshrinkError(
            f"flip-flop loss: every sequence needs 1 to {nsteps + 1} bases for {nsteps} "
            f"steps (one base per step at most), got lengths {lengths.tolist()}"
        )
    nll = _LogPartition.apply(scores) - sequence_log_score(scores, bases, lengths)
    return _reduce(nll, nsteps, reduction, "flip-flop loss")


def _reduce(losses: torch.Tensor, nsteps: int, reduction: str, what: str) -> torch.Tensor:
    """Per-chunk losses [B] as asked: "none", "sum", or "mean" of the per-step losses."""
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return (losses / nsteps).mean()
    raise ModelshrinkError(f"{what} reduction {reduction!r}: expected none, mean or sum")


def flipflop_kl(
    scores: torch.Tensor, teacher_scores: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """KL(teacher || student) of the two flip-flop CRFs' path distributions.

    scores, teacher_scores [T, B, 40]; the teacher's are treated as constants.
    `reduction` as in `flipflop_nll` ("mean" divides each chunk by its T steps).
    """
    if scores.shape != teacher_scores.shape:
        raise ModelshrinkError(
            f"distillation loss: student scores {tuple(scores.shape)} and teacher scores "
            f"{tuple(teacher_scores.shape)} differ; the teacher must see the same chunks"
        )
    nsteps = scores.shape[0]
    teacher = teacher_scores.detach()
    with torch.no_grad():
        posteriors = transition_posteriors(teacher)
        teacher_entropy = fast_log_partition(teacher) - (posteriors * teacher).sum((0, 2))
    cross_entropy = _LogPartition.apply(scores) - (posteriors * scores).sum((0, 2))
    return _reduce(cross_entropy - teacher_entropy, nsteps, reduction, "distillation loss")
