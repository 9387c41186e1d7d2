"""LiteLLM simulator: a small Flask app faithful to LiteLLM 1.110.2's key and usage API.

Public interface::

    from app.litellm_sim import create_sim_app, SimState, run_in_thread
    sim_app = create_sim_app(master_key="sk-sim-master-0123456789", seed=None, latency_ms=0)
    state: SimState = sim_app.extensions["litellm_sim"]
    server = run_in_thread(sim_app)   # server.base_url, server.shutdown(), server.restart()
"""

from .app import DEFAULT_MASTER_KEY, create_sim_app
from .seed import demo_keys
from .server import SimServer, run_in_thread
from .state import SimState
from .values import hash_token

__all__ = [
    "DEFAULT_MASTER_KEY",
    "SimServer",
    "SimState",
    "create_sim_app",
    "demo_keys",
    "hash_token",
    "run_in_thread",
]
