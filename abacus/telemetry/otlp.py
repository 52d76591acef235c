"""OTLP/HTTP wire format: request bodies in, response bodies out, as the OTLP specification
says (binary protobuf or the JSON mapping, optionally gzip-compressed; errors as a
`google.rpc.Status` in the request's own encoding). Decoding uses the official messages of
`opentelemetry-proto`, never a hand-written parser."""

from __future__ import annotations

import base64
import contextlib
import json
import zlib
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

PROTOBUF, JSON = "application/x-protobuf", "application/json"
SIGNALS = ("metrics", "logs")

_REQUESTS = {"metrics": metrics_service_pb2.ExportMetricsServiceRequest,
             "logs": logs_service_pb2.ExportLogsServiceRequest}
_RESPONSES = {"metrics": metrics_service_pb2.ExportMetricsServiceResponse,
              "logs": logs_service_pb2.ExportLogsServiceResponse}
_REJECTED_FIELD = {"metrics": "rejected_data_points", "logs": "rejected_log_records"}
_INVALID_ARGUMENT = 3  # google.rpc.Code


@dataclass
class OtlpError(Exception):
    """A request refused with `status` (400, 413, 415); `message` says what and where."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def media_type(content_type: str | None) -> str | None:
    """The body's encoding (PROTOBUF or JSON) from a Content-Type header, or None."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base if base in (PROTOBUF, JSON) else None


def gunzip(body: bytes, limit: int) -> bytes:
    """The inflated body, refusing (413) one that inflates past `limit` bytes, so a small
    compressed bomb cannot fill the memory, and (400) one that is not gzip."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"Content-Encoding gzip: the body is not valid gzip ({exc})") \
            from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise OtlpError(413, f"the body inflates past {limit} bytes, the most accepted")
    if not inflater.eof:
        raise OtlpError(400, "Content-Encoding gzip: the body is truncated")
    return out


def decode(signal: str, body: bytes, encoding: str) -> Message:
    """The Export{Metrics,Logs}ServiceRequest in `body` (encoding PROTOBUF or JSON)."""
    message = _REQUESTS[signal]()
    try:
        if encoding == PROTOBUF:
            message.ParseFromString(body)
        else:
            # Unknown fields must be ignored (OTLP JSON rules).
            data = _hex_ids(json.loads(body.decode("utf-8")))
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError,
            ValueError) as exc:
        what = "protobuf" if encoding == PROTOBUF else "JSON"
        detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise OtlpError(400, f"/otlp/v1/{signal}: the body is not a valid OTLP {what} "
                             f"Export{signal.title()}ServiceRequest: {detail}") from None
    return message


_ID_KEYS = frozenset(("traceId", "spanId", "trace_id", "span_id", "parentSpanId"))


def _hex_ids(value):
    """OTLP JSON writes trace and span ids as hex, the protobuf JSON mapping reads bytes as
    base64: convert them before parsing (anything else is left alone)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str) and len(item) in (16, 32):
                # Not hex: left for the mapping to read as base64.
                with contextlib.suppress(ValueError):
                    value[key] = base64.b64encode(bytes.fromhex(item)).decode()
            else:
                _hex_ids(item)
    elif isinstance(value, list):
        for item in value:
            _hex_ids(item)
    return value


def _encode(message: Message, encoding: str) -> bytes:
    if encoding == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()


def success(signal: str, encoding: str, rejected: int = 0, error: str = "") -> bytes:
    """The Export…ServiceResponse: empty on full success; `partial_success` when some
    points or records were rejected (the client must not retry them)."""
    response = _RESPONSES[signal]()
    if rejected or error:
        setattr(response.partial_success, _REJECTED_FIELD[signal], rejected)
        response.partial_success.error_message = error
    return _encode(response, encoding)


def status(message: str, encoding: str | None, code: int = _INVALID_ARGUMENT) -> bytes:
    """A google.rpc.Status body (JSON when the request's encoding is unknown)."""
    return _encode(status_pb2.Status(code=code, message=message), encoding or JSON)
