"""LiteLLM's two error envelopes plus FastAPI's 422 shape, and query/body parsing helpers."""

from __future__ import annotations

import math
from typing import Any

from flask import Response, jsonify

NOT_PROVIDED = object()
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_ERROR_TYPES = {
    400: "bad_request_error",
    401: "auth_error",
    403: "auth_error",
    404: "not_found_error",
    429: "throttling_error",
}


class SimHTTPError(Exception):
    """Raised inside handlers; converted to the matching JSON response."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body

    def response(self) -> Response:
        resp = jsonify(self.body)
        resp.status_code = self.status
        return resp


def proxy_error(
    status: int, message: str, type_: str | None = None, param: str | None = None
) -> SimHTTPError:
    """``{"error": {message, type, param, code}}`` — ProxyException (key endpoints, auth)."""
    body = {
        "error": {
            "message": message,
            "type": type_ or _ERROR_TYPES.get(status, "internal_server_error"),
            "param": param,
            "code": str(status),
        }
    }
    return SimHTTPError(status, body)


def wrapped_error(status: int, message: str, param: str | None = None) -> SimHTTPError:
    """LiteLLM's ``HTTPException(detail={"error": message})`` re-raised through its generic
    handler: the dict's Python repr becomes the message and the type is always
    ``internal_server_error``, whatever the status (``param`` is null or the string "None",
    depending on the endpoint)."""
    return proxy_error(status, repr({"error": message}), "internal_server_error", param)


def detail_error(status: int, message: str) -> SimHTTPError:
    """``{"detail": {"error": message}}`` — plain HTTPException (daily-activity endpoints)."""
    return SimHTTPError(status, {"detail": {"error": message}})


def validation_error(errors: list[dict[str, Any]]) -> SimHTTPError:
    """FastAPI's 422 ``{"detail": [{type, loc, msg}, ...]}``."""
    return SimHTTPError(422, {"detail": errors})


def verr(
    type_: str, loc: list[str | int], msg: str, value: Any = NOT_PROVIDED, **ctx: Any
) -> dict[str, Any]:
    """One FastAPI/pydantic validation error entry; ``value`` and ``ctx`` become pydantic's
    ``input`` and ``ctx`` (sent by older releases only, see ``plain_validation_errors``)."""
    entry: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg}
    if value is not NOT_PROVIDED:
        entry["input"] = value
    if ctx:
        entry["ctx"] = ctx
    return entry


def plain_validation_errors(body: Any) -> Any:
    """A 422 body without ``input`` and ``ctx`` in its entries, as newer releases send it."""
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        detail = [
            {k: v for k, v in e.items() if k not in ("input", "ctx")} if isinstance(e, dict) else e
            for e in body["detail"]
        ]
        return {**body, "detail": detail}
    return body


class Params:
    """Collects query-parameter validation errors so all are reported at once, like FastAPI."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.errors: list[dict[str, Any]] = []

    def str(self, name: str) -> str | None:
        return self.args.get(name)

    def int(
        self, name: str, default: int | None, ge: int | None = None, le: int | None = None
    ) -> int | None:
        raw = self.args.get(name)
        if raw is None:
            return default
        loc: list[str | int] = ["query", name]
        try:
            value = int(raw.strip())
        except ValueError:
            self.errors.append(
                verr(
                    "int_parsing",
                    loc,
                    "Input should be a valid integer, unable to parse string as an integer",
                    raw,
                )
            )
            return default
        if ge is not None and value < ge:
            self.errors.append(
                verr(
                    "greater_than_equal",
                    loc,
                    f"Input should be greater than or equal to {ge}",
                    raw,
                    ge=ge,
                )  # fmt: skip
            )
        elif le is not None and value > le:
            self.errors.append(
                verr(
                    "less_than_equal",
                    loc,
                    f"Input should be less than or equal to {le}",
                    raw,
                    le=le,
                )  # fmt: skip
            )
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        raw = self.args.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() not in _FALSE:
            self.errors.append(
                verr(
                    "bool_parsing",
                    ["query", name],
                    "Input should be a valid boolean, unable to interpret input",
                    raw,
                )
            )
        return False

    def check(self) -> None:
        if self.errors:
            raise validation_error(self.errors)


def check_body_types(body: dict[str, Any], spec: dict[str, str]) -> None:
    """Pydantic-style type checks of request-body fields (``None`` is always allowed)."""
    errors = []
    for name, kind in spec.items():
        value = body.get(name)
        if value is None:
            continue
        loc: list[str | int] = ["body", name]
        bad = None
        if kind == "str" and not isinstance(value, str):
            bad = verr("string_type", loc, "Input should be a valid string", value)
        elif kind == "list" and not isinstance(value, list):
            bad = verr("list_type", loc, "Input should be a valid list", value)
        elif kind == "dict" and not isinstance(value, dict):
            bad = verr("dict_type", loc, "Input should be a valid dictionary", value)
        elif kind == "bool" and not isinstance(value, bool):
            bad = verr("bool_type", loc, "Input should be a valid boolean", value)
        elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            bad = verr("int_type", loc, "Input should be a valid integer", value)
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            bad = verr("float_type", loc, "Input should be a valid number", value)
        if bad:
            errors.append(bad)
    if errors:
        raise validation_error(errors)


def check_budget(value: Any) -> None:
    """``max_budget`` must be a finite number >= 0 (400 in the error envelope otherwise)."""
    if value is not None and (not math.isfinite(value) or value < 0):
        raise wrapped_error(
            400, f"max_budget must be a non-negative finite number. Received: {float(value)}"
        )
