#!/usr/bin/env python3
"""Writes scenarios.json: what the Python pubtools-sign CLI sends and prints.

It runs the Python tool's own click commands (msg_container_sign_main,
msg_clear_sign_main, msg_blob_sign_main) from its source tree, with the
AMQP clients replaced by a recorder that answers every request with a
production-shaped reply, and records per scenario: the requests (address,
headers, body), the reply each got, the receive address, stdout and the
exit code. Request ids become REQ-<n> (n: position in the sent order) and
"created" a fixed time, so the Go test can compare byte for byte.

Run once, against a checkout of release-engineering/pubtools-sign:
    git -C pubtools-sign archive HEAD src | tar -x -C /tmp/pysrc
    python3 gen.py /tmp/pysrc/src > scenarios.json
Needs only click, PyYAML and typing_extensions (proton, pyOpenSSL,
marshmallow/piny and pubtools.tracing are stubbed: they move bytes, they do
not decide them).
"""
import json
import os
import sys
import tempfile
import types

import yaml

CREATED = "2026-11-25T10:00:00.123456Z"
CREATOR = "pubtools-sign-test"
ENV = "golden-env"


def stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


# pyOpenSSL: the creator is the certificate's CN.
class _Subject:
    CN = CREATOR
    UID = None


class _Cert:
    def get_subject(self):
        return _Subject()


stub("OpenSSL")
sys.modules["OpenSSL"].crypto = stub("OpenSSL.crypto", FILETYPE_PEM=1, load_certificate=lambda *a: _Cert())


# pubtools.tracing: no tracing.
class _Wrapper:
    def instrument_func(self, *a, **k):
        return lambda f: f


stub("pubtools.tracing", get_trace_wrapper=lambda: _Wrapper())

# The config loader (marshmallow + piny): plain YAML.
stub("pubtools.sign.conf")
stub("pubtools.sign.conf.conf", CONFIG_PATHS=["~/.config/pubtools-sign/conf.yaml", "/etc/pubtools-sign/conf.yaml"],
     load_config=lambda fname: yaml.safe_load(open(fname)))

SENT = []      # every request, in the order sent
LISTEN = []    # receive addresses
REPLY = {"kind": "ok"}


def reply_for(n, body, headers):
    """The production server's answer to request n."""
    rid = "REQ-%d" % n
    failed = REPLY["kind"] == "error"
    errors = ["emulated signing failure for request " + rid] if failed else []
    status = "failure" if failed else "success"
    wrapper = {"i": 1, "msg": None, "msg_id": "2026-00000000-0000-4000-8000-%012d" % n, "timestamp": 1764064800.0,
               "topic": "/topic/" + LISTEN[-1].split("/topic/", 1)[-1], "username": "fedmsg"}
    if "claims" in body:
        claims = [{"claim_file": c["claim_file"], "manifest_digest": c["manifest_digest"], "repo": c["repo"],
                   "signed_claims": {} if failed else {name: "SIG-%d-%d-%s" % (n, i, name) for name in c["sig_keynames"]}}
                  for i, c in enumerate(body["claims"])]
        msg = {"claims": claims, "created": body["created"], "errors": errors, "pub_task_id": body["pipeline_run_id"],
               "request_id": rid, "request_received_time": "2026-11-25T10:00:01.000001", "requested_by": body["requested_by"],
               "signing_server_average_time_secs": 0.5, "signing_status": status}
    else:
        signed = {"claim_file": "signed_claim", "data": "signed_data", "artifact": "signed_payload"}
        msg = {k: v for k, v in body.items() if k not in signed and k != "created"}
        msg.setdefault("sig_keyname", "")
        msg.update({"request_id": rid, "errors": errors, "request_received_time": "2026-11-25T10:00:01.000001",
                    "signature_type": headers["mtype"], "signing_server_requested": "2026-11-25T10:00:01.000001",
                    "signing_server_responded": "2026-11-25T10:00:01.500001", "signing_status": status})
        for data_attr, signed_attr in signed.items():
            if data_attr in body:
                msg[signed_attr] = None if failed else "SIG-%d" % n
        msg = dict(sorted(msg.items()))
    wrapper["msg"] = msg
    return wrapper, {"mtype": headers["mtype"], "source": "signing-server"}


class SendClient:
    def __init__(self, messages, errors, **kwargs):
        self.messages = messages
        self.errors = errors

    def run(self):
        for m in self.messages:
            n = len(SENT)
            body = dict(m.body)
            real_id = body["request_id"]
            body["request_id"] = "REQ-%d" % n
            reply = reply_for(n, body, m.headers)
            SENT.append({"address": m.address, "headers": m.headers, "body": json.dumps(body), "ttl": m.ttl,
                         "reply": json.dumps(reply[0]), "reply_headers": reply[1], "real_id": real_id})
            RECEIVED[real_id] = reply
        return []


RECEIVED = {}


class RecvClient:
    def __init__(self, uid, message_ids, topic, id_key, received, errors, **kwargs):
        LISTEN.append(topic)
        self.ids = message_ids
        self.recv = received
        self.errors = errors

    def get_errors(self):
        return []


class RecvThread:
    def __init__(self, recv):
        self.recv = recv

    def start(self):
        pass

    def join(self):
        # Replies carry the real request id under msg.request_id.
        for rid in self.recv.ids:
            body, headers = RECEIVED[rid]
            body = json.loads(json.dumps(body).replace('"REQ-%d"' % next(i for i, s in enumerate(SENT) if s["real_id"] == rid), json.dumps(rid)))
            self.recv.recv[rid] = (body, headers)

    def stop(self):
        pass


