"""Flip-flop state space and decoding, exactly as Taiyaki's basecaller does it.

With `nbase` bases there are 2*nbase states: flip 0..nbase-1 and flop nbase..2*nbase-1.
The 2*nbase*(nbase+1) scores of a step are laid out as
  [nbase destination flip bases x 2*nbase source states]  (move into flip b from anywhere)
  [nbase flip b -> flop b] + [nbase flop b -> flop b]      (flop b only from flip b / itself)

Taiyaki's default ("posterior") decoding: the scores become log(posterior + 1e-8) of
each transition, posteriors being the forward-backward marginals (the gradient of the
log-partition function), then Viterbi on those. The forward-backward here is written
out rather than taken from autograd, which is what makes it fast.
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


def _backward_step(bwd: torch.Tensor, scores_t: torch.Tensor, nbase: int) -> torch.Tensor:
    to_flip, to_flop = _split(scores_t, nbase)
    # Leaving source s into flip b: to_flip[b, s] + bwd[b]; into its own flop: to_flop.
    via_flip = (to_flip + bwd[:, :nbase, None]).logsumexp(1)
    from_flip = torch.logaddexp(via_flip[:, :nbase], to_flop[:, 0] + bwd[:, nbase:])
    from_flop = torch.logaddexp(via_flip[:, nbase:], to_flop[:, 1] + bwd[:, nbase:])
    return torch.cat([from_flip, from_flop], 1)


@torch.no_grad()
def transition_posteriors(scores: torch.Tensor) -> torch.Tensor:
    """Posterior probability of every transition at every step, [T, B, S] like `scores`.

    Equals the gradient of `log_partition(scores).sum()` with respect to `scores`.
    """
    nsteps, batch, nscore = scores.shape
    nbase = nbase_from_scores(nscore)
    fwd = torch.empty(nsteps + 1, batch, 2 * nbase, dtype=scores.dtype, device=scores.device)
    fwd[0] = _initial_state(batch, nbase, PARTITION_START_PENALTY, scores)
    for t in range(nsteps):
        step = _forward_step(fwd[t], scores[t], nbase)
        fwd[t + 1] = step - step.logsumexp(1, keepdim=True)

    posteriors = torch.empty_like(scores)
    bwd = torch.zeros(batch, 2 * nbase, dtype=scores.dtype, device=scores.device)
    for t in range(nsteps - 1, -1, -1):
        to_flip, to_flop = _split(scores[t], nbase)
        into_flip = fwd[t][:, None, :] + to_flip + bwd[:, :nbase, None]
        into_flop = (
            torch.stack([fwd[t][:, :nbase] + to_flop[:, 0], fwd[t][:, nbase:] + to_flop[:, 1]], 1)
            + bwd[:, None, nbase:]
        )
        joint = torch.cat([into_flip.reshape(batch, -1), into_flop.reshape(batch, -1)], 1)
        posteriors[t] = (joint - joint.logsumexp(1, keepdim=True)).exp()
        step = _backward_step(bwd, scores[t], nbase)
        bwd = step - step.logsumexp(1, keepdim=True)
    return posteriors


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
