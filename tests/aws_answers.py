"""boto3 clients whose calls are answered by functions — for the services moto does not cover (ARC Region
switch, AWS Backup's recovery points, Route 53's TestDNSAnswer).

Each call goes through the real client: botocore validates the request against the service model before
anything is answered (as botocore's Stubber does), and each answer is validated against the operation's
output shape. Unlike Stubber, answers are functions of the request, so a test states behaviour, not order.
"""

from __future__ import annotations

from typing import Any, Callable

import botocore.session
from botocore.validate import validate_parameters

Handler = Callable[..., dict]
_session = botocore.session.get_session()


class Answers:
    def __init__(self, service: str, region: str, handlers: dict[str, Handler], fall_through: bool = False) -> None:
        """`fall_through`: operations without a handler, or whose handler returns None, go on to whatever answers
        HTTP (moto, in a mock_aws)."""
        self.fall_through = fall_through
        self.client = _session.create_client(service, region_name=region, aws_access_key_id="testing",
                                             aws_secret_access_key="testing")
        self.handlers = dict(handlers)
        self.calls: list[tuple[str, dict]] = []
        events, service_id = self.client.meta.events, self.client.meta.service_model.service_id.hyphenize()
        events.register_first(f"before-parameter-build.{service_id}.*", self._capture)
        events.register_first(f"before-call.{service_id}.*", self._answer)
        self._pending: dict[str, Any] = {}

    def _capture(self, params: dict, model: Any, **_: Any) -> None:
        self._pending = {"name": model.name, "params": dict(params)}

    def _answer(self, model: Any, **_: Any) -> tuple[Any, dict] | None:
        name, params = model.name, self._pending["params"]
        self.calls.append((name, params))
        if name not in self.handlers:
            if self.fall_through:
                return None
            raise AssertionError(f"unexpected call {name}({params})")
        response = self.handlers[name](**params)
        if response is None and self.fall_through:  # the handler leaves this one to moto
            return None
        if isinstance(response, Exception):
            raise response
        validate_parameters(response, model.output_shape)
        return _HttpOk(), response

    def called(self, name: str) -> list[dict]:
        return [params for call, params in self.calls if call == name]


class _HttpOk:
    status_code = 200
    headers: dict = {}


def error(client: Any, code: str, message: str, operation: str) -> Exception:
    """A ClientError the client would raise for `code`."""
    from botocore.exceptions import ClientError
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)
