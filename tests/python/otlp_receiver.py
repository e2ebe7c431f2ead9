"""An OTLP trace receiver and a plain gRPC peer, for the tracing tests.

    otlp_receiver.py

Serves, on one free 127.0.0.1 port, OpenTelemetry's TraceService (the collector's
`opentelemetry.proto.collector.trace.v1.TraceService/Export`, from the opentelemetry-proto
package) and, for any other method, a stock grpcio handler that answers an empty message and
records the metadata it was called with. Prints {"kind": "ready", "port": PORT}, then one JSON line per span
received ({"kind": "span", ...}) and per call seen ({"kind": "call", "method", "metadata"}).
Runs until stdin closes.
"""
import json
import sys
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def emit(record):
    print(json.dumps(record), flush=True)


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    emit({
                        "kind": "span",
                        "service": resource.get("service.name", ""),
                        "name": span.name,
                        "span_kind": span.kind,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "status_code": span.status.code,
                        "attributes": {
                            a.key: a.value.string_value or a.value.int_value
                            for a in span.attributes
                        },
                    })
        return trace_service_pb2.ExportTraceServiceResponse()


class Peer(grpc.GenericRpcHandler):
    """Any other method: records its metadata, answers an empty message (valid protobuf)."""

    def service(self, handler_call_details):
        method = handler_call_details.method

        def answer(request, context):
            emit({
                "kind": "call",
                "method": method,
                "metadata": {k: v for k, v in context.invocation_metadata()},
            })
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    server.add_generic_rpc_handlers((Peer(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    emit({"kind": "ready", "port": port})
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
