"""Reference solutions of exercise 08 (tests prove they pass exercises/checks/08_transformers.py)."""

import torch
import torch.nn.functional as F


def attention_imbalance_ratio(query: torch.Tensor, keys_a: torch.Tensor, keys_b: torch.Tensor) -> float:
    """Mean over samples of cos(q, k_a) - cos(q, k_b)."""
    q = query.expand_as(keys_a)
    return float((F.cosine_similarity(q, keys_a, dim=-1, eps=1e-12)
                  - F.cosine_similarity(q, keys_b, dim=-1, eps=1e-12)).mean())


def rotation_matrix(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The plane rotation R with R u_hat = v_hat."""
    u_hat, v_hat = u / u.norm(), v / v.norm()
    cos = torch.clamp(u_hat @ v_hat, -1.0, 1.0)
    ortho = v_hat - cos * u_hat
    sin = ortho.norm()
    eye = torch.eye(len(u), dtype=u.dtype)
    if sin < 1e-6:
        if cos > 0:
            return eye
        cos, sin = torch.tensor(-1.0, dtype=u.dtype), torch.tensor(0.0, dtype=u.dtype)
        axis = eye[int(torch.argmin(u_hat.abs()))]
        ortho = axis - (axis @ u_hat) * u_hat
    w = ortho / ortho.norm()
    return eye + (cos - 1) * (torch.outer(u_hat, u_hat) + torch.outer(w, w)) + sin * (
        torch.outer(w, u_hat) - torch.outer(u_hat, w))
