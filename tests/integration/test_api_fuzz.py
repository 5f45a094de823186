"""The API checked from its own OpenAPI document by an external tool (schemathesis).

A real center with a proxy and **no agents**: whatever the fuzzer submits has no
host to run on. Every operation is called with generated valid and invalid
requests, signed with the admin key (and unsigned, to see auth enforced);
schemathesis' checks run on every answer: no server error, status codes,
content types, headers and bodies as documented, invalid data refused. The
number of examples per operation is bounded so the run stays short.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[test]')")
import requests  # noqa: E402  (schemathesis brings it)
from hypothesis import HealthCheck, settings  # noqa: E402

from center.security import sign_request  # noqa: E402
from transports import client_context  # noqa: E402

from .conftest import up_fleet  # noqa: E402

pytestmark = pytest.mark.integration

EXAMPLES = 25


class _Signed(requests.auth.AuthBase):
    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id, self.secret = key_id, secret.encode()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        assert r.method is not None and r.url is not None
        if "X-Starling-Signature" in r.headers:
            return r  # schemathesis' own (invalid) credentials: it checks that they are refused
        r.headers.update(sign_request(self.key_id, self.secret, r.method, r.url, body))
        return r


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with up_fleet(tmp_path_factory.mktemp("fuzz"), 0) as fleet:
        p = fleet.profile
        with requests.Session() as session:
            session.verify = p["ca_file"]
            session.auth = _Signed(p["key_id"], p["secret"])
            yield {"fleet": fleet, "api": p["api"], "session": session}


def test_api_against_its_document(center: dict[str, Any]) -> None:
    from hypothesis import given

    with httpx.Client(verify=client_context(center["fleet"].profile["ca_file"])) as http:
        doc = http.get(center["api"] + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=center["api"], session=center["session"], verify=center["session"].verify)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.label}: {str(exc)[:1500]}")
    assert operations == len([1 for p in doc["paths"].values() for _ in p])
    assert not failures, "\n\n".join(failures)
