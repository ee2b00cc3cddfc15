#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hostile local clients against 'cuse_tpm socket': SECURITY.md's promises
that no peer can hang the daemon, exhaust it or make it lose state, each
tried the way it was once broken (issue 12).

Descriptors passed in bulk; coalesced requests; a byte-at-a-time drip; a
control client and a data client that stop mid-request or stop reading;
SIGTERM under all of these; LOCK_STORAGE while another process holds the
lock; octal modes; FIFOs as pid file, log and state files; a flood of bad
requests against the log.  No timed assertion is tight: a bound here is
generous (tens of seconds) and only tells a wait from a hang; the times
measured are printed for the record.  Prints PASS/FAIL lines and a tally."""
import fcntl
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/cuse_tpm"
TMP = tempfile.mkdtemp(prefix="cuse_tpm_hostile.")
results = []
HANG = 30  # seconds after which a wait is a hang

TPM_SUCCESS, TPM_FAIL, TPM_BAD_PARAMETER, TPM_BAD_ORDINAL = 0, 9, 3, 0x0A
CMD_GET_CAPABILITY, CMD_INIT, CMD_SHUTDOWN = 1, 2, 3
CMD_GET_TPMESTABLISHED, CMD_SET_LOCALITY = 4, 5
CMD_HASH_START, CMD_HASH_DATA = 6, 7
CMD_CANCEL_TPM_CMD = 9
CMD_STORE_VOLATILE, CMD_GET_STATEBLOB, CMD_GET_CONFIG = 10, 12, 15
CMD_SET_DATAFD, CMD_GET_INFO, CMD_LOCK_STORAGE = 16, 18, 19
PTM_BLOB_TYPE_SAVESTATE = 3
TPM2_STARTUP_CLEAR = bytes.fromhex("80010000000c000001440000")
TPM2_GETRANDOM_8 = bytes.fromhex("80010000000c0000017b0008")
TPM2_RC_CANCELED = 0x909


def tpm2_create_primary_rsa3072():
    """CreatePrimary of an RSA-3072 storage key under the owner: a prime
    search that takes from milliseconds to a second."""
    public = bytes.fromhex("0001000b00030072" "0000" "000600800043" "0010"
                           "0c00" "00000000" "0000")
    body = (struct.pack(">II", 0x40000001, 9) +
            bytes.fromhex("400000090000000000") +  # password session
            bytes.fromhex("000400000000") +        # empty inSensitive
            struct.pack(">H", len(public)) + public + b"\0\0" + b"\0" * 4)
    return struct.pack(">HII", 0x8002, 10 + len(body), 0x131) + body


def tpm2_flush_context(handle):
    return struct.pack(">HII", 0x8001, 14, 0x165) + handle


def check(name, ok, why=""):
    results.append(bool(ok))
    print(("PASS: %s" % name) if ok else ("FAIL: %s: %s" % (name, why)))


def note(text):
    print("# " + text)


class Daemon:
    """One 'cuse_tpm socket' in a directory of its own."""
    count = 0

    def __init__(self, *extra, server=False, ctrl_opts="", state_opts="",
                 state=None):
        Daemon.count += 1
        self.dir = os.path.join(TMP, "d%d" % Daemon.count)
        os.mkdir(self.dir)
        self.state = state or os.path.join(self.dir, "state")
        self.ctrl = os.path.join(self.dir, "ctrl")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        args = [BIN, "socket", "--tpm2", "--tpmstate", "dir=" + self.state + state_opts,
                "--ctrl", "type=unixio,path=" + self.ctrl + ctrl_opts,
                "--log", "file=%s,level=2" % self.log]
        if server:
            args += ["--server", "type=unixio,path=" + self.data]
        self.proc = subprocess.Popen(args + list(extra),
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        for _ in range(400):
            if os.path.exists(self.ctrl) and \
                    (not server or os.path.exists(self.data)):
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)

    def connect(self, path=None):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(HANG)
        s.connect(path or self.ctrl)
        return s

    def request(self, cmd, body=b"", reply=4):
        with self.connect() as s:
            return request(s, cmd, body, reply)

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self):
        """SIGTERM; returns (exit status or None on a hang, seconds)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(HANG)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        return rc, time.monotonic() - t0

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        try:
            chunk = s.recv(n - len(data))
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def request(s, cmd, body=b"", reply=4):
    s.sendall(struct.pack(">I", cmd) + body)
    return recv_exact(s, reply)