stub("pubtools.sign.clients.msg_send_client", SendClient=SendClient)
stub("pubtools.sign.clients.msg_recv_client", RecvClient=RecvClient, RecvThread=RecvThread)


def main(src):
    sys.path.insert(0, src)
    from click.testing import CliRunner
    from pubtools.sign.signers import msgsigner

    msgsigner.isodate_now = lambda: CREATED
    tmp = tempfile.mkdtemp()
    cert = os.path.join(tmp, "cert.pem")
    open(cert, "w").write("stub")
    section = {
        "messaging_brokers": ["amqp://127.0.0.1:5672"], "messaging_cert_key": cert, "messaging_ca_cert": cert,
        "topic_send_to": "/topic/robosignatory.{environment}.sign",
        "topic_listen_to": "/topic/robosignatory.{environment}.client.{creator}.{task_id}",
        "environment": ENV, "service": "pubtools-sign", "timeout": 5, "retries": 2, "send_retries": 2,
        "message_id_key": "request_id", "log_level": "debug",
    }
    conf = os.path.join(tmp, "conf.yaml")
    yaml.safe_dump({"msg_signer": section, "msg_batch_signer": dict(section, chunk_size=3)}, open(conf, "w"))
    blob = os.path.join(tmp, "blob.bin")
    blob_bytes = b"blob \x00\xff contents\n"
    open(blob, "wb").write(blob_bytes)

    D1 = "sha256:" + "1" * 64
    D2 = "sha256:" + "2" * 64
    container = ["msg-container-sign", "--task-id", "t-1"]
    scenarios = [
        ("single", container + ["--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1.0", "--digest", D1], "ok"),
        ("single-requester", container + ["--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1.0", "--digest", D1, "--requester", "alice"], "ok"),
        ("several-keys-and-references", container + ["--signing-key", "0123456789ABCDEF", "--signing-key", "FEDCBA9876543210",
                                                      "--reference", "registry.example/ns/app:1.0", "--digest", D1,
                                                      "--reference", "registry.example/other/app:2", "--digest", "sha256:0000"], "ok"),
        ("key-names", container + ["--signing-key", "0123456789ABCDEF", "--signing-key-name", "alpha", "--signing-key", "FEDCBA9876543210",
                                   "--signing-key-name", "beta", "--reference", "registry.example/ns/app:1.0", "--digest", D1], "ok"),
        ("raw", container + ["--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1.0", "--digest", D1,
                             "--reference", "registry.example/ns/app:1.1", "--digest", D2, "--raw"], "ok"),
        ("error-replies", container + ["--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1.0", "--digest", D1], "error"),
        ("error-replies-raw", container + ["--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1.0", "--digest", D1, "--raw"], "error"),
        ("batch-two-keys", container + ["--signer-type", "batch", "--signing-key", "0123456789ABCDEF", "--signing-key-name", "alpha",
                                        "--signing-key", "FEDCBA9876543210", "--signing-key-name", "beta",
                                        "--reference", "registry.example/ns/app:1.0", "--digest", D1,
                                        "--reference", "registry.example/other/app:2", "--digest", "sha256:0000",
                                        "--reference", "registry.example/ns/app:1.1", "--digest", D2], "ok"),
        ("clear", ["msg-clear-sign", "--task-id", "t-2", "--signing-key", "ABCD1234", "hello world", "caf\u00e9 <&>"], "ok"),
        ("clear-repo-requester", ["msg-clear-sign", "--task-id", "t-2", "--signing-key", "ABCD1234", "--repo", "ns/app", "--requester", "alice", "hello"], "ok"),
        ("clear-raw", ["msg-clear-sign", "--task-id", "t-2", "--signing-key", "ABCD1234", "--raw", "hello"], "ok"),
        ("blob", ["msg-blob-sign", "--task-id", "t-3", "--signing-key", "ABCD1234", "--blob-file", "BLOB"], "ok"),
        ("blob-requester-raw", ["msg-blob-sign", "--task-id", "t-3", "--signing-key", "ABCD1234", "--blob-file", "BLOB", "--requester", "alice", "--raw"], "ok"),
    ]
    commands = {"msg-container-sign": msgsigner.msg_container_sign_main, "msg-clear-sign": msgsigner.msg_clear_sign_main,
                "msg-blob-sign": msgsigner.msg_blob_sign_main}
    out = {"creator": CREATOR, "environment": ENV, "blob_file_base64": __import__("base64").b64encode(blob_bytes).decode(), "scenarios": []}
    for name, argv, kind in scenarios:
        SENT.clear()
        LISTEN.clear()
        RECEIVED.clear()
        REPLY["kind"] = kind
        args = [a if a != "BLOB" else blob for a in argv[1:]] + ["--config-file", conf]
        result = CliRunner().invoke(commands[argv[0]], args)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        stdout = result.stdout
        for i, s in enumerate(SENT):
            stdout = stdout.replace(s["real_id"], "REQ-%d" % i)
        out["scenarios"].append({
            "name": name, "args": argv, "listen": sorted(set(LISTEN)),
            "requests": [{k: v for k, v in s.items() if k != "real_id"} for s in SENT],
            "stdout": stdout, "exit_code": result.exit_code,
        })
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
