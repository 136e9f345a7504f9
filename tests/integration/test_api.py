"""The control plane's HTTP API over a real control-plane process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mizzen.testing.controlplane import RunningControlPlane

VS_PATH = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"


def vs_doc(name: str, host: str = "reviews", ns: str = "default", **extra: Any) -> dict[str, Any]:
    spec = {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}], **extra}]}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


@pytest.fixture
def api(cp: RunningControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=30) as client:
        yield client


def test_probes_need_no_token(cp: RunningControlPlane) -> None:
    """/healthz and /readyz answer without a token."""
    assert httpx.get(cp.address + "/healthz").text == "ok"
    assert httpx.get(cp.address + "/readyz").status_code == 200


def test_token_required_everywhere_else(cp: RunningControlPlane) -> None:
    """Without or with a wrong token the API answers 401 with a JSON Status."""
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {cp.token}"}):
        r = httpx.get(cp.address + VS_PATH, headers=headers)
        assert r.status_code == 401
        body = r.json()
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


def test_token_file_is_private(cp: RunningControlPlane) -> None:
    """The token is created at first start in MIZZEN_HOME with mode 0600."""
    token_file = cp.home / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() == cp.token


def test_put_get_list_delete(api: httpx.Client) -> None:
    """PUT creates (201) then replaces (200); GET, lists per namespace and across namespaces; DELETE."""
    r = api.put(f"{VS_PATH}/reviews", json=vs_doc("reviews"))
    assert r.status_code == 201
    created = r.json()
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    r = api.put(f"{VS_PATH}/reviews", json=vs_doc("reviews", host="ratings"))
    assert r.status_code == 200 and r.json()["metadata"]["generation"] == 2
    api.put("/apis/networking.istio.io/v1/namespaces/prod/virtualservices/x", json=vs_doc("x", ns="prod"))
    got = api.get(f"{VS_PATH}/reviews").json()
    assert got["spec"]["hosts"] == ["ratings"] and got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = api.get(VS_PATH).json()
    assert listed["kind"] == "VirtualServiceList" and [i["metadata"]["name"] for i in listed["items"]] == ["reviews"]
    everywhere = api.get("/apis/networking.istio.io/v1/virtualservices").json()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]] == [
        ("default", "reviews"),
        ("prod", "x"),
    ]
    assert api.delete(f"{VS_PATH}/reviews").status_code == 200
    r = api.get(f"{VS_PATH}/reviews")
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    assert api.delete(f"{VS_PATH}/reviews").status_code == 404


def test_every_served_version_reaches_the_same_objects(api: httpx.Client) -> None:
    """An object written as v1beta1 is read back under v1 and v1alpha3 with that apiVersion."""
    doc = vs_doc("reviews") | {"apiVersion": "networking.istio.io/v1beta1"}
    assert (
        api.put("/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/reviews", json=doc).status_code
        == 201
    )
    got = api.get("/apis/networking.istio.io/v1alpha3/namespaces/default/virtualservices/reviews").json()
    assert got["apiVersion"] == "networking.istio.io/v1alpha3"


def test_core_services_path(api: httpx.Client) -> None:
    """Core kinds live under /api/v1 as in Kubernetes."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "reviews"},
        "spec": {"ports": [{"name": "http", "port": 9080}], "selector": {"app": "reviews"}},
    }
    assert api.post("/api/v1/namespaces/default/services", json=svc).status_code == 201
    assert api.post("/api/v1/namespaces/default/services", json=svc).json()["reason"] == "AlreadyExists"
    assert api.get("/api/v1/namespaces/default/services/reviews").json()["spec"]["ports"][0]["port"] == 9080


def test_label_selector(api: httpx.Client) -> None:
    """labelSelector filters lists by equality, inequality and existence."""
    for name, labels in (("a", {"app": "x"}), ("b", {"app": "y"}), ("c", {})):
        doc = vs_doc(name)
        doc["metadata"]["labels"] = labels
        api.put(f"{VS_PATH}/{name}", json=doc)

    def names(selector: str) -> list[str]:
        return [i["metadata"]["name"] for i in api.get(VS_PATH, params={"labelSelector": selector}).json()["items"]]

    assert names("app=x") == ["a"]
    assert names("app!=x") == ["b", "c"]
    assert names("app") == ["a", "b"]
    assert names("!app") == ["c"]


def test_put_invalid_is_422_with_violations(api: httpx.Client) -> None:
    """A PUT that fails validation answers 422 with the report and stores nothing."""
    r = api.put(f"{VS_PATH}/reviews", json=vs_doc("reviews", timeout="5x"))
    assert r.status_code == 422
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "Invalid"
    [v] = body["details"]["violations"]
    assert v["path"] == "spec.http[0].timeout"
    assert v["code"].startswith("MZ")
    assert api.get(f"{VS_PATH}/reviews").status_code == 404


def test_put_body_must_match_path(api: httpx.Client) -> None:
    """A PUT whose body names another object is a 400 BadRequest."""
    r = api.put(f"{VS_PATH}/other", json=vs_doc("reviews"))
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"


def test_put_with_stale_resource_version_conflicts(api: httpx.Client) -> None:
    """PUT carrying an old resourceVersion is rejected with 409 Conflict."""
    first = api.put(f"{VS_PATH}/reviews", json=vs_doc("reviews")).json()
    api.put(f"{VS_PATH}/reviews", json=vs_doc("reviews", host="ratings"))
    stale = vs_doc("reviews", host="details")
    stale["metadata"]["resourceVersion"] = first["metadata"]["resourceVersion"]
    r = api.put(f"{VS_PATH}/reviews", json=stale)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"