def result(data):
    return struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None


def read_response(s):
    """One TPM response: whole, or what came of it before EOF."""
    head = recv_exact(s, 10)
    if len(head) < 10:
        return head
    return head + recv_exact(s, struct.unpack(">I", head[2:6])[0] - 10)


def tpm_command(d, cmd):
    """One TPM command on a data connection of its own; its response."""
    with d.connect(d.data) as s:
        s.sendall(cmd)
        return read_response(s)


def send_fds(s, data, fds):
    s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                        struct.pack("%di" % len(fds), *fds))] if fds else [])


def send_with_fds(s, data, nfds):
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(nfds)]
    try:
        send_fds(s, data, fds)
    finally:
        for fd in fds:
            os.close(fd)


def test_passed_fds():
    """Finding 1: every descriptor a request carries is closed."""
    d = Daemon()
    d.request(CMD_GET_CAPABILITY, reply=8)
    before = d.fds()
    with d.connect() as s:
        for i in range(300):
            send_with_fds(s, struct.pack(">I", CMD_GET_CAPABILITY), 1 + i % 3)
            recv_exact(s, 8)
        # and a SET_DATAFD-less request with a descriptor in every byte
        for b in struct.pack(">I", CMD_GET_CONFIG):
            send_with_fds(s, bytes([b]), 2)
        config = recv_exact(s, 8)
    # the daemon closes its end of the connection after ours: wait for it
    for _ in range(100):
        after = d.fds()
        if after <= before:
            break
        time.sleep(0.05)
    check("passed-fds-all-closed", after <= before,
          "open fds %d before, %d after 300 requests with 1-3 fds"
          % (before, after))
    check("fds-in-every-byte-still-one-request", result(config) == 0,
          repr(config))
    d.stop()


def test_coalesced():
    """Trailing bytes: requests sent together are answered in step."""
    d = Daemon()
    with d.connect() as s:
        s.sendall(struct.pack(">I", CMD_GET_CAPABILITY) +
                  struct.pack(">IB", CMD_SET_LOCALITY, 0) +
                  struct.pack(">I", CMD_GET_CONFIG) +
                  struct.pack(">I", CMD_INIT) + b"\0\0\0\0" +
                  struct.pack(">IB", CMD_SET_LOCALITY, 3) +
                  struct.pack(">I", CMD_GET_TPMESTABLISHED))
        caps = recv_exact(s, 8)
        loc = recv_exact(s, 4)
        config = recv_exact(s, 8)
        init = recv_exact(s, 4)
        loc3 = recv_exact(s, 4)
        est = recv_exact(s, 8)
    check("coalesced-requests-in-step",
          len(caps) == 8 and result(loc) == 0 and result(config) == 0 and
          result(init) == 0 and result(loc3) == 0 and result(est) == 0 and
          len(est) == 8,
          "caps=%r loc=%r config=%r init=%r loc3=%r est=%r"
          % (caps, loc, config, init, loc3, est))
    # QEMU sends ptm_loc whole: four bytes, the locality first
    with d.connect() as s:
        loc = request(s, CMD_SET_LOCALITY, b"\x02\0\0\0")
        caps = request(s, CMD_GET_CAPABILITY, reply=8)
    check("qemu-sized-set-locality-keeps-step",
          result(loc) == 0 and len(caps) == 8, "loc=%r caps=%r" % (loc, caps))
    d.stop()


