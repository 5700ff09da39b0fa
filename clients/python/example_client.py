#!/usr/bin/env python3
"""Streams one completion from a tspserve server to stdout.

    python3 clients/python/example_client.py --target 127.0.0.1:50051 --prompt "Hello" --max-tokens 16

Needs python3-grpcio (and python3-protobuf). The stubs are generated from proto/ into a temporary
folder at start: with protoc and grpc_python_plugin (Debian: protobuf-compiler,
protobuf-compiler-grpc) when both are on PATH, else with grpc_tools.protoc (whose protoc must be
3.15 or newer for proto3 `optional`). Exit status: 0 on success, 1 on an RPC error (the status is
printed on stderr), 2 when the stubs cannot be generated.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

DEFAULT_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
PROTO_FILE = os.path.join("tspserve", "v1", "generate.proto")


def generate_stubs(proto_dir, out_dir):
    """Writes tspserve/v1/generate_pb2.py and generate_pb2_grpc.py under out_dir."""
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin:
        command = [protoc, "-I" + proto_dir, "--python_out=" + out_dir, "--grpc_out=" + out_dir,
                   "--plugin=protoc-gen-grpc=" + plugin, os.path.join(proto_dir, PROTO_FILE)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("protoc failed: " + result.stderr)
        return
    from grpc_tools import protoc as grpc_protoc  # the fallback: python3-grpc-tools
    args = ["protoc", "-I" + proto_dir, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
            os.path.join(proto_dir, PROTO_FILE)]
    if grpc_protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on " + PROTO_FILE)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="server HOST:PORT")
    parser.add_argument("--prompt", required=True, help="prompt text")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--api-key", default="", help="sent as 'authorization: Bearer KEY'")
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline, seconds")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    parser.add_argument("--verbose", action="store_true", help="print usage and timings on stderr")
    return parser.parse_args()


def stream(args, pb2, pb2_grpc):
    import grpc
    request = pb2.GenerateRequest(text=args.prompt)
    request.sampling.temperature = args.temperature
    request.stopping.max_tokens = args.max_tokens
    metadata = [("authorization", "Bearer " + args.api_key)] if args.api_key else None
    with grpc.insecure_channel(args.target) as channel:
        stub = pb2_grpc.GenerationStub(channel)
        try:
            for response in stub.Generate(request, timeout=args.timeout, metadata=metadata,
                                          wait_for_ready=True):
                if response.HasField("chunk"):
                    sys.stdout.write(response.chunk.text)
                    sys.stdout.flush()
                elif args.verbose:
                    done = response.complete
                    print("\n[%s] finish=%s prompt=%d completion=%d first_token=%.3fs total=%.3fs" % (
                        response.request_id, pb2.FinishReason.Name(done.finish_reason),
                        done.usage.prompt_tokens, done.usage.completion_tokens,
                        done.timings.first_token, done.timings.finished), file=sys.stderr)
        except grpc.RpcError as error:
            print("\nerror: %s: %s" % (error.code().name, error.details()), file=sys.stderr)
            return 1
    sys.stdout.write("\n")
    return 0


def main():
    args = parse_args()
    out_dir = tempfile.mkdtemp(prefix="tspserve_stubs_")
    try:
        try:
            generate_stubs(args.proto_dir, out_dir)
        except (RuntimeError, ImportError) as error:
            print("cannot generate the stubs: %s" % error, file=sys.stderr)
            return 2
        sys.path.insert(0, out_dir)
        from tspserve.v1 import generate_pb2, generate_pb2_grpc
        return stream(args, generate_pb2, generate_pb2_grpc)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
