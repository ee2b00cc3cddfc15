#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hostile and clumsy control-channel clients against 'cuse_tpm socket':
short, oversized, unknown, out-of-order and stalled requests, and a second
client.  Each must get swtpm's documented answer or a clean close, and the
TPM must keep serving.  Prints PASS/FAIL lines and a closing tally."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/cuse_tpm"
TMP = tempfile.mkdtemp(prefix="cuse_tpm_ctrl.")
CTRL = os.path.join(TMP, "ctrl")
results = []

TPM_SUCCESS, TPM_BAD_PARAMETER, TPM_BAD_ORDINAL = 0, 3, 0x0A
CMD_GET_CAPABILITY, CMD_INIT, CMD_GET_TPMESTABLISHED = 1, 2, 4
CMD_SET_STATEBLOB, CMD_STOP = 13, 14


def check(name, ok, why=""):
    results.append(ok)
    print(("PASS: %s" % name) if ok else ("FAIL: %s: %s" % (name, why)))


def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(CTRL)
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def request(s, cmd, body=b"", reply=4):
    s.sendall(struct.pack(">I", cmd) + body)
    return recv_exact(s, reply)


def result(data):
    return struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None


def alive():
    with connect() as s:
        return request(s, CMD_GET_CAPABILITY, reply=8) != b""


daemon = subprocess.Popen(
    [BIN, "socket", "--tpm2", "--tpmstate", "dir=" + os.path.join(TMP, "state"),
     "--ctrl", "type=unixio,path=" + CTRL, "--log",
     "file=" + os.path.join(TMP, "log") + ",level=3"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        if os.path.exists(CTRL):
            break
        time.sleep(0.05)

    with connect() as s:
        check("unknown-command-gets-bad-ordinal",
              result(request(s, 0x7777)) == TPM_BAD_ORDINAL)
        check("established-before-init-gets-bad-ordinal",
              result(request(s, CMD_GET_TPMESTABLISHED)) == TPM_BAD_ORDINAL)
        check("init-works", result(request(s, CMD_INIT, b"\0\0\0\0")) == 0)
        check("set-stateblob-while-running-gets-bad-ordinal",
              result(request(s, CMD_SET_STATEBLOB,
                             struct.pack(">III", 0, 1, 0))) == TPM_BAD_ORDINAL)

    # A stalled request gets TPM_BAD_PARAMETER after the deadline, as from
    # swtpm, and the connection closes; others are served.
    for name, partial in (("half-a-code", b"\0\0"),
                          ("init-with-short-body", b"\0\0\0\x02\0\0")):
        s = connect()
        s.sendall(partial)
        t0 = time.monotonic()
        answer = recv_exact(s, 4)
        closed = s.recv(4) == b""
        took = time.monotonic() - t0
        check("stalled-%s-answered-and-closed" % name,
              result(answer) == TPM_BAD_PARAMETER and closed and took < 2,
              "answer=%r closed=%s after %.2fs" % (answer, closed, took))
        s.close()
    check("tpm-serves-after-stalled-clients", alive())

    # A blob larger than any TPM state is refused and the stream closed.
    with connect() as s:
        request(s, CMD_STOP)
        s.sendall(struct.pack(">IIII", CMD_SET_STATEBLOB, 0, 1, 64 << 20))
        r = recv_exact(s, 4)
        check("oversized-blob-refused", result(r) == TPM_BAD_PARAMETER, repr(r))
        check("oversized-blob-closes-stream", s.recv(4) == b"")
    check("tpm-serves-after-oversized-blob", alive())

    # One control client at a time: a second waits until the first leaves.
    first = connect()
    request(first, CMD_GET_CAPABILITY, reply=8)
    second = connect()
    second.settimeout(0.5)
    second.sendall(struct.pack(">I", CMD_GET_CAPABILITY))
    try:
        early = second.recv(8)
    except socket.timeout:
        early = None
    first.close()
    second.settimeout(5)
    late = early if early else recv_exact(second, 8)
    check("second-client-served-after-first-leaves",
          early is None and len(late) == 8, "early=%r late=%r" % (early, late))
    second.close()

    # Garbage of every length, then the TPM still answers.
    for n in (1, 3, 5, 17, 4100, 9000):
        try:
            with connect() as s:
                s.sendall(os.urandom(n))
                s.settimeout(1)
                try:
                    s.recv(64)
                except socket.timeout:
                    pass
        except OSError:
            pass
    check("tpm-serves-after-garbage", alive())
    check("daemon-never-died", daemon.poll() is None)
finally:
    daemon.terminate()
    try:
        rc = daemon.wait(10)
    except subprocess.TimeoutExpired:
        daemon.kill()
        rc = None
    check("sigterm-exits-0", rc == 0, "rc=%s" % rc)
    shutil.rmtree(TMP, ignore_errors=True)

print("%d passed, %d failed" % (results.count(True), results.count(False)))
sys.exit(0 if all(results) else 1)
