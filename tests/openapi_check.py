"""Checks Switchboard's OpenAPI document with the reference validators.

Usage: openapi_check.py DOCUMENT.json [EXCHANGES.json]

The document must pass openapi-spec-validator. Each exchange (a real
request made to the server and the response it got, recorded by
tests/openapi.rs) must validate against the document with openapi-core:
the path and method exist, the query and body are as declared, and the
response's status, content type and body are as declared. Prints every
failure and exits 1 if there was one.
"""

import json
import sys
from urllib.parse import parse_qs

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate


def expect_invalid(api, request):
    try:
        api.validate_request(request)
    except Exception:
        return
    raise AssertionError("the document accepts a request the server refuses")


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    validate(spec)
    print(f"the document is valid ({len(spec['paths'])} paths)")
    if len(sys.argv) < 3:
        return 0
    # CSV is text: read it as a string, as the document declares it.
    config = Config(extra_media_type_deserializers={"text/csv": lambda data, **_: data.decode()})
    api = OpenAPI.from_dict(spec, config=config)
    with open(sys.argv[2]) as f:
        exchanges = json.load(f)
    failures = 0
    for x in exchanges:
        path, _, query = x["path"].partition("?")
        args = {k: v[0] for k, v in parse_qs(query).items()}
        body = x.get("request")
        request = MockRequest(
            "http://localhost",
            x["method"].lower(),
            path,
            args=args,
            headers={"Authorization": "Bearer token"},
            data=body.encode() if body is not None else None,
        )
        response = MockResponse(
            x["response"].encode(),
            status_code=x["status"],
            content_type=x["content_type"],
        )
        what = f"{x['method']} {x['path']} -> {x['status']}"
        checks = [("response", lambda: api.validate_response(request, response))]
        # A request made wrong on purpose (to see the refusal) must fail
        # the document's rules too; one that passes them is a finding.
        if x.get("invalid"):
            checks.insert(0, ("request (invalid on purpose)", lambda: expect_invalid(api, request)))
        else:
            checks.insert(0, ("request", lambda: api.validate_request(request)))
        failed = False
        for check, call in checks:
            try:
                call()
            except Exception as e:  # every kind of mismatch is a failure to report
                failed = True
                cause = getattr(e, "__cause__", None)
                print(f"FAILED {what}: {check}: {e}" + (f" ({cause})" if cause else ""))
        failures += failed
        if not failed:
            print(f"ok {what}")
    print(f"{len(exchanges)} exchanges, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
