"""Flip-flop state space and decoding, exactly as Taiyaki's basecaller does it.

With `nbase` bases there are 2*nbase states: flip 0..nbase-1 and flop nbase..2*nbase-1.
The 2*nbase*(nbase+1) scores of a step are laid out as
  [nbase destination flip bases x 2*nbase source states]  (move into flip b from anywhere)
  [nbase flip b -> flop b] + [nbase flop b -> flop b]      (flop b only from flip b / itself)

Taiyaki's default ("posterior") decoding: the scores become log(posterior + 1e-8) of
each transition, posteriors being the forward-backward marginals (the gradient of the
log-partition function), then Viterbi on those. The forward-backward here is written
out rather than taken from autograd, and in probability space, which is what makes it
fast.
"""

from __future__ import annotations

import numpy as np
import torch

VITERBI_START_PENALTY = 1e30
PARTITION_START_PENALTY = 50000.0
POSTERIOR_FLOOR = 1e-8


def nbase_from_scores(nscore: int) -> int:
    """Inverts nscore = 2 * nbase * (nbase + 1)."""
    nbase = int((np.sqrt(1 + 2 * nscore) - 1) / 2)
    if 2 * nbase * (nbase + 1) != nscore:
        raise ValueError(f"{nscore} scores is not a flip-flop layout")
    return nbase


