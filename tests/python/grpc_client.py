"""A stock grpcio client for the integration tests.

With MICRO_TEST_TLS_CA=ca.pem it connects over TLS, trusting that CA only; with
MICRO_TEST_TLS_CERT and MICRO_TEST_TLS_KEY it presents that client certificate, and with
MICRO_TEST_TLS_NAME it checks that the server's certificate names that host (by default, the
address's host).

Stubs are generated at run time by grpcio-tools from the repository's .proto files, exactly as a
user of the service would make them.

    grpc_client.py greet ADDRESS NAME          -> prints the reply's msg
    grpc_client.py fail ADDRESS CODE DETAIL    -> prints the gRPC status code name and details
    grpc_client.py health ADDRESS              -> prints the grpc.health.v1 status
    grpc_client.py stream ADDRESS COUNT        -> Greeter.Stream: the counts received
    grpc_client.py pingpong ADDRESS N          -> Greeter.PingPong with strokes 1..N: the strokes back
    grpc_client.py collect ADDRESS N           -> Test.Collect with N messages: the count
    grpc_client.py flood ADDRESS DELAY_MS      -> Test.Flood without end: "started" after the
                                                  first item, then the items received and how
                                                  the stream ended (OK, or code name and details)
"""
import importlib
import json
import os
import shutil
import sys
import tempfile

import grpc
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stubs(include, proto):
    out = tempfile.mkdtemp(prefix="micro-stubs-")
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main([
        "grpc_tools.protoc", f"-I{include}", f"-I{well_known}",
        f"--python_out={out}", f"--grpc_python_out={out}", os.path.join(include, proto),
    ])
    if code != 0:
        sys.exit(f"protoc failed on {proto}")
    sys.path.insert(0, out)
    base = proto[:-len(".proto")].replace("/", ".")
    return importlib.import_module(base + "_pb2"), importlib.import_module(base + "_pb2_grpc")


def main():
    cmd, address = sys.argv[1], sys.argv[2]
    ca = os.environ.get("MICRO_TEST_TLS_CA")
    if ca:
        # TLS, trusting only this CA.
        def read(variable):
            path = os.environ.get(variable)
            if not path:
                return None
            with open(path, "rb") as f:
                return f.read()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read("MICRO_TEST_TLS_CA"),
            private_key=read("MICRO_TEST_TLS_KEY"),
            certificate_chain=read("MICRO_TEST_TLS_CERT"),
        )
        name = os.environ.get("MICRO_TEST_TLS_NAME")
        options = [("grpc.ssl_target_name_override", name)] if name else []
        channel = grpc.secure_channel(address, credentials, options=options)
    else:
        channel = grpc.insecure_channel(address)
    if cmd == "greet":
        pb, rpc = stubs(os.path.join(ROOT, "proto"), "greeter/greeter.proto")
        reply = rpc.GreeterStub(channel).Call(pb.Request(name=sys.argv[3]), timeout=10)
        print(reply.msg)
    elif cmd == "fail":
        pb, rpc = stubs(os.path.join(ROOT, "tests", "proto"), "test.proto")
        try:
            rpc.TestStub(channel).Fail(pb.FailRequest(code=int(sys.argv[3]), detail=sys.argv[4]), timeout=10)
            sys.exit("expected an error")
        except grpc.RpcError as e:
            print(e.code().name)
            print(e.details())
    elif cmd == "health":
        # Copied under another file name: a module path starting with grpc/ would shadow grpcio.
        include = tempfile.mkdtemp(prefix="micro-health-")
        shutil.copy(os.path.join(ROOT, "proto", "grpc", "health", "v1", "health.proto"), os.path.join(include, "micro_health.proto"))
        pb, rpc = stubs(include, "micro_health.proto")
        reply = rpc.HealthStub(channel).Check(pb.HealthCheckRequest(), timeout=10)
        print(pb.HealthCheckResponse.ServingStatus.Name(reply.status))
    elif cmd == "stream":
        pb, rpc = stubs(os.path.join(ROOT, "proto"), "greeter/greeter.proto")
        replies = rpc.GreeterStub(channel).Stream(pb.StreamingRequest(count=int(sys.argv[3])), timeout=10)
        print(" ".join(str(r.count) for r in replies))
    elif cmd == "pingpong":
        pb, rpc = stubs(os.path.join(ROOT, "proto"), "greeter/greeter.proto")
        pings = (pb.Ping(stroke=i) for i in range(1, int(sys.argv[3]) + 1))
        print(" ".join(str(p.stroke) for p in rpc.GreeterStub(channel).PingPong(pings, timeout=10)))
    elif cmd == "echo":
        # echo ADDRESS MESSAGE [KEY=VALUE ...]: the reply as JSON, or the error's code and details.
        pb, rpc = stubs(os.path.join(ROOT, "tests", "proto"), "test.proto")
        metadata = [tuple(pair.split("=", 1)) for pair in sys.argv[4:]]
        try:
            reply = rpc.TestStub(channel).Echo(pb.EchoRequest(message=sys.argv[3]), metadata=metadata, timeout=10)
            print(json.dumps({"message": reply.message, "metadata": dict(reply.metadata), "subject": reply.subject}))
        except grpc.RpcError as e:
            print(e.code().name)
            print(e.details())
    elif cmd == "collect":
        pb, rpc = stubs(os.path.join(ROOT, "tests", "proto"), "test.proto")
        reqs = (pb.EchoRequest(message=str(i)) for i in range(int(sys.argv[3])))
        print(rpc.TestStub(channel).Collect(reqs, timeout=10).count)
    elif cmd == "flood":
        pb, rpc = stubs(os.path.join(ROOT, "tests", "proto"), "test.proto")
        replies = rpc.TestStub(channel).Flood(pb.FloodRequest(count=1_000_000, delay_ms=int(sys.argv[3])), timeout=60)
        received = 0
        try:
            for _ in replies:
                received += 1
                if received == 1:
                    print("started", flush=True)
            print(received)
            print("OK")
        except grpc.RpcError as e:
            print(received)
            print(e.code().name)
            print(e.details())
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
