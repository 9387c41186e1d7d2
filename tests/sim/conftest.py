"""Simulator-only fixtures: a fresh sim app per test, a master-key client, schema validators.

The OpenAPI subset and examples in ``contract/`` are copies of /work/shared/litellm (LiteLLM
1.110.2), kept in the repo so the contract tests cannot be skipped for a missing file.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.litellm_sim import SimState, create_sim_app

CONTRACT_DIR = Path(__file__).parent / "contract"
MASTER = "sk-sim-master-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER}"}
_SPEC_URI = "urn:litellm:openapi"
# Request models: fields are optional there, so they stay as published.
_LOOSE = {"GenerateKeyRequest", "UpdateKeyRequest", "KeyRequest"}

# ProxyException envelope and HTTPException-with-dict envelope (not in the OpenAPI document).
PROXY_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": "string", "pattern": "^[0-9]{3}$"},
            },
        }
    },
}
DETAIL_ERROR_SCHEMA = {
    "type": "object",
    "required": ["detail"],
    "additionalProperties": False,
    "properties": {
        "detail": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {"error": {"type": "string"}},
        }
    },
}

_FORMATS = FormatChecker()


@_FORMATS.checks("date-time")
def _is_datetime(value: object) -> bool:
    # pydantic v2 serializes aware UTC datetimes with a trailing "Z".
    return not isinstance(value, str) or bool(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", value)
    )


@_FORMATS.checks("date")
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _strict(schema: Any) -> Any:
    """Every declared property required, nothing undeclared: pydantic emits all fields."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out:
            out["required"] = sorted(out["properties"])
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


class Contract:
    """Validates bodies against LiteLLM's component schemas (strict) or the error envelopes."""

    def __init__(self) -> None:
        self.dir = CONTRACT_DIR
        spec = json.loads((CONTRACT_DIR / "openapi-portal-subset.json").read_text())
        self.spec = spec
        strict = copy.deepcopy(spec)
        schemas = strict["components"]["schemas"]
        for name, schema in list(schemas.items()):
            if name not in _LOOSE:
                schemas[name] = _strict(schema)
        # FastAPI's own model: input/ctx are optional (the contract's bodies omit them).
        schemas["ValidationError"] = {
            **spec["components"]["schemas"]["ValidationError"],
            "additionalProperties": False,
        }
        resource = Resource.from_contents(strict, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(_SPEC_URI, resource)

    def validator(self, name: str) -> Draft202012Validator:
        if name == "ProxyError":
            schema: dict[str, Any] = PROXY_ERROR_SCHEMA
        elif name == "DetailError":
            schema = DETAIL_ERROR_SCHEMA
        else:
            schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}
        return Draft202012Validator(schema, registry=self.registry, format_checker=_FORMATS)

    def validate(self, name: str, body: Any) -> None:
        """Raise jsonschema.ValidationError unless ``body`` matches schema ``name``."""
        self.validator(name).validate(body)

    def errors(self, name: str, body: Any) -> list[str]:
        return [e.message for e in self.validator(name).iter_errors(body)]

    def response_schema(self, method: str, path: str) -> dict[str, Any]:
        op = self.spec["paths"][path][method.lower()]
        return op["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@pytest.fixture
def lsim_app():
    """A fresh, unseeded simulator app (in-process)."""
    return create_sim_app(master_key=MASTER, seed=None)


@pytest.fixture
def lsim(lsim_app) -> SimState:
    """The state behind ``lsim_app``."""
    return lsim_app.extensions["litellm_sim"]


@pytest.fixture
def lsim_client(lsim_app) -> FlaskClient:
    """Test client; pass ``headers=AUTH`` (or use ``api``) for authenticated calls."""
    return lsim_app.test_client()


class Api:
    """Thin helper: master-key requests against the test client, returning (status, json)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        resp = self.client.get(path, query_string=params, headers=AUTH)
        return resp.status_code, resp.get_json()

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        resp = self.client.post(path, json=body, headers=AUTH)
        return resp.status_code, resp.get_json()


@pytest.fixture
def api(lsim_client) -> Api:
    return Api(lsim_client)