def test_batch_apply_reports_actions(api: httpx.Client) -> None:
    """The apply endpoint reports created, configured and unchanged per document, and skipped kinds."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}
    body = {
        "documents": [vs_doc("a"), vs_doc("b"), deployment],
        "origins": [
            {"file": "f.yaml", "lines": {"": 1}},
            {"file": "f.yaml", "lines": {"": 9}},
            {"file": "f.yaml", "lines": {"": 20}},
        ],
    }
    r = api.post("/api/mizzen/v1/apply", json=body).json()
    assert [x["action"] for x in r["results"]] == ["created", "created"]
    assert r["skipped"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "file": "f.yaml", "line": 20}]
    body["documents"][1] = vs_doc("b", host="ratings")
    r = api.post("/api/mizzen/v1/apply", json=body).json()
    assert [(x["name"], x["action"]) for x in r["results"]] == [("a", "unchanged"), ("b", "configured")]


def test_batch_apply_dry_run_stores_nothing(api: httpx.Client) -> None:
    """dryRun reports what would happen and changes nothing."""
    r = api.post("/api/mizzen/v1/apply", json={"documents": [vs_doc("a")], "dryRun": True}).json()
    assert r["results"][0]["action"] == "created" and r["dryRun"] is True
    assert api.get(f"{VS_PATH}/a").status_code == 404


def test_batch_apply_is_all_or_nothing_with_file_lines(api: httpx.Client) -> None:
    """One invalid document rejects the batch (422); violations carry the file and line the CLI sent."""
    body = {
        "documents": [vs_doc("good"), vs_doc("bad", timeout="5x")],
        "origins": [
            {"file": "a.yaml", "lines": {"": 1}},
            {"file": "b.yaml", "lines": {"": 3, "spec.http[0].timeout": 17}},
        ],
    }
    r = api.post("/api/mizzen/v1/apply", json=body)
    assert r.status_code == 422
    [v] = r.json()["details"]["violations"]
    assert (v["file"], v["line"], v["path"]) == ("b.yaml", 17, "spec.http[0].timeout")
    assert api.get(VS_PATH).json()["items"] == []


def test_bad_requests_are_statuses(api: httpx.Client) -> None:
    """Malformed bodies and unknown paths answer with JSON Status objects."""
    r = api.post("/api/mizzen/v1/apply", content=b"{not json")
    assert r.status_code == 400 and r.json()["kind"] == "Status"
    r = api.post("/api/mizzen/v1/apply", json={"docs": []})
    assert r.status_code == 400
    r = api.get("/apis/networking.istio.io/v1/namespaces/default/foos")
    assert r.status_code == 404 and r.json()["kind"] == "Status"


def test_openapi_describes_paths(api: httpx.Client) -> None:
    """/openapi/v3 is an OpenAPI 3 document listing every kind's paths and the apply endpoint."""
    doc = api.get("/openapi/v3").json()
    assert doc["openapi"].startswith("3.")
    named = "/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices/{name}"
    assert set(doc["paths"][named]) >= {"get", "put", "delete", "parameters"}
    assert "/api/v1/namespaces/{namespace}/services" in doc["paths"]
    assert "post" in doc["paths"]["/api/mizzen/v1/apply"]
    assert "Status" in doc["components"]["schemas"]


def test_metrics(controlplane: RunningControlPlane) -> None:
    """/metrics serves Prometheus text with store and request metrics."""
    with httpx.Client(base_url=controlplane.address, headers=controlplane.headers()) as api:
        api.put(f"{VS_PATH}/a", json=vs_doc("a"))
        text = api.get("/metrics").text
    assert 'mizzen_config_objects{kind="VirtualService"} 1' in text
    assert "# TYPE mizzen_api_requests_total counter" in text
    assert 'mizzen_config_applied_objects_total{action="created",kind="VirtualService"} 1' in text


def test_watch_streams_changes_in_order(cp: RunningControlPlane, api: httpx.Client) -> None:
    """?watch=true streams existing objects as ADDED, then each later change of that kind, in order."""
    api.put(f"{VS_PATH}/a", json=vs_doc("a"))
    events: list[tuple[str, str]] = []
    with (
        httpx.Client(base_url=cp.address, headers=cp.headers(), timeout=30) as client,
        client.stream("GET", VS_PATH, params={"watch": "true"}) as stream,
    ):
        lines = stream.iter_lines()
        events.append(_event(next(lines)))
        api.put(f"{VS_PATH}/b", json=vs_doc("b"))
        api.put("/apis/networking.istio.io/v1/namespaces/other/virtualservices/c", json=vs_doc("c", ns="other"))
        api.put(f"{VS_PATH}/a", json=vs_doc("a", host="ratings"))
        api.delete(f"{VS_PATH}/b")
        events.extend(_event(next(lines)) for _ in range(3))
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


def test_watch_resumes_from_resource_version(api: httpx.Client) -> None:
    """A watch from a resourceVersion replays only the changes after it."""
    first = api.put(f"{VS_PATH}/a", json=vs_doc("a")).json()["metadata"]["resourceVersion"]
    api.put(f"{VS_PATH}/b", json=vs_doc("b"))
    with api.stream("GET", VS_PATH, params={"watch": "1", "resourceVersion": first}) as stream:
        assert _event(next(stream.iter_lines())) == ("ADDED", "b")


def _event(line: str) -> tuple[str, str]:
    event = json.loads(line)
    return event["type"], event["object"]["metadata"]["name"]