def test_drip():
    """Finding 2: the deadline runs per request, not per byte: a streamed
    body dripped a byte every 100 ms is cut off (once, each byte restarted
    it and the drip went on for ever)."""
    d = Daemon()
    d.request(CMD_INIT, b"\0\0\0\0")
    with d.connect() as s:
        request(s, CMD_HASH_START)
        s.sendall(struct.pack(">II", CMD_HASH_DATA, 80))
        t0 = time.monotonic()
        for _ in range(80):
            try:
                s.send(b"x")
            except OSError:
                break
            time.sleep(0.1)
        answer = recv_exact(s, 4)
        closed = recv_exact(s, 1) == b""
        took = time.monotonic() - t0
    note("a HASH_DATA dripped a byte per 100 ms was answered after %.1fs"
         % took)
    check("drip-fed-request-cut-off",
          result(answer) not in (None, TPM_SUCCESS) and closed,
          "a request dripped over %.1fs got %r, closed=%s"
          % (took, answer, closed))
    check("tpm-serves-after-drip",
          len(d.request(CMD_GET_CAPABILITY, reply=8)) == 8)
    d.stop()


def fill_without_reading(s, cmd, body=b""):
    """Sends requests and never reads: until the daemon stops taking them."""
    s.setblocking(False)
    frame = struct.pack(">I", cmd) + body
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < HANG:
        try:
            s.send(frame)
            sent += 1
        except BlockingIOError:
            time.sleep(0.2)  # the daemon may still be catching up
            try:
                s.send(frame)
                sent += 1
            except BlockingIOError:
                break
        except OSError:
            break
    return sent


def test_stalled_control_peers():
    """Finding 2: a control client that stops reading loses the channel."""
    d = Daemon(server=True)
    d.request(CMD_INIT, b"\0\0\0\0")
    hog = d.connect()
    info_all = struct.pack(">QII", 0xffffffff, 0, 0)
    sent = fill_without_reading(hog, CMD_GET_INFO, info_all)
    t0 = time.monotonic()
    try:
        caps = d.request(CMD_GET_CAPABILITY, reply=8)
    except OSError as e:
        caps = repr(e)
    took = time.monotonic() - t0
    note("a control client that stopped reading after %d requests held the "
         "channel %.1fs" % (sent, took))
    check("control-peer-not-reading-is-dropped",
          isinstance(caps, bytes) and len(caps) == 8, "caps=%r" % (caps,))
    hog.close()

    # a data client with one byte of a command, a control client with
    # half a request, one that never reads: SIGTERM still ends it in order
    data = d.connect(d.data)
    data.sendall(b"\x80")
    hog = d.connect()
    fill_without_reading(hog, CMD_GET_INFO, info_all)
    half = d.connect()
    half.sendall(b"\0\0")
    time.sleep(0.5)  # each thread is in its read or write by now
    rc, took = d.stop()
    note("SIGTERM with stalled data and control peers: exit after %.2fs"
         % took)
    check("sigterm-with-stalled-peers-exits-0", rc == 0, "rc=%s" % rc)
    for s in (data, half, hog):
        s.close()

    # a data client that stalls mid-command loses the data channel
    d = Daemon(server=True)
    d.request(CMD_INIT, b"\0\0\0\0")
    stalled = d.connect(d.data)
    stalled.sendall(TPM2_STARTUP_CLEAR[:5])
    t0 = time.monotonic()
    stalled.settimeout(HANG)
    gone = recv_exact(stalled, 1) == b""
    took = time.monotonic() - t0
    note("a data client stalled mid-command was dropped after %.1fs" % took)
    check("data-peer-stalled-mid-command-is-dropped", gone)
    resp = tpm_command(d, TPM2_STARTUP_CLEAR)
    check("data-channel-serves-after-stalled-peer", len(resp) >= 10,
          repr(resp))
    check("control-answers-while-data-peer-stalls",
          len(d.request(CMD_GET_CAPABILITY, reply=8)) == 8)
    stalled.close()
    rc, took = d.stop()
    check("sigterm-after-stalled-data-peer-exits-0", rc == 0, "rc=%s" % rc)