def _split(scores_t: torch.Tensor, nbase: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of one step [B, S] -> into-flip [B, nbase, 2*nbase], into-flop [B, 2, nbase]."""
    batch = scores_t.shape[0]
    to_flip = scores_t[:, : 2 * nbase * nbase].reshape(batch, nbase, 2 * nbase)
    to_flop = scores_t[:, 2 * nbase * nbase :].reshape(batch, 2, nbase)
    return to_flip, to_flop


def _initial_state(batch: int, nbase: int, penalty: float, like: torch.Tensor) -> torch.Tensor:
    state = torch.zeros(batch, 2 * nbase, dtype=like.dtype, device=like.device)
    state[:, nbase:] = -penalty
    return state


def log_partition(scores: torch.Tensor) -> torch.Tensor:
    """log Z per sequence of scores [T, B, S]: forward algorithm, renormalised each step."""
    _, batch, nscore = scores.shape
    nbase = nbase_from_scores(nscore)
    fwd = _initial_state(batch, nbase, PARTITION_START_PENALTY, scores)
    log_z = fwd.logsumexp(1)
    fwd = fwd - log_z[:, None]
    for scores_t in scores.unbind(0):
        fwd = _forward_step(fwd, scores_t, nbase)
        factor = fwd.logsumexp(1)
        fwd = fwd - factor[:, None]
        log_z = log_z + factor
    return log_z


def _forward_step(fwd: torch.Tensor, scores_t: torch.Tensor, nbase: int) -> torch.Tensor:
    to_flip, to_flop = _split(scores_t, nbase)
    into_flip = (fwd[:, None, :] + to_flip).logsumexp(2)
    into_flop = torch.logaddexp(fwd[:, :nbase] + to_flop[:, 0], fwd[:, nbase:] + to_flop[:, 1])
    return torch.cat([into_flip, into_flop], 1)


def _transition_ends(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Source and destination state of each of the 2*nbase*(nbase+1) scores of a step,
    on the scores' device."""
    nbase = nbase_from_scores(scores.shape[-1])
    nstate = 2 * nbase
    flip_source = torch.arange(nstate).repeat(nbase)
    flip_destination = torch.arange(nbase).repeat_interleave(nstate)
    bases = torch.arange(nbase)
    source = torch.cat([flip_source, bases, nbase + bases])
    destination = torch.cat([flip_destination, nbase + bases, nbase + bases])
    return source.to(scores.device), destination.to(scores.device)


def _transition_weights(
    scores: torch.Tensor, source: torch.Tensor, destination: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """exp(scores) shifted by each step's maximum (which changes no posterior), the same
    weights as state x state matrices [T, B, S, S] (`_transition_ends`), and the shifts
    [T, B]."""
    nsteps, batch, nscore = scores.shape
    nstate = 2 * nbase_from_scores(nscore)
    shifts = scores.amax(2)
    weights = (scores - shifts[:, :, None]).exp()
    matrices = scores.new_zeros(nsteps, batch, nstate * nstate)
    matrices.index_copy_(2, source * nstate + destination, weights)
    return weights, matrices.view(nsteps, batch, nstate, nstate), shifts


def _normalised_forward(
    matrices: torch.Tensor, start: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward probabilities [T + 1, B, 1, S], each step renormalised to sum to 1, and
    the log of each step's normaliser [T + 1, B] (step 0: the start state's)."""
    nsteps, batch, nstate, _ = matrices.shape
    forward = matrices.new_empty(nsteps + 1, batch, 1, nstate)
    totals = matrices.new_empty(nsteps + 1, batch, 1, 1)
    totals[0] = start.sum(1)[:, None, None]
    forward[0] = start[:, None] / totals[0]
    for t in range(nsteps):
        step = torch.bmm(forward[t], matrices[t])
        torch.sum(step, 2, keepdim=True, out=totals[t + 1])
        torch.div(step, totals[t + 1], out=forward[t + 1])
    return forward, totals[:, :, 0, 0].log()


def _start_probabilities(scores: torch.Tensor) -> torch.Tensor:
    batch, nbase = scores.shape[1], nbase_from_scores(scores.shape[2])
    return _initial_state(batch, nbase, PARTITION_START_PENALTY, scores).exp()


@torch.no_grad()
def fast_log_partition(scores: torch.Tensor) -> torch.Tensor:
    """`log_partition` by the forward half of `transition_posteriors` (probability space,
    one matrix product per step): ~6x faster, not differentiable by autograd."""
    _, matrices, shifts = _transition_weights(scores, *_transition_ends(scores))
    _, log_totals = _normalised_forward(matrices, _start_probabilities(scores))
    return log_totals.sum(0) + shifts.sum(0)


@torch.no_grad()
def transition_posteriors(scores: torch.Tensor) -> torch.Tensor:
    """Posterior probability of every transition at every step, [T, B, S] like `scores`.

    Equals the gradient of `log_partition(scores).sum()` with respect to `scores`.
    Forward-backward runs in probability space, renormalised every step: one batched
    state x state matrix product per step instead of a dozen log-space ops; the
    posteriors of all steps then come out of a few whole-tensor ops.
    """
    nsteps, batch, _ = scores.shape
    source, destination = _transition_ends(scores)
    weights, matrices, _ = _transition_weights(scores, source, destination)
    forward, _ = _normalised_forward(matrices, _start_probabilities(scores))
    nstate = matrices.shape[2]
    backward = scores.new_empty(nsteps + 1, batch, nstate, 1)
    backward[nsteps] = 1
    for t in range(nsteps - 1, -1, -1):
        step = torch.bmm(matrices[t], backward[t + 1])
        torch.div(step, step.sum(1, keepdim=True), out=backward[t])

    posteriors = weights.mul_(forward[:-1, :, 0].index_select(2, source))
    posteriors.mul_(backward[1:, :, :, 0].index_select(2, destination))
    return posteriors.div_(posteriors.sum(2, keepdim=True))


@torch.no_grad()
def viterbi(scores: torch.Tensor) -> np.ndarray:
    """Best state path per sequence, [T + 1, B] int64, ties resolved as torch.max does."""
    nsteps, batch, nscore = scores.shape
    nbase = nbase_from_scores(nscore)
    fwd = _initial_state(batch, nbase, VITERBI_START_PENALTY, scores)
    traceback = torch.empty(nsteps, batch, 2 * nbase, dtype=torch.long)
    flop_offsets = torch.arange(nbase)
    for t in range(nsteps):
        to_flip, _ = _split(scores[t], nbase)
        best_flip, from_flip = (fwd[:, None, :] + to_flip).max(2)
        best_flop, flop_source = (
            (fwd + scores[t, :, 2 * nbase * nbase :]).reshape(batch, 2, nbase).max(1)
        )
        traceback[t, :, :nbase] = from_flip
        traceback[t, :, nbase:] = nbase * flop_source + flop_offsets
        fwd = torch.cat([best_flip, best_flop], 1)

    back = traceback.numpy()
    path = np.empty((nsteps + 1, batch), dtype=np.int64)
    path[nsteps] = fwd.argmax(1).numpy()
    columns = np.arange(batch)
    for t in range(nsteps - 1, -1, -1):
        path[t] = back[t, columns, path[t + 1]]
    return path


def posterior_viterbi(scores: torch.Tensor) -> np.ndarray:
    """Taiyaki's default decoding: Viterbi on log(posterior + 1e-8)."""
    return viterbi(torch.log(transition_posteriors(scores) + POSTERIOR_FLOOR))


def path_to_sequence(path: np.ndarray, alphabet: str) -> str:
    """A base for every step where the state changes; state s emits alphabet[s % nbase]."""
    nbase = len(alphabet)
    moves = np.flatnonzero(path[1:] != path[:-1]) + 1
    letters = np.frombuffer(alphabet.encode(), dtype=np.uint8)
    return letters[path[moves] % nbase].tobytes().decode()
