#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Crash test: SIGKILL cuse_tpm at random moments while a client increments
an NV counter, rewrites an NV index and extends a PCR; restart it on the
same state directory (or, with "file", the same linear state file) each
time.  The state must always load, and every increment and write the
client saw succeed must still be there.

Usage: test_crash.py [BINARY] [ITERATIONS] [dir|file]"""
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/cuse_tpm"
ITERATIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
TMP = tempfile.mkdtemp(prefix="cuse_tpm_crash.")
LINEAR = len(sys.argv) > 3 and sys.argv[3] == "file"
STATE = os.path.join(TMP, "state.img" if LINEAR else "state")
STATE_ARG = ("backend-uri=file://" if LINEAR else "dir=") + STATE
COUNTER, DATA = 0x01500100, 0x01500101
OWNER, PW = 0x40000001, 0x40000009


def cmd(tag, cc, body):
    return struct.pack(">HII", tag, 10 + len(body), cc) + body


def auth():
    return struct.pack(">IIHBH", 9, PW, 0, 0, 0)


def nv_define(index, attrs, size):
    pub = struct.pack(">IHIHH", index, 0x000B, attrs, 0, size)
    return cmd(0x8002, 0x12A, struct.pack(">I", OWNER) + auth() +
               struct.pack(">H", 0) + struct.pack(">H", len(pub)) + pub)


def nv_increment():
    return cmd(0x8002, 0x134, struct.pack(">II", OWNER, COUNTER) + auth())


def nv_write(index, data):
    return cmd(0x8002, 0x137, struct.pack(">II", OWNER, index) + auth() +
               struct.pack(">H", len(data)) + data + struct.pack(">H", 0))


def nv_read(index, size):
    return cmd(0x8002, 0x14E, struct.pack(">II", OWNER, index) + auth() +
               struct.pack(">HH", size, 0))


def pcr_extend():
    return cmd(0x8002, 0x182, struct.pack(">I", 16) + auth() +
               struct.pack(">IH", 1, 0x000B) + os.urandom(32))


class Tpm:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def run(self, command):
        """The response code and the response, or None if the TPM died."""
        try:
            self.sock.sendall(command)
            head = b""
            while len(head) < 10:
                chunk = self.sock.recv(10 - len(head))
                if not chunk:
                    return None, b""
                head += chunk
            size = struct.unpack(">I", head[2:6])[0]
            rest = b""
            while len(rest) < size - 10:
                chunk = self.sock.recv(size - 10 - len(rest))
                if not chunk:
                    return None, b""
                rest += chunk
            return struct.unpack(">I", head[6:10])[0], head + rest
        except OSError:
            return None, b""


def start(port):
    p = subprocess.Popen(
        [BIN, "socket", "--tpm2", "--tpmstate", STATE_ARG, "--server",
         "type=tcp,port=%d" % port, "--flags", "not-need-init,startup-clear",
         "--log", "file=" + os.path.join(TMP, "log") + ",level=2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            return p, Tpm(port)
        except OSError:
            if p.poll() is not None:
                return p, None
            time.sleep(0.01)
    return p, None


def start_on_free_port():
    """The first start: a random port may be taken (the local end of some
    client's connection, say) and the daemon then exits at once, so try
    others, below the kernel's ephemeral range.  The restarts reuse it."""
    for _ in range(8):
        port = random.randint(20000, 32000)
        p, tpm = start(port)
        if tpm:
            return port, p, tpm
        if p.poll() is None:
            p.kill()
        p.wait()
    return port, p, None


def nv_value(tpm, index, size):
    rc, resp = tpm.run(nv_read(index, size))
    if rc != 0:
        return rc, None
    # response: header, parameterSize, TPM2B data, session
    return rc, resp[16:16 + size]


def main():
    acked_count, acked_data, inflight_data = 0, b"\0" * 8, None
    failures, kills, commands = [], 0, 0
    port, p, tpm = start_on_free_port()
    assert tpm, "daemon did not start"
    assert tpm.run(nv_define(COUNTER, 0x00060016, 8))[0] == 0
    assert tpm.run(nv_define(DATA, 0x00060006, 8))[0] == 0
    assert tpm.run(nv_increment())[0] == 0
    acked_count = 1
    assert tpm.run(nv_write(DATA, acked_data))[0] == 0
    p.kill()
    p.wait()
    for it in range(ITERATIONS):
        p, tpm = start(port)
        if tpm is None:
            failures.append("iteration %d: daemon did not start (rc %s)"
                            % (it, p.poll()))
            break
        rc, raw = nv_value(tpm, COUNTER, 8)
        if rc != 0:
            failures.append("iteration %d: counter unreadable: 0x%x" % (it, rc))
            break
        count = struct.unpack(">Q", raw)[0]
        if count < acked_count:
            failures.append("iteration %d: counter %d < acknowledged %d"
                            % (it, count, acked_count))
        acked_count = count
        rc, data = nv_value(tpm, DATA, 8)
        if data not in (acked_data, inflight_data):
            failures.append("iteration %d: NV data %r is neither the last "
                            "acknowledged nor the one in flight" % (it, data))
        acked_data = data if data is not None else acked_data
        # kill at a random moment within the next few commands
        timer = threading.Timer(random.uniform(0.0, 0.05), p.kill)
        timer.start()
        while p.poll() is None:
            which = random.randrange(3)
            if which == 0:
                rc, _ = tpm.run(nv_increment())
                if rc == 0:
                    acked_count += 1
            elif which == 1:
                inflight_data = os.urandom(8)
                rc, _ = tpm.run(nv_write(DATA, inflight_data))
                if rc == 0:
                    acked_data = inflight_data
            else:
                rc, _ = tpm.run(pcr_extend())
            if rc is None:
                break
            commands += 1
            if rc != 0:
                failures.append("iteration %d: command failed 0x%x" % (it, rc))
                break
        timer.cancel()
        p.kill()
        p.wait()
        kills += 1
        if failures:
            break
    print("# %d kills during %d acknowledged commands; final counter %d"
          % (kills, commands, acked_count))
    ok = not failures and kills == ITERATIONS
    print(("PASS: crash-%d-sigkills-lose-nothing" % ITERATIONS) if ok else
          "FAIL: crash-%d-sigkills-lose-nothing: %s" % (ITERATIONS,
                                                        "; ".join(failures[:3])))
    print("%d passed, %d failed" % (ok, not ok))
    return 0 if ok else 1


try:
    sys.exit(main())
finally:
    shutil.rmtree(TMP, ignore_errors=True)