def test_lock_storage():
    """Finding 3: LOCK_STORAGE waits without the TPM and is capped."""
    d = Daemon("--migration", "release-lock-outgoing", server=True)
    d.request(CMD_INIT, b"\0\0\0\0")
    tpm_command(d, TPM2_STARTUP_CLEAR)
    with d.connect() as s:
        s.sendall(struct.pack(">IIII", CMD_GET_STATEBLOB, 0,
                              PTM_BLOB_TYPE_SAVESTATE, 0))
        head = recv_exact(s, 16)
        recv_exact(s, struct.unpack(">I", head[12:16])[0])
    # the migration destination takes the lock (a POSIX lock, as swtpm's)
    lockfd = os.open(os.path.join(d.state, ".lock"), os.O_RDWR)
    fcntl.lockf(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    waiter = d.connect()
    t0 = time.monotonic()
    waiter.sendall(struct.pack(">II", CMD_LOCK_STORAGE, 0xffffffff))
    time.sleep(0.3)
    resp = tpm_command(d, TPM2_GETRANDOM_8)
    cmd_took = time.monotonic() - t0
    check("command-answered-while-lock-storage-waits", len(resp) >= 10,
          repr(resp))
    answer = recv_exact(waiter, 4)
    took = time.monotonic() - t0
    note("LOCK_STORAGE 0xffffffff gave up after %.1fs (cap: 300 x 10 ms); a "
         "command meanwhile took %.2fs" % (took, cmd_took))
    check("lock-storage-retries-capped", result(answer) == TPM_FAIL,
          "answer=%r after %.1fs" % (answer, took))
    waiter.close()
    # SIGTERM during such a wait ends the daemon at once
    waiter = d.connect()
    waiter.sendall(struct.pack(">II", CMD_LOCK_STORAGE, 0xffffffff))
    time.sleep(0.3)
    rc, took = d.stop()
    note("SIGTERM during a LOCK_STORAGE wait: exit after %.2fs" % took)
    check("sigterm-during-lock-storage-wait", rc == 0, "rc=%s" % rc)
    waiter.close()
    os.close(lockfd)


def test_modes():
    """Finding 6: mode= is octal, 0777 at most."""
    d = Daemon(ctrl_opts=",mode=600", state_opts=",mode=600")
    st = os.stat(d.ctrl)
    check("ctrl-mode-600-is-octal", stat.S_IMODE(st.st_mode) == 0o600,
          "socket mode %o" % stat.S_IMODE(st.st_mode))
    d.request(CMD_INIT, b"\0\0\0\0")
    d.request(CMD_STORE_VOLATILE)
    st = os.stat(os.path.join(d.state, "tpm2-00.volatilestate"))
    check("tpmstate-mode-600-is-octal", stat.S_IMODE(st.st_mode) == 0o600,
          "state file mode %o" % stat.S_IMODE(st.st_mode))
    d.stop()
    for bad in ("1777", "4755", "800", "0x1ff", "-1"):
        p = subprocess.run(
            [BIN, "socket", "--tpm2", "--tpmstate", "dir=" + os.path.join(TMP, "m"),
             "--ctrl", "type=unixio,path=%s,mode=%s"
             % (os.path.join(TMP, "m.sock"), bad), "--log", "file=-"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=HANG)
        check("ctrl-mode-%s-refused" % bad,
              p.returncode != 0 and b"mode" in p.stderr, p.stderr[-200:])


def test_fifos():
    """A FIFO as pid file, log or state file never blocks."""
    for what in ("pid", "log"):
        fifo = os.path.join(TMP, "fifo." + what)
        os.mkfifo(fifo)
        args = [BIN, "socket", "--tpm2", "-f", "--tpmstate",
                "dir=" + os.path.join(TMP, "fifo-state-" + what),
                "--ctrl", "type=unixio,path=" + os.path.join(TMP, "f.sock")]
        args += ["--pid", "file=" + fifo] if what == "pid" else \
            ["--log", "file=" + fifo]
        try:
            p = subprocess.run(args, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=HANG)
            ok, why = p.returncode != 0, p.stderr[-200:]
        except subprocess.TimeoutExpired:
            ok, why = False, "start-up blocked on the FIFO"
        check("fifo-as-%s-file-refused" % what, ok, why)

    # a FIFO where the state file would be: a load fails, never blocks
    state = os.path.join(TMP, "fifo-state")
    os.mkdir(state)
    os.mkfifo(os.path.join(state, "tpm2-00.permall"))
    d = Daemon(state=state)
    try:
        r = d.request(CMD_INIT, b"\0\0\0\0")
        ok, why = result(r) not in (None, 0), repr(r)
    except OSError as e:
        ok, why = False, repr(e)
    check("fifo-as-state-file-fails-init", ok, why)
    check("tpm-answers-after-fifo-state",
          len(d.request(CMD_GET_CAPABILITY, reply=8)) == 8)
    d.stop()

    # ... and a FIFO as the temporary file: a save fails, never blocks
    d = Daemon()
    d.request(CMD_INIT, b"\0\0\0\0")
    os.mkfifo(os.path.join(d.state, "TMP2-00.volatilestate"))
    try:
        r = d.request(CMD_STORE_VOLATILE)
        ok, why = result(r) not in (None, 0), repr(r)
    except OSError as e:
        ok, why = False, repr(e)
    check("fifo-as-temporary-file-fails-save", ok, why)
    rc, _ = d.stop()
    check("sigterm-after-fifo-exits-0", rc == 0, "rc=%s" % rc)


def test_data_pipelined():
    """Commands that arrive together on the data socket are each answered,
    in order; a pipelining client that never reads does not stop SIGTERM."""
    d = Daemon(server=True)
    d.request(CMD_INIT, b"\0\0\0\0")
    tpm_command(d, TPM2_STARTUP_CLEAR)
    get_random = bytes.fromhex("80010000000c0000017b0008")
    answers = []
    with d.connect(d.data) as s:
        s.sendall(get_random * 3)
        for _ in range(3):
            head = recv_exact(s, 10)
            size = struct.unpack(">I", head[2:6])[0] if len(head) == 10 else 0
            answers.append(head + recv_exact(s, max(size - 10, 0)))
    check("data-pipelined-commands-each-answered",
          [len(a) for a in answers] == [20] * 3 and
          all(a[6:10] == b"\0\0\0\0" for a in answers),
          repr([a.hex() for a in answers]))
    hog = d.connect(d.data)
    hog.setblocking(False)
    try:
        for _ in range(20000):
            hog.send(get_random * 64)
    except OSError:
        pass  # its buffer is full: the daemon no longer reads it
    rc, took = d.stop()
    note("SIGTERM with a pipelining data client that never reads: exit "
         "after %.2fs" % took)
    check("sigterm-with-pipelining-data-peer-exits-0", rc == 0, "rc=%s" % rc)
    hog.close()


def test_idle_data_clients():
    """SIGTERM ends the daemon at once while a client sits idle on the
    data channel between commands, on the data socket and on a socketpair
    handed over as QEMU does (SET_DATAFD), and the client sees its
    connection end.  (A data thread that waited in a blocking recv() would
    hang here unless the stop woke it.)"""
    for how in ("data-socket", "set-datafd"):
        d = Daemon(server=how == "data-socket")
        d.request(CMD_INIT, b"\0\0\0\0")
        if how == "data-socket":
            client = d.connect(d.data)
        else:
            client, theirs = socket.socketpair()
            with d.connect() as s:
                send_fds(s, struct.pack(">I", CMD_SET_DATAFD),
                         [theirs.fileno()])
                handed = result(recv_exact(s, 4)) == TPM_SUCCESS
            theirs.close()
            check("set-datafd-accepted", handed)
        client.settimeout(HANG)
        client.sendall(TPM2_STARTUP_CLEAR)
        answered = len(recv_exact(client, 10)) == 10
        time.sleep(0.2)  # the daemon waits for the next command by now
        rc, took = d.stop()
        note("SIGTERM with an idle client on the %s: exit after %.2fs"
             % (how, took))
        check("%s-client-answered" % how, answered)
        check("sigterm-with-idle-%s-client-exits-0" % how, rc == 0,
              "rc=%s" % rc)
        check("idle-%s-client-sees-the-end" % how,
              recv_exact(client, 1) == b"")
        client.close()


def readable(s):
    return bool(select.select([s], [], [], 0)[0])


def test_long_command():
    """A data client whose command takes long (a key generation) holds
    the TPM, not the daemon: the control channel answers while it runs
    (swtpm's single thread answers only after it), CANCEL ends it with
    TPM_RC_CANCELED, and SIGTERM during it ends the daemon in order: the
    command it runs is answered (cancelled, or done if it was done), the
    ones not taken in yet are not, no response is cut short, the daemon
    exits 0 and the state is intact.  Orders are checked, not times: the
    control reply must come while the command's response is still
    outstanding.  A key may come quickly, so each try gets a new one, up
    to ten."""
    d = Daemon("--flags", "not-need-init,startup-clear", server=True)
    data = d.connect(d.data)
    answered_meanwhile = cancelled = False
    for tries in range(1, 11):
        data.sendall(tpm2_create_primary_rsa3072())
        with d.connect() as s:
            est = request(s, CMD_GET_TPMESTABLISHED, reply=8)
            pending = not readable(data)
            cancel = request(s, CMD_CANCEL_TPM_CMD)
        resp = read_response(data)
        rc = struct.unpack(">I", resp[6:10])[0] if len(resp) >= 10 else None
        if rc == 0:
            data.sendall(tpm2_flush_context(resp[10:14]))
            read_response(data)
        if result(est) == TPM_SUCCESS and result(cancel) == TPM_SUCCESS:
            answered_meanwhile |= pending
            cancelled |= pending and rc == TPM2_RC_CANCELED
        if answered_meanwhile and cancelled:
            break
    note("control during CreatePrimary RSA-3072: %d tries" % tries)
    check("control-answers-during-a-long-command", answered_meanwhile)
    check("cancel-ends-a-long-command-with-rc-canceled", cancelled)
    data.sendall(TPM2_GETRANDOM_8)
    check("tpm-serves-after-the-cancel",
          read_response(data)[6:10] == b"\0\0\0\0")

    # three keys in a row: the stop comes during one of them
    data.sendall(tpm2_create_primary_rsa3072() * 3)
    time.sleep(0.05)
    rc, took = d.stop()
    codes = []
    while True:
        resp = read_response(data)
        if len(resp) < 10 or len(resp) != struct.unpack(">I", resp[2:6])[0]:
            break
        codes.append(struct.unpack(">I", resp[6:10])[0])
    data.close()
    note("SIGTERM during 3 CreatePrimary RSA-3072 in a row: exit after "
         "%.2fs, responses %s, then %s" % (took, [hex(c) for c in codes],
                                           "EOF" if not resp else repr(resp)))
    check("sigterm-during-a-long-command-exits-0", rc == 0, "rc=%s" % rc)
    check("long-command-answered-at-sigterm",
          codes and resp == b"" and codes[-1] in (0, TPM2_RC_CANCELED),
          "%s then %r" % (codes, resp[:10]))
    again = Daemon("--flags", "not-need-init,startup-clear", server=True,
                   state=d.state)
    check("state-intact-after-sigterm-during-a-long-command",
          tpm_command(again, TPM2_GETRANDOM_8)[6:10] == b"\0\0\0\0")
    again.stop()


def test_log_flood():
    """Warnings a client provokes are rate-limited."""
    d = Daemon()
    with d.connect() as s:
        for _ in range(500):
            request(s, 0x7777)
    lines = [ln for ln in d.log_text().splitlines() if "unknown command" in ln]
    check("unknown-command-warnings-rate-limited", 0 < len(lines) <= 10,
          "%d log lines for 500 unknown commands" % len(lines))
    d.stop()


try:
    test_passed_fds()
    test_coalesced()
    test_drip()
    test_stalled_control_peers()
    test_lock_storage()
    test_modes()
    test_fifos()
    test_data_pipelined()
    test_idle_data_clients()
    test_long_command()
    test_log_flood()
finally:
    shutil.rmtree(TMP, ignore_errors=True)

print("%d passed, %d failed" % (results.count(True), results.count(False)))
sys.exit(0 if all(results) else 1)
