"""The OpenAPI 3 document served at ``/openapi/v3``, generated from the kind table.

Specs are described as open objects (``x-kubernetes-preserve-unknown-fields``) because the field rules
live in :mod:`mizzen.config` validation, which reports far more precisely than a schema could.
"""

from __future__ import annotations

from typing import Any

from mizzen import __version__ as _pkg_version
from mizzen.config.kinds import KINDS, KindInfo

_REF = "#/components/schemas/"


def _response(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + ref}}}}


_ERRORS = {
    "401": _response("Status", "missing or wrong bearer token"),
    "404": _response("Status", "not found"),
    "422": _response("Status", "invalid; details.violations lists every problem"),
}


def _param(name: str, where: str = "path") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": "string"}}


def _kind_paths(info: KindInfo, version: str) -> dict[str, Any]:
    base = f"/apis/{info.group}/{version}" if info.group else f"/api/{version}"
    coll = f"{base}/namespaces/{{namespace}}/{info.plural}"
    obj, lst, tag = info.kind, f"{info.kind}List", info.kind
    body = {"required": True, "content": {"application/json": {"schema": {"$ref": _REF + obj}}}}
    selector = _param("labelSelector", "query")
    watch = [_param("watch", "query"), _param("resourceVersion", "query")]
    return {
        f"{base}/{info.plural}": {
            "get": {
                "tags": [tag],
                "summary": f"List (or watch) {info.plural} in all namespaces",
                "parameters": [selector, *watch],
                "responses": {"200": _response(lst, "the list"), **_ERRORS},
            }
        },
        coll: {
            "parameters": [_param("namespace")],
            "get": {
                "tags": [tag],
                "summary": f"List (or watch) {info.plural}",
                "parameters": [selector, *watch],
                "responses": {"200": _response(lst, "the list"), **_ERRORS},
            },
            "post": {
                "tags": [tag],
                "summary": f"Create a {obj}",
                "requestBody": body,
                "responses": {"201": _response(obj, "created"), "409": _response("Status", "exists"), **_ERRORS},
            },
        },
        coll + "/{name}": {
            "parameters": [_param("namespace"), _param("name")],
            "get": {
                "tags": [tag],
                "summary": f"Read a {obj}",
                "responses": {"200": _response(obj, "the object"), **_ERRORS},
            },
            "put": {
                "tags": [tag],
                "summary": f"Create or replace a {obj}",
                "requestBody": body,
                "responses": {
                    "200": _response(obj, "replaced"),
                    "201": _response(obj, "created"),
                    "409": _response("Status", "stale resourceVersion"),
                    **_ERRORS,
                },
            },
            "delete": {
                "tags": [tag],
                "summary": f"Delete a {obj}",
                "responses": {"200": _response(obj, "the deleted object"), **_ERRORS},
            },
        },
    }


def _schemas() -> dict[str, Any]:
    meta = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string", "default": "default"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "uid": {"type": "string", "readOnly": True},
            "resourceVersion": {"type": "string"},
            "generation": {"type": "integer", "readOnly": True},
            "creationTimestamp": {"type": "string", "format": "date-time", "readOnly": True},
        },
    }
    schemas: dict[str, Any] = {"ObjectMeta": meta}
    for info in KINDS:
        required = ["apiVersion", "kind", "metadata"]
        schemas[info.kind] = {
            "type": "object",
            "required": required,
            "properties": {
                "apiVersion": {"type": "string", "enum": list(info.api_versions)},
                "kind": {"type": "string", "enum": [info.kind]},
                "metadata": {"$ref": _REF + "ObjectMeta"},
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
        schemas[f"{info.kind}List"] = {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "properties": {"resourceVersion": {"type": "string"}}},
                "items": {"type": "array", "items": {"$ref": _REF + info.kind}},
            },
        }
    violation: dict[str, Any] = {
        "type": "object",
        "properties": {k: {"type": "string"} for k in ("code", "level", "message", "path", "file", "resource")},
    }
    violation["properties"]["line"] = {"type": "integer", "nullable": True}
    schemas["Violation"] = violation
    schemas["Status"] = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["Status"]},
            "apiVersion": {"type": "string"},
            "status": {"type": "string"},
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "code": {"type": "integer"},
            "details": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "violations": {"type": "array", "items": {"$ref": _REF + "Violation"}},
                },
            },
        },
    }
    schemas["ApplyRequest"] = {
        "type": "object",
        "required": ["documents"],
        "properties": {
            "documents": {"type": "array", "items": {"type": "object"}},
            "origins": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string"},
                        "lines": {"type": "object", "additionalProperties": {"type": "integer"}},
                    },
                },
            },
            "dryRun": {"type": "boolean", "default": False},
        },
    }
    result = {
        "type": "object",
        "properties": {
            "kind": {"type": "string"},
            "namespace": {"type": "string"},
            "name": {"type": "string"},
            "action": {"type": "string", "enum": ["created", "configured", "unchanged"]},
        },
    }
    schemas["ApplyResponse"] = {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": result},
            "report": {"type": "array", "items": {"$ref": _REF + "Violation"}},
            "skipped": {"type": "array", "items": {"type": "object"}},
            "dryRun": {"type": "boolean"},
        },
    }
    return schemas


def build_openapi() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for the config API."""
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "Liveness (no token needed)", "responses": {"200": {"description": "ok"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness (no token needed)",
                "responses": {
                    "200": {"description": "ready"},
                    "503": {"description": "starting, or the store cannot be reached"},
                },
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
        "/api/mizzen/v1/apply": {
            "post": {
                "tags": ["apply"],
                "summary": "Validate and apply many documents in one transaction",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": _REF + "ApplyRequest"}}},
                },
                "responses": {"200": _response("ApplyResponse", "applied (or dry run)"), **_ERRORS},
            }
        },
    }
    for info in KINDS:
        for version in info.versions:
            paths.update(_kind_paths(info, version))
    return {
        "openapi": "3.0.3",
        "info": {"title": "Mizzen control plane API", "version": _pkg_version},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
