"""The flip-flop CRF loss against brute-force enumeration and finite differences."""

from __future__ import annotations

import itertools

import pytest
import torch
from test_flipflop import NBASE, _all_paths

from modelshrink.basecaller.compress.crf_loss import flipflop_nll, flipflop_states
from modelshrink.errors import ModelshrinkError

torch.set_num_threads(1)


def _spelled(path: tuple[int, ...]) -> tuple[int, ...]:
    bases = [path[0] % NBASE]
    bases += [state % NBASE for previous, state in itertools.pairwise(path) if state != previous]
    return tuple(bases)


def _brute_force(scores: torch.Tensor, sequence: tuple[int, ...]) -> tuple[float, float]:
    """(log Z, log S) for one chunk [T, 40] by enumerating every allowed state path.

    Paths starting in a flop state carry Taiyaki's -50000 start penalty, so they add
    nothing to Z at float64 precision and `_all_paths` leaves them out.
    """
    everything, matching = [], []
    for path, indices in _all_paths(scores.shape[0]):
        total = float(sum(scores[t, index] for t, index in enumerate(indices)))
        everything.append(total)
        if _spelled(path) == sequence:
            matching.append(total)
    return (
        float(torch.tensor(everything, dtype=torch.float64).logsumexp(0)),
        float(torch.tensor(matching, dtype=torch.float64).logsumexp(0)),
    )


def test_state_coding_matches_taiyaki() -> None:
    bases = torch.tensor([[0, 0, 0, 1, 1, 2, 3, 3], [2, 2, 1, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([8, 3])
    states = flipflop_states(bases, lengths, NBASE)
    assert states[0].tolist() == [0, 4, 0, 1, 5, 2, 3, 7]
    assert states[1, :3].tolist() == [2, 6, 1]


def test_loss_equals_brute_force_enumeration() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 3, 40, generator=generator, dtype=torch.float64) * 2
    sequences = [(0, 0, 2), (1, 3, 3, 0, 1), (2,)]
    bases = torch.zeros(3, 5, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        bases[row, : len(sequence)] = torch.tensor(sequence)
    lengths = torch.tensor([len(s) for s in sequences])
    nll = flipflop_nll(scores, bases, lengths, reduction="none")
    for row, sequence in enumerate(sequences):
        log_z, log_s = _brute_force(scores[:, row], sequence)
        assert float(nll[row]) == pytest.approx(log_z - log_s, abs=1e-9)
    assert float(flipflop_nll(scores, bases, lengths)) == pytest.approx(float(nll.mean()) / 4)


def test_gradient_matches_finite_differences() -> None:
    scores = torch.randn(5, 2, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    bases = torch.tensor([[0, 0, 1, 2], [3, 1, 1, 1]])
    lengths = torch.tensor([4, 3])
    assert torch.autograd.gradcheck(
        lambda s: flipflop_nll(s, bases, lengths, reduction="sum"), (scores.requires_grad_(),)
    )


def test_loss_is_positive_and_falls_when_the_true_path_is_favoured() -> None:
    scores = torch.zeros(6, 1, 40)
    bases, lengths = torch.tensor([[1, 2]]), torch.tensor([2])
    before = float(flipflop_nll(scores, bases, lengths))
    scores[:, 0, 1 * 2 * NBASE + 1] = 3.0  # stay in flip C
    scores[:, 0, 2 * 2 * NBASE + 1] = 3.0  # move flip C -> flip G
    scores[:, 0, 2 * 2 * NBASE + 2] = 3.0  # stay in flip G
    assert 0 < float(flipflop_nll(scores, bases, lengths)) < before


def test_impossible_lengths_are_refused() -> None:
    scores = torch.zeros(3, 1, 40)
    with pytest.raises(ModelshrinkError, match="1 to 4 bases for 3 steps"):
        flipflop_nll(scores, torch.zeros(1, 6, dtype=torch.long), torch.tensor([6]))
    with pytest.raises(ModelshrinkError, match="reduction 'max'"):
        flipflop_nll(scores, torch.zeros(1, 2, dtype=torch.long), torch.tensor([2]), "max")
