"""Matrix completion: source parameters from the agreement statistics alone (MeTaL-style).

If sources ``j`` and ``l`` are independent given the class, the share of rows where ``j``
votes ``a`` and ``l`` votes ``b`` is ``sum_y P(y) P(j=a|y) P(l=b|y)``: the (m·k) x (m·k)
co-vote matrix ``O`` factorises as ``mu diag(p) mu^T`` off its source-diagonal blocks (Ratner
et al., 2019). Fitting ``mu`` and ``p`` to ``O`` (and to the vote rates on the diagonal) by
L-BFGS costs nothing that grows with the number of rows. Unlike Snorkel's LabelModel we fit
to convergence from a data-driven start, learn the class balance, and keep each column of
``mu`` a proper distribution over the k+1 outcomes (abstain included) by a softmax
parametrisation, so the fitted tables can be used with abstentions as evidence.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from weaklabel.label_models._em import EPS

__all__ = ["align_classes", "fit_moments"]


def fit_moments(
    gram: np.ndarray,
    outcome_counts: np.ndarray,
    n_rows: float,
    init_cond: np.ndarray,
    init_balance: np.ndarray,
    *,
    pair_mask: np.ndarray,
    fixed_balance: bool = False,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of the (m, k+1, k) conditional tables and the class balance.

    Parameters
    ----------
    gram
        (m·k) x (m·k) co-vote counts of the one-hot votes.
    outcome_counts
        (m, k+1) per-source outcome counts (index 0: abstain).
    pair_mask
        (m, m) boolean: the source pairs whose co-votes enter the fit (False on the diagonal
        and between sources known to be copies of each other, which are not independent).
    fixed_balance
        Keep ``init_balance`` instead of learning it.
    """
    # imported here: scipy.optimize takes a second to import, needed only when fitting
    from scipy.optimize import minimize
    from scipy.special import softmax

    m, slots, k = init_cond.shape
    observed = gram / n_rows
    rates = (outcome_counts[:, 1:] / n_rows).reshape(m * k)
    mask = np.repeat(np.repeat(pair_mask, k, axis=0), k, axis=1).astype(float)
    theta0 = np.log(np.maximum(init_cond, EPS)).ravel()
    phi0 = np.log(np.maximum(init_balance, EPS))
    n_theta = theta0.size

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cond = softmax(x[:n_theta].reshape(m, slots, k), axis=1)
        balance = init_balance if fixed_balance else softmax(x[n_theta:])
        return cond, balance

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        cond, balance = unpack(x)
        mu = cond[:, 1:, :].reshape(m * k, k)
        resid = ((mu * balance) @ mu.T - observed) * mask
        resid_rates = mu @ balance - rates
        loss = float((resid**2).sum() + (resid_rates**2).sum())
        grad_mu = 4 * (resid @ mu) * balance + 2 * resid_rates[:, None] * balance[None, :]
        grad_cond = np.zeros_like(cond)
        grad_cond[:, 1:, :] = grad_mu.reshape(m, k, k)
        # chain rule through the softmax over the k+1 outcomes of each (source, class)
        grad_theta = cond * (grad_cond - (grad_cond * cond).sum(axis=1, keepdims=True))
        if fixed_balance:
            return loss, grad_theta.ravel()
        grad_p = 2 * ((resid @ mu) * mu).sum(axis=0) + 2 * (resid_rates @ mu)
        grad_phi = balance * (grad_p - grad_p @ balance)
        return loss, np.concatenate([grad_theta.ravel(), grad_phi])

    x0 = theta0 if fixed_balance else np.concatenate([theta0, phi0])
    # the products are small: BLAS threads only add synchronisation (and stall on busy machines)
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(
            objective,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-12},
        )
    cond, balance = unpack(result.x)
    return align_classes(cond, balance, init_cond)


def align_classes(
    cond: np.ndarray, balance: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Relabel the latent classes so that they match ``reference`` best.

    A latent-class fit is only defined up to a permutation of its classes; the reference
    (majority-vote-based) tables say which latent class is which observed label.
    """
    from scipy.optimize import linear_sum_assignment

    votes, ref = cond[:, 1:, :], reference[:, 1:, :]
    similarity = np.einsum("jay,jaz->yz", ref, votes)
    _, perm = linear_sum_assignment(-similarity)
    return cond[:, :, perm], balance[perm]
