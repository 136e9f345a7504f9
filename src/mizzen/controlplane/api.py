"""The Kubernetes-shaped HTTP API over the config store.

Paths follow Kubernetes for every kind in :data:`mizzen.config.kinds.KINDS` and each of its versions::

    /apis/<group>/<version>/<plural>                          GET list across namespaces
    /apis/<group>/<version>/namespaces/<ns>/<plural>          GET list, POST create
    /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>   GET, PUT create-or-replace, DELETE
    /api/v1/...                                               the same for core kinds (Service, ...)
    GET ...?watch=true[&resourceVersion=N]                    a stream of change events, one JSON per line
    POST /api/mizzen/v1/apply                                 batch apply, all or nothing

Writes are validated with :func:`mizzen.config.validate`, the same code as ``mizzen validate``; a
rejected write answers 422 with a Kubernetes ``Status`` whose ``details.violations`` is the report.
Store calls run in a worker thread so a large, fsync-bound apply never stalls the event loop.

Input is bounded (:mod:`mizzen.limits`): a body nesting too deep is 400, too many documents or an
object over Kubernetes' 1.5 MiB is 413, annotations over 256 KiB are 422, a full disk is 507 (the
store is unchanged). A dry run takes no write lock and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from mizzen import limits
from mizzen.config import validate
from mizzen.config.ingress_tls_checks import CHECKED_KINDS, ingress_tls_under_mesh_mtls, needs_ingress_tls_check
from mizzen.config.kinds import KINDS, KindInfo
from mizzen.config.loader import BODY_FIELDS, Skipped, to_resource
from mizzen.config.mesh_checks import SERVED_KINDS, needs_mesh_checks, unserved_jwks_uris
from mizzen.config.report import Report, Violation
from mizzen.config.resource import Origin, Resource
from mizzen.controlplane.metrics import Family, Registry, Sample
from mizzen.store import ApplyResult, ConfigStore
from mizzen.store.errors import Compacted, Conflict, Invalid, NotFound, StorageFull, StoreError, Unavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WriteGuard = Callable[[web.Request, Resource], Resource]  # may refuse (ApiError) or amend a write
Details = Mapping[str, Any] | None
APPLY_PATH = "/api/mizzen/v1/apply"
_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    413: "RequestEntityTooLarge",
    422: "Invalid",
    500: "InternalError",
    507: "InsufficientStorage",
}


def status_body(code: int, reason: str, message: str, details: Details = None) -> dict[str, Any]:
    """A Kubernetes ``Status`` object describing a failure."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = dict(details)
    return body


def status_response(code: int, reason: str, message: str, details: Details = None) -> web.Response:
    """A JSON response carrying :func:`status_body`."""
    return web.json_response(status_body(code, reason, message, details), status=code)


