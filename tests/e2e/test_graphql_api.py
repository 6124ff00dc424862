"""The GraphQL shell over HTTP: limits, error codes, auth, and that it keeps serving."""

from __future__ import annotations

import json
import uuid

import httpx
import jwt

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.service import enqueue
from lms.users.models import Role
from tests.support import create_user

JOB_DETAILS = """query($q: String!, $id: String!) {
  jobDetails(queueName: $q, jobId: $id) { id status kind queueName attempts errorTraceback
    events { status } }
}"""
RETRY = "mutation($id: ID) { retryJobs(input: {jobId: $id}) { retriedCount jobs { id status } } }"


def still_serving(api) -> None:
    assert api.data("{ __typename }") == {"__typename": "Query"}


def nested_type_refs(levels: int) -> str:
    return (
        '{ __type(name: "Job") { fields { type '
        + "{ ofType " * levels
        + "{ name }"
        + " }" * levels
        + " } } }"
    )


def test_typename_and_version(api):
    data = api.data("{ __typename apiVersion }")
    assert data["__typename"] == "Query" and data["apiVersion"]


def test_graphiql_introspection_depth_is_allowed_but_deeper_nesting_is_refused(api):
    assert "__type" in api.data(nested_type_refs(8))
    response = api.post(nested_type_refs(30))
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_DEEP"
    still_serving(api)


def test_fragments_cannot_hide_depth(api):
    chain = (
        "".join(f"fragment T{i} on __Type {{ ofType {{ ...T{i + 1} }} }} " for i in range(25))
        + "fragment T25 on __Type { name }"
    )
    query = '{ __type(name: "Job") { ...T0 } } ' + chain
    assert "QUERY_TOO_DEEP" in api.error_codes(query)


def test_thousands_of_aliases_are_refused(api):
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(5000)) + " }"
    codes = api.error_codes(query)
    assert codes[0] == "TOO_MANY_ALIASES" and len(codes) <= 3
    still_serving(api)


def test_oversized_and_malformed_bodies_get_clear_errors(api):
    huge = json.dumps({"query": "{ __typename }", "pad": "x" * (get_settings().max_body_bytes + 1)})
    # its own connection: the server answers before reading the body, then closes it
    response = httpx.post(
        f"{api.base_url}/graphql",
        content=huge,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"

    for body in ('{"query": "{ __typename }"', "[1, 2", "\xff\xfe", ""):
        response = api.http.post(
            "/graphql", content=body.encode("latin-1"), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

    response = api.http.post(
        "/graphql",
        content="query={__typename}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415

    body = api.execute("{ __typename ")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert api.error_codes("{ noSuchField }") == ["GRAPHQL_VALIDATION_FAILED"]
    still_serving(api)


def test_security_headers_are_set(api):
    response = api.post("{ __typename }")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_job_details_need_an_admin(api):
    with session_scope() as session:
        job = enqueue(session, "system.noop")
    variables = {"q": "default", "id": str(job.id)}
    assert api.error_codes(JOB_DETAILS, variables) == ["UNAUTHENTICATED"]

    _, student_token = create_user(Role.STUDENT)
    assert api.error_codes(JOB_DETAILS, variables, student_token) == ["FORBIDDEN"]

    admin, admin_token = create_user(Role.ADMIN)
    details = api.data(JOB_DETAILS, variables, admin_token)["jobDetails"]
    assert details["id"] == str(job.id)
    assert (details["kind"], details["queueName"], details["status"]) == (
        "system.noop",
        "default",
        "QUEUED",
    )
    assert [event["status"] for event in details["events"]] == ["QUEUED"]

    assert api.error_codes(JOB_DETAILS, {"q": "email", "id": str(job.id)}, admin_token) == [
        "JOB_NOT_FOUND"
    ]
    assert api.error_codes(JOB_DETAILS, {"q": "default", "id": "not-a-uuid"}, admin_token) == [
        "JOB_NOT_FOUND"
    ]
    assert api.error_codes(RETRY, {"id": str(job.id)}, admin_token) == ["JOB_NOT_RETRYABLE"]


def test_bad_tokens_are_refused_with_a_code(api):
    admin, token = create_user(Role.ADMIN)
    variables = {"q": "default", "id": str(uuid.uuid4())}
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    claims = jwt.decode(token, options={"verify_signature": False})
    unsigned = jwt.encode({**claims, "role": "ADMIN"}, key=None, algorithm="none")
    expired = jwt.encode(
        {**claims, "exp": claims["iat"] - 10}, get_settings().secret_key, algorithm="HS256"
    )
    for bad in (tampered, unsigned, "garbage", expired):
        codes = api.error_codes(JOB_DETAILS, variables, bad)
        assert codes and codes[0] in ("UNAUTHENTICATED", "TOKEN_EXPIRED"), (bad, codes)
    assert api.error_codes(JOB_DETAILS, variables, expired) == ["TOKEN_EXPIRED"]
    # public fields still answer with a bad token: identity is checked only where needed
    assert api.data("{ __typename }", token="garbage") == {"__typename": "Query"}


def test_health_and_metrics(api):
    health = api.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "broker": "ok", "events": "ok"}
    with session_scope() as session:
        enqueue(session, "system.noop")
    metrics = api.http.get("/metrics").text
    assert 'lms_jobs{queue="default",status="QUEUED"}' in metrics
    assert "lms_graphql_request_seconds_count" in metrics
