"""The safety envelope: the only way out to the GX, the EVSE and the balancer (pure).

Each module holds one output's gate and the invariant it keeps; see their docstrings.
"""

from .balancer import BalancerGate, GateFacts, GateLimits, Permit, Refusal

__all__ = ["BalancerGate", "GateFacts", "GateLimits", "Permit", "Refusal"]