class ApiError(Exception):
    """A failure the API reports as a ``Status`` with the given HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: Details = None) -> None:
        super().__init__(message)
        self.response = status_response(code, reason, message, details)


def document_of(resource: Resource, api_version: str | None = None) -> dict[str, Any]:
    """The Kubernetes JSON of a stored object; body fields of kinds like Secret go back to the top level."""
    doc = resource.to_json()
    if api_version:
        doc["apiVersion"] = api_version
    body_fields = BODY_FIELDS.get(resource.kind, ())
    if body_fields:
        spec = doc.pop("spec")
        doc.update({k: spec.pop(k) for k in body_fields if k in spec})
        if spec:
            doc["spec"] = spec
    return doc


def _violations_details(report: Report, kind: str = "", name: str = "") -> dict[str, Any]:
    details: dict[str, Any] = {"violations": report.to_json()}
    if kind:
        details["kind"] = kind
    if name:
        details["name"] = name
    return details


def _invalid(report: Report) -> ApiError:
    errors = report.errors
    first = str(errors[0]) if errors else "invalid"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"the configuration is invalid: {first}{more}"
    if any(v.code == "MZ0093" for v in errors):  # an object over the size limit: Kubernetes answers 413
        return ApiError(413, "RequestEntityTooLarge", message, _violations_details(report))
    return ApiError(422, "Invalid", message, _violations_details(report))


def _store_error(exc: StoreError) -> ApiError:
    if isinstance(exc, NotFound):
        return ApiError(404, "NotFound", str(exc), {"kind": exc.kind, "name": exc.name})
    if isinstance(exc, Conflict):
        return ApiError(409, "Conflict", str(exc), {"kind": exc.kind, "name": exc.name})
    if isinstance(exc, Invalid):
        return ApiError(422, "Invalid", str(exc), {"kind": exc.kind, "name": exc.name})
    if isinstance(exc, Compacted):
        return ApiError(410, "Expired", str(exc))
    if isinstance(exc, StorageFull):
        return ApiError(507, "InsufficientStorage", f"{exc}; nothing was changed")
    if isinstance(exc, Unavailable):
        # The replica keeps serving proxies its last config; a write cannot be accepted until the store is back.
        return ApiError(503, "ServiceUnavailable", f"{exc}; nothing was changed, retry when the store is back")
    return ApiError(500, "InternalError", f"store error: {exc}")


@dataclass
class Converted:
    """Documents turned into resources, with every problem found and the skipped kinds."""

    resources: list[Resource]
    skipped: list[Skipped]
    report: Report


def convert(documents: Sequence[Any], origins: Sequence[Any]) -> Converted:
    """Convert API documents (with the CLI's origins, when sent) and validate them all."""
    out = Converted([], [], Report())
    for i, doc in enumerate(documents):
        raw = origins[i] if i < len(origins) and isinstance(origins[i], dict) else {}
        lines = raw.get("lines")
        if not isinstance(lines, dict):
            lines = {}
        # Origins only locate errors; a malformed line map is dropped rather than failing the request.
        origin = Origin(str(raw.get("file", "")), {str(k): v for k, v in lines.items() if isinstance(v, int)})
        conv = to_resource(doc, origin)
        out.report.extend(conv.violations)
        if conv.resource is not None:
            out.resources.append(conv.resource)
        if conv.skipped is not None:
            out.skipped.append(conv.skipped)
    out.report.extend(validate(out.resources).violations)
    # Like kubectl, documents apply in order: a later definition of the same object replaces an earlier one.
    last = {r.key: i for i, r in enumerate(out.resources)}
    out.resources[:] = [r for i, r in enumerate(out.resources) if last[r.key] == i]
    return out


def _label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """A predicate for a Kubernetes equality-based label selector (``a=b,c!=d,e,!f``)."""
    terms: list[tuple[str, str, str]] = []  # (operator, key, value)
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            terms.append(("!=", k.strip(), v.strip()))
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            terms.append(("=", k.strip(), v.strip()))
        elif term.startswith("!"):
            terms.append(("!", term[1:].strip(), ""))
        else:
            terms.append(("exists", term, ""))

    def matches(labels: Mapping[str, str]) -> bool:
        for op, key, value in terms:
            ok = {
                "!=": labels.get(key) != value,
                "=": labels.get(key) == value,
                "!": key not in labels,
                "exists": key in labels,
            }[op]
            if not ok:
                return False
        return True

    return matches


StatusSource = Callable[[Sequence[Resource]], Mapping[tuple[str, str, str], dict[str, Any]]]
"""Computes ``status`` for objects from every stored object (Gateway API conditions, set by the mesh)."""


class ConfigApi:
    """Request handlers bound to one store."""

    def __init__(self, store: ConfigStore, metrics: Registry) -> None:
        self.store = store
        # (kinds, source): objects of these kinds are served with the status the source computes.
        self.status: tuple[frozenset[str], StatusSource] | None = None
        # Serialises writes so POST's create-only check and the write that follows cannot interleave.
        self._write_lock = asyncio.Lock()
        self._watches: set[asyncio.Task[Any]] = set()
        # Checks writes against the caller's credential (set by the composition root; see controlplane.auth).
        self.write_guard: WriteGuard = lambda _request, resource: resource
        self._applied = metrics.counter(
            "mizzen_config_applied_objects_total", "Objects written through the API, by kind and action"
        )
        metrics.register_collector(self._collect)

    def _collect(self) -> list[Family]:
        revision, objects = self.store.snapshot()
        counts: dict[str, int] = {}
        for r in objects:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        per_kind = [Sample("mizzen_config_objects", (("kind", k),), n) for k, n in sorted(counts.items())]
        return [
            Family("mizzen_config_objects", "gauge", "Objects in the config store, by kind", per_kind),
            Family(
                "mizzen_config_revision",
                "gauge",
                "The config store's current revision",
                [Sample("mizzen_config_revision", (), float(revision))],
            ),
        ]

    def _count(self, results: Sequence[ApplyResult]) -> None:
        for r in results:
            self._applied.inc(kind=r.key[0], action=r.action)

    async def apply(self, request: web.Request) -> web.Response:
        """``POST /api/mizzen/v1/apply``: validate every document, then store all or none."""
        body = await _json_body(request)
        documents = body.get("documents")
        if not isinstance(documents, list):
            raise ApiError(400, "BadRequest", 'the body must be {"documents": [...], "origins": [...]}')
        if len(documents) > limits.MAX_APPLY_DOCUMENTS:
            raise ApiError(
                413,
                "RequestEntityTooLarge",
                f"{len(documents)} documents in one apply; the limit is {limits.MAX_APPLY_DOCUMENTS} "
                "(split the input into several applies); nothing was applied",
            )
        raw_origins = body.get("origins")
        origins: list[Any] = raw_origins if isinstance(raw_origins, list) else []
        dry_run = bool(body.get("dryRun", False))
        conv = await asyncio.to_thread(convert, documents, origins)
        if not conv.report.ok:
            raise _invalid(conv.report)
        if needs_mesh_checks(conv.resources):
            conv.report.extend(await self._mesh_warnings(conv.resources))
        if needs_ingress_tls_check(conv.resources):
            conv.report.extend(await self._ingress_tls_warnings(conv.resources))
        if dry_run:  # reads only: no write lock, so it neither waits for nor delays real writes
            results = await self._store_call(self.store.apply, conv.resources, dry_run=True)
        else:
            async with self._write_lock:
                results = await self._store_call(self.store.apply, conv.resources)
        if not dry_run:
            self._count(results)
        return web.json_response(
            {
                "results": [
                    {"kind": r.key[0], "namespace": r.key[1], "name": r.key[2], "action": r.action} for r in results
                ],
                "report": conv.report.to_json(),
                "skipped": [
                    {"apiVersion": s.api_version, "kind": s.kind, "name": s.name, "file": s.file, "line": s.line}
                    for s in conv.skipped
                ],
                "dryRun": dry_run,
            }
        )

    async def _mesh_warnings(self, batch: Sequence[Resource]) -> list[Violation]:
        """Warnings that need the configuration as it will be: the batch over what is stored."""
        stored = [r for kind in SERVED_KINDS for r in await self._store_call(self.store.list, kind)]
        keys = {r.key for r in batch}
        mesh = [*batch, *(r for r in stored if r.key not in keys)]
        return await asyncio.to_thread(unserved_jwks_uris, batch, mesh)

    async def _ingress_tls_warnings(self, batch: Sequence[Resource]) -> list[Violation]:
        """MZ2785 for the batch's Sidecars, against the PeerAuthentications as they will be."""
        stored = [r for kind in CHECKED_KINDS for r in await self._store_call(self.store.list, kind)]
        keys = {r.key for r in batch}
        mesh = [*batch, *(r for r in stored if r.key not in keys)]
        return await asyncio.to_thread(ingress_tls_under_mesh_mtls, batch, mesh)

    async def _store_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except StoreError as exc:
            raise _store_error(exc) from exc

    def list_handler(self, info: KindInfo, version: str, namespaced: bool) -> Handler:
        """``GET`` on a kind's collection: a Kubernetes ``<Kind>List`` (label-selected), or a watch (``?watch=1``)."""
        api_version = f"{info.group}/{version}" if info.group else version

        async def handler(request: web.Request) -> web.StreamResponse:
            ns = request.match_info.get("namespace") if namespaced else None
            matches = _label_selector(request.query.get("labelSelector", ""))

            def wanted(r: Resource) -> bool:
                return r.kind == info.kind and (ns is None or r.namespace == ns) and matches(r.metadata.labels)

            if request.query.get("watch") in ("1", "true"):
                return await self._watch(request, wanted, api_version)
            revision, objects = await self._store_call(self.store.snapshot)
            items = [r for r in objects if wanted(r)]
            return web.json_response(
                {
                    "apiVersion": api_version,
                    "kind": f"{info.document_kind}List",
                    "metadata": {"resourceVersion": str(revision)},
                    "items": await self._documents(info, items, api_version, objects),
                }
            )

        return handler

    async def _documents(
        self, info: KindInfo, items: Sequence[Resource], api_version: str, objects: Sequence[Resource] | None = None
    ) -> list[dict[str, Any]]:
        """The documents of ``items``, with ``status`` for kinds that have one (computed on read)."""
        docs = [document_of(r, api_version) for r in items]
        if self.status is None or info.kind not in self.status[0] or not items:
            return docs
        if objects is None:
            _, objects = await self._store_call(self.store.snapshot)
        statuses = await asyncio.to_thread(self.status[1], objects)
        for r, doc in zip(items, docs, strict=True):
            if r.key in statuses:
                doc["status"] = statuses[r.key]
        return docs

    async def _watch(
        self, request: web.Request, wanted: Callable[[Resource], bool], api_version: str
    ) -> web.StreamResponse:
        """Kubernetes-style watch: one JSON line ``{"type", "object"}`` per change after ``resourceVersion``.

        Without ``resourceVersion`` the current objects arrive first as ADDED events, as in Kubernetes.
        """
        raw = request.query.get("resourceVersion", "")
        if raw and not raw.isdigit():
            raise ApiError(400, "BadRequest", f"resourceVersion must be a number, got {raw!r}")
        if raw:
            since, initial = int(raw), []
            await self._store_call(self.store.events_since, since)  # 410 Expired now, before streaming
        else:
            since, objects = await self._store_call(self.store.snapshot)
            initial = [r for r in objects if wanted(r)]
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._watches.add(task)
        try:
            for r in initial:
                await _write_event(response, "ADDED", document_of(r, api_version))
            async for event in self.store.watch(since):
                if wanted(event.resource):
                    await _write_event(response, event.type, document_of(event.resource, api_version))
        except (ConnectionResetError, asyncio.CancelledError):
            log.debug("watch on %s ended", request.path)
        finally:
            if task is not None:
                self._watches.discard(task)
        return response

    async def close(self) -> None:
        """End every open watch (called before the HTTP server shuts down, which waits for handlers)."""
        for task in list(self._watches):
            task.cancel()

    def get_handler(self, info: KindInfo, version: str) -> Handler:
        """``GET`` one object by namespace and name (404 when absent), with its status where the kind has one."""
        api_version = f"{info.group}/{version}" if info.group else version

        async def handler(request: web.Request) -> web.Response:
            m = request.match_info
            found = await self._store_call(self.store.get, info.kind, m.get("namespace", ""), m["name"])
            [doc] = await self._documents(info, [found], api_version)
            return web.json_response(doc)

        return handler

    def delete_handler(self, info: KindInfo, version: str) -> Handler:
        """``DELETE`` one object; the answer is the object as it was."""
        api_version = f"{info.group}/{version}" if info.group else version

        async def handler(request: web.Request) -> web.Response:
            key = (info.kind, request.match_info.get("namespace", ""), request.match_info["name"])
            async with self._write_lock:
                [gone] = await self._store_call(self.store.delete, [key])
            return web.json_response(document_of(gone, api_version))

        return handler

    def write_handler(self, info: KindInfo, version: str, *, create_only: bool) -> Handler:
        """``POST`` (create: 409 when it exists) or ``PUT`` (create or replace) of one validated object."""
        api_version = f"{info.group}/{version}" if info.group else version

        async def handler(request: web.Request) -> web.Response:
            resource = self.write_guard(request, await self._one_resource(request, info, api_version))
            async with self._write_lock:
                if create_only and await self._exists(resource):
                    raise ApiError(
                        409,
                        "AlreadyExists",
                        f'{info.qualified} "{resource.name}" already exists',
                        {"kind": info.plural, "name": resource.name},
                    )
                [result] = await self._store_call(self.store.apply, [resource])
            self._count([result])
            code = 201 if result.action == "created" else 200
            return web.json_response(document_of(result.resource, api_version), status=code)

        return handler

    async def _exists(self, resource: Resource) -> bool:
        try:
            await asyncio.to_thread(self.store.get, *resource.key)
        except NotFound:
            return False
        return True

    async def _one_resource(self, request: web.Request, info: KindInfo, api_version: str) -> Resource:
        doc = await _json_body(request)
        ns, name = request.match_info.get("namespace", ""), request.match_info.get("name")
        meta = doc.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if info.namespaced:
            meta.setdefault("namespace", ns)
        else:  # cluster-scoped (GatewayClass): a namespace in the body is ignored, as by Kubernetes
            meta.pop("namespace", None)
        if name is not None:
            meta.setdefault("name", name)
        doc.setdefault("apiVersion", api_version)
        doc.setdefault("kind", info.document_kind)
        same_ns = meta.get("namespace", "") == ns
        if doc["kind"] != info.document_kind or not same_ns or (name is not None and meta["name"] != name):
            body_ref = f"{doc['kind']} {meta.get('namespace', '')}/{meta.get('name')}"
            raise ApiError(400, "BadRequest", f"the body ({body_ref}) does not match the path {request.path}")
        conv = await asyncio.to_thread(convert, [doc], [])
        if not conv.report.ok or not conv.resources:
            raise _invalid(conv.report)
        resource = conv.resources[0]
        # PUT with a resourceVersion is an optimistic-concurrency update, as in Kubernetes.
        rv = meta.get("resourceVersion")
        return resource.with_metadata(resource_version=str(rv)) if rv else resource


async def _write_event(response: web.StreamResponse, kind: str, obj: dict[str, Any]) -> None:
    await response.write(json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # the parser itself gives up far below the depth a stack allows
        raise ApiError(400, "BadRequest", _TOO_DEEP) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    if json_depth(body) > limits.MAX_NESTING_DEPTH:
        raise ApiError(400, "BadRequest", _TOO_DEEP)
    return body


_TOO_DEEP = f"the request body nests more than {limits.MAX_NESTING_DEPTH} levels deep (the limit); nothing was changed"


def json_depth(value: Any) -> int:
    """How deeply JSON values nest (a scalar is 0, ``[[]]`` is 2; stops counting past the limit), iteratively."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= limits.MAX_NESTING_DEPTH:  # no need to walk further once over the limit
            stack.extend((child, level + 1) for child in children)
    return deepest


def register(app: web.Application, api: ConfigApi) -> None:
    """Add the config routes for every kind and version to ``app``."""
    app.router.add_post(APPLY_PATH, api.apply)
    for info in KINDS:
        for version in info.versions:
            base = f"/apis/{info.group}/{version}" if info.group else f"/api/{version}"
            app.router.add_get(f"{base}/{info.plural}", api.list_handler(info, version, namespaced=False))
            if info.namespaced:
                coll = f"{base}/namespaces/{{namespace}}/{info.plural}"
                app.router.add_get(coll, api.list_handler(info, version, namespaced=True))
            else:
                coll = f"{base}/{info.plural}"
            app.router.add_post(coll, api.write_handler(info, version, create_only=True))
            app.router.add_get(coll + "/{name}", api.get_handler(info, version))
            app.router.add_put(coll + "/{name}", api.write_handler(info, version, create_only=False))
            app.router.add_delete(coll + "/{name}", api.delete_handler(info, version))


def errors_middleware(metrics: Registry) -> Middleware:
    """Turn every failure into a JSON ``Status`` and count requests by route and code."""
    requests = metrics.counter("mizzen_api_requests_total", "HTTP API requests, by method, route and code")
    seconds = metrics.histogram("mizzen_api_request_duration_seconds", "HTTP API request latency, by route")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await _respond(request, handler)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        requests.inc(method=request.method, route=route, code=str(response.status))
        seconds.observe(time.perf_counter() - started, route=route)
        return response

    return middleware


async def _respond(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = _REASONS.get(exc.status, exc.reason.replace(" ", ""))
        message = "the server could not find the requested resource" if exc.status == 404 else exc.reason
        return status_response(exc.status, reason, f"{message} ({request.method} {request.path})")
    except StoreError as exc:
        return _store_error(exc).response
    except Exception as exc:
        log.exception("internal error handling %s %s", request.method, request.path)
        return status_response(500, "InternalError", f"internal error: {exc}")
