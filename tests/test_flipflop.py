"""Flip-flop decoding on hand-made score matrices, checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from modelshrink.basecaller import flipflop

NBASE = 4


def _transition_index(source: int, destination: int) -> int | None:
    """Index of the score for source -> destination in the 40-score layout, None if illegal."""
    if destination < NBASE:
        return destination * 2 * NBASE + source
    base = destination - NBASE
    if source == base:
        return 2 * NBASE * NBASE + base
    if source == destination:
        return 2 * NBASE * NBASE + NBASE + base
    return None


def _all_paths(nsteps: int):
    for path in itertools.product(range(2 * NBASE), repeat=nsteps + 1):
        if path[0] >= NBASE:
            continue
        indices = [_transition_index(a, b) for a, b in itertools.pairwise(path)]
        if None not in indices:
            yield path, indices


def test_log_partition_equals_brute_force_enumeration() -> None:
    scores = torch.randn(3, 2, 40, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    expected = []
    for b in range(2):
        totals = [sum(scores[t, b, k] for t, k in enumerate(ix)) for _, ix in _all_paths(3)]
        expected.append(torch.logsumexp(torch.stack(totals), 0))
    assert torch.allclose(flipflop.log_partition(scores), torch.stack(expected), atol=1e-9)


def test_fast_log_partition_equals_the_log_space_forward() -> None:
    scores = torch.randn(300, 4, 40, generator=torch.Generator().manual_seed(6)) * 4
    scores[:, 1] -= 400.0  # exp underflows to 0 in float32 without the per-step shift
    expected = flipflop.log_partition(scores.double())
    assert torch.allclose(flipflop.fast_log_partition(scores).double(), expected, rtol=1e-5)
    small = torch.randn(3, 2, 40, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(flipflop.fast_log_partition(small), flipflop.log_partition(small))


def test_posteriors_are_the_gradient_of_log_partition() -> None:
    scores = torch.randn(40, 3, 40, generator=torch.Generator().manual_seed(4)) * 3
    scores.requires_grad_()
    (gradient,) = torch.autograd.grad(flipflop.log_partition(scores).sum(), scores)
    posteriors = flipflop.transition_posteriors(scores.detach())
    assert torch.allclose(posteriors, gradient, atol=1e-5)
    assert torch.allclose(posteriors.sum(2), torch.ones(40, 3), atol=1e-5)


def test_viterbi_finds_the_best_path_by_brute_force() -> None:
    scores = torch.randn(4, 3, 40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    paths = flipflop.viterbi(scores)
    for b in range(3):
        best = max(
            _all_paths(4), key=lambda p: sum(float(scores[t, b, k]) for t, k in enumerate(p[1]))
        )
        assert tuple(paths[:, b]) == best[0]


def test_viterbi_follows_a_hand_made_score_matrix() -> None:
    wanted = [2, 2, 6, 6, 1, 5, 3]  # G, stay, G(flop), stay, C, C(flop), T
    scores = torch.full((len(wanted) - 1, 1, 40), -5.0)
    for t, (a, b) in enumerate(itertools.pairwise(wanted)):
        scores[t, 0, _transition_index(a, b)] = 5.0
    path = flipflop.viterbi(scores)[:, 0]
    assert path.tolist() == wanted
    assert flipflop.path_to_sequence(path, "ACGT") == "GCCT"


def test_path_to_sequence_emits_on_state_changes_only() -> None:
    assert flipflop.path_to_sequence(np.array([0, 0, 4, 4, 1, 1, 5]), "ACGT") == "ACC"
    assert flipflop.path_to_sequence(np.array([3]), "ACGT") == ""


def test_nbase_from_scores_rejects_other_layouts() -> None:
    assert flipflop.nbase_from_scores(40) == 4
    with pytest.raises(ValueError):
        flipflop.nbase_from_scores(41)
