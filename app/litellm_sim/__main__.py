"""``python -m app.litellm_sim [--port 4000 ...]``."""

from .cli import litellm_sim_command

if __name__ == "__main__":
    litellm_sim_command(prog_name="python -m app.litellm_sim")
