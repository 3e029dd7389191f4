"""The one error type of the API: a Kubernetes `Status` object carried as an exception.

The server turns an ApiError into the JSON body kubectl expects; the client raises the
same type when the server answers with a Status, so both sides share one vocabulary.
"""

from __future__ import annotations

from typing import Any

# reason -> HTTP code, as metav1.StatusReason defines them.
CODES = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "NotAcceptable": 406,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Gone": 410,
    "Expired": 410,
    "UnsupportedMediaType": 415,
    "Invalid": 422,
    "TooManyRequests": 429,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "Timeout": 504,
}


class ApiError(Exception):
    """A failed API call, shaped like metav1.Status."""

    def __init__(
        self, reason: str, message: str, *, code: int | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code if code is not None else CODES.get(reason, 500)
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_status(cls, status: dict[str, Any], code: int | None = None) -> ApiError:
        return cls(
            status.get("reason") or "InternalError",
            status.get("message") or "",
            code=status.get("code") or code,
            details=status.get("details"),
        )

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    what = f"{resource}.{group}" if group else resource
    return ApiError(
        "NotFound",
        f'{what} "{name}" not found',
        details={"name": name, "group": group, "kind": resource}
        if group
        else {"name": name, "kind": resource},
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    what = f"{resource}.{group}" if group else resource
    return ApiError(
        "AlreadyExists",
        f'{what} "{name}" already exists',
        details={"name": name, "group": group, "kind": resource},
    )


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiError:
    what = f"{resource}.{group}" if group else resource
    return ApiError(
        "Conflict",
        f'Operation cannot be fulfilled on {what} "{name}": {why}',
        details={"name": name, "group": group, "kind": resource},
    )


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequest", message)


def gone(message: str) -> ApiError:
    # Kubernetes answers a too-old resourceVersion with 410 and reason Expired.
    return ApiError("Expired", message, code=410)


class FieldErrors:
    """Collects field.ErrorList-style causes; raise_if() turns them into one 422 Invalid."""

    def __init__(self) -> None:
        self.causes: list[dict[str, str]] = []

    def required(self, field: str, detail: str = "") -> None:
        self._add("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self._add("FieldValueInvalid", field, f"Invalid value: {_show(value)}: {detail}")

    def not_supported(self, field: str, value: Any, allowed: list[str]) -> None:
        opts = ", ".join(f'"{a}"' for a in allowed)
        self._add(
            "FieldValueNotSupported", field, f"Unsupported value: {_show(value)}: supported values: {opts}"
        )

    def duplicate(self, field: str, value: Any) -> None:
        self._add("FieldValueDuplicate", field, f"Duplicate value: {_show(value)}")

    def forbidden(self, field: str, detail: str) -> None:
        self._add("FieldValueForbidden", field, f"Forbidden: {detail}")

    def not_found(self, field: str, value: Any) -> None:
        self._add("FieldValueNotFound", field, f"Not found: {_show(value)}")

    def _add(self, reason: str, field: str, message: str) -> None:
        self.causes.append({"reason": reason, "message": message, "field": field})

    def __bool__(self) -> bool:
        return bool(self.causes)

    def raise_if(self, kind: str, name: str, group: str = "") -> None:
        if not self.causes:
            return
        msgs = [f"{c['field']}: {c['message']}" for c in self.causes]
        text = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
        raise ApiError(
            "Invalid",
            f'{kind} "{name}" is invalid: {text}',
            details={"name": name, "group": group, "kind": kind, "causes": self.causes},
        )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
