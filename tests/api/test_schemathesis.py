"""Property-based tests from the OpenAPI schema (schemathesis): valid and invalid inputs, never a 5xx.

Bounded: a few examples per operation and generation mode, so it runs in seconds.
"""

import pytest

pytestmark = pytest.mark.django_db

EXAMPLES = 12


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, without closing the test's database connection after each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from shop.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def run_examples(operation, mode, headers, failures):
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    # Generating multipart uploads is slow: fewer of them.
    examples = 4 if operation.method.upper() == "POST" and operation.path.endswith("/photo/") else EXAMPLES

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
                            f"{response.text[:300]}")
            return
        ctype = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        if response.status_code == 204 or case.formatted_path.endswith(("/docs/", "/redoc/")):
            return
        assert ctype.startswith(("application/json", "application/vnd.oai.openapi")), (case.formatted_path, ctype, response.status_code)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, response.text

    try:
        check()
    except Unsatisfiable:
        # No invalid input exists for an operation without parameters.
        assert mode.name == "NEGATIVE", operation.label


def test_the_api_never_answers_5xx(wsgi_app, catalog, staff):
    import schemathesis
    from schemathesis import GenerationMode

    from tests.api.conftest import token_for

    catalog("ring", "gold", 1, tags={"type": "ring", "metal": "gold"})
    catalog("necklace", "silver", 2)
    staff_headers = {"Authorization": f"Token {token_for(staff)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            staff_too = "tags" in operation.path  # tag review: also as staff, past the permission check
            for headers in ({}, staff_headers) if staff_too else ({},):
                run_examples(operation, mode, headers, failures)
    assert operations >= 12
    assert not failures, "\n".join(failures[:10])
