"""``GET /models`` (and ``/v1/models``): the models the proxy serves, in OpenAI's list shape.

LiteLLM answers the master key with every model of its configuration, each as
``{"id", "object": "model", "created", "owned_by": "openai"}`` with one fixed ``created``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

bp = Blueprint("litellm_sim_models", __name__)

# LiteLLM's DEFAULT_MODEL_CREATED_AT_TIME: the same for every model.
MODEL_CREATED_AT = 1677610602


@bp.get("/models")
@bp.get("/v1/models")
def model_list() -> Any:
    """The configured model names, in configuration order."""
    state = current_app.extensions["litellm_sim"]
    data = [
        {"id": name, "object": "model", "created": MODEL_CREATED_AT, "owned_by": "openai"}
        for name in state.models
    ]
    return jsonify({"data": data, "object": "list"})
