#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Storage faults under a running daemon: the state directory full, read
only, removed, or not writable by the --runas user.  For each: the NV write
that meets the fault is answered with TPM_RC_NV_UNAVAILABLE and so is every
command (and CMD_STORE_VOLATILE) until the state is on disk; the daemon keeps running; the last
written state stays on disk; the log says what happened in one line (path
and errno text); once the fault is gone the next command writes the state
and the TPM works on, with nothing acknowledged lost, across a restart and
a SIGKILL; SIGTERM ends it with status 0 (a sanitizer build: no errors).

Runs as root, in a mount namespace of its own (tmpfs, remount).  The EIO
case needs a block device: it is in tests/vm/suite.sh (--eio DIR there).

Usage: test_faults.py BINARY            every native case
       test_faults.py BINARY --eio DIR  the EIO case; DIR is on a dm device
                                        that tests/vm/suite.sh switches"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/cuse_tpm")
COUNTER = 0x01500100
OWNER, PW = 0x40000001, 0x40000009
NV_UNAVAILABLE = 0x923
CMD_STORE_VOLATILE, TPM_IOERROR = 10, 0x1F
results = []


def cmd(tag, cc, body):
    return struct.pack(">HII", tag, 10 + len(body), cc) + body


def auth():
    return struct.pack(">IIHBH", 9, PW, 0, 0, 0)


def nv_define_counter():
    pub = struct.pack(">IHIHH", COUNTER, 0x000B, 0x00060016, 0, 8)
    return cmd(0x8002, 0x12A, struct.pack(">I", OWNER) + auth() +
               struct.pack(">H", 0) + struct.pack(">H", len(pub)) + pub)


def nv_increment():
    return cmd(0x8002, 0x134, struct.pack(">II", OWNER, COUNTER) + auth())


def nv_read():
    return cmd(0x8002, 0x14E, struct.pack(">II", OWNER, COUNTER) + auth() +
               struct.pack(">HH", 8, 0))


def get_random():
    return cmd(0x8001, 0x17B, struct.pack(">H", 8))


TPM_FAIL = 9


def tpm12_get_random():
    return cmd(0x00C1, 0x46, struct.pack(">I", 8))


def tpm12_save_state():
    return cmd(0x00C1, 0x98, b"")


class Daemon:
    started = 0

    def __init__(self, state, tmp, runas=None, lock=True, tpm12=False):
        Daemon.started += 1
        self.sock_path = os.path.join(tmp, "data%d.sock" % Daemon.started)
        self.log = os.path.join(tmp, "log")
        self.ctrl_path = os.path.join(tmp, "ctrl%d.sock" % Daemon.started)
        args = [BIN, "socket", "--tpm12" if tpm12 else "--tpm2", "--ctrl", "type=unixio,path=" + self.ctrl_path,
                "--tpmstate",
                "dir=%s,lock=%s" % (state, "on" if lock else "off"), "--server",
                "type=unixio,path=" + self.sock_path, "--flags",
                "not-need-init,startup-clear", "--log",
                "file=%s,level=4" % self.log]
        if runas:
            args += ["--runas", runas]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.sock = None
        for _ in range(300):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(20)
                self.sock.connect(self.sock_path)
                break
            except OSError:
                self.sock.close()
                self.sock = None
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
        if not self.sock:
            raise RuntimeError("daemon did not start (rc %s)" %
                               self.proc.poll())

    def run(self, command):
        """The response code and the response; None if the daemon died."""
        try:
            self.sock.sendall(command)
            resp = b""
            while len(resp) < 10 or len(resp) < struct.unpack(">I", resp[2:6])[0]:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None, b""
                resp += chunk
            return struct.unpack(">I", resp[6:10])[0], resp
        except OSError:
            return None, b""

    def store_volatile(self):
        """CMD_STORE_VOLATILE on the control socket: its result."""
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(20)
            c.connect(self.ctrl_path)
            c.sendall(struct.pack(">I", CMD_STORE_VOLATILE))
            resp = c.recv(4)
        return struct.unpack(">I", resp)[0] if len(resp) == 4 else None

    def counter(self):
        rc, resp = self.run(nv_read())
        return struct.unpack(">Q", resp[16:24])[0] if rc == 0 else None

    def kill(self):
        self.sock.close()
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        """SIGTERM: the exit status, non-zero if a sanitizer objected."""
        self.sock.close()
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "a hang"


def sh(command):
    r = subprocess.run(command, shell=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise RuntimeError("'%s' failed: %s" % (command, r.stderr.strip()))


def log_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def case(name, tmp, state, inject, clear, errtext, runas=None,
         files_stay=True, lock=True, replaced=False):
    """One fault: every requirement is a check of its own."""
    fails = []
    try:
        run_case(fails, tmp, state, inject, clear, errtext, runas,
                 files_stay, lock, replaced)
    except (OSError, RuntimeError) as e:
        fails.append(str(e))
    ok = not fails
    results.append(ok)
    print(("PASS: fault-%s" % name) if ok else
          "FAIL: fault-%s: %s" % (name, "; ".join(fails)))


def run_case(fails, tmp, state, inject, clear, errtext, runas, files_stay,
             lock, replaced):

    def check(ok, what):
        if not ok:
            fails.append(what)

    os.makedirs(state, exist_ok=True)
    if runas:
        shutil.chown(state, runas)
    d = Daemon(state, tmp, runas, lock)
    permall = os.path.join(state, "tpm2-00.permall")
    try:
        check(d.run(nv_define_counter())[0] == 0, "NV_DefineSpace failed")
        check(d.run(nv_increment())[0] == 0, "first increment failed")
        acked = 1
        with open(permall, "rb") as f:
            good = f.read()
        inject()
        rc, _ = d.run(nv_increment())
        check(rc == NV_UNAVAILABLE, "increment under the fault got %s, not "
              "TPM_RC_NV_UNAVAILABLE" % (hex(rc) if rc is not None else rc))
        rc, _ = d.run(get_random())
        check(rc == NV_UNAVAILABLE, "a command while the state is unsaved "
              "got %s" % (hex(rc) if rc is not None else rc))
        rc = d.store_volatile()
        check(rc == TPM_IOERROR, "CMD_STORE_VOLATILE while the state is "
              "unsaved got %s" % rc)
        check(d.proc.poll() is None, "the daemon exited")
        if files_stay:
            try:
                with open(permall, "rb") as f:
                    check(f.read() == good, "the state file changed")
            except OSError as e:
                check(False, "the state file is unreadable: %s" % e)
        said = [line for line in log_lines(d.log)
                if "cannot write " + permall + ": " + errtext in line]
        check(len(said) == 1, "the log does not say 'cannot write %s: %s' "
              "once (%d times)" % (permall, errtext, len(said)))
        clear()
        if replaced and any("landlock (ABI" in line
                            for line in log_lines(d.log)):
            # Landlock binds the directory the daemon started with: a new
            # one at that path is not writable.  The state stays in
            # memory, the commands keep failing, and the log says why.
            rc, _ = d.run(get_random())
            check(rc == NV_UNAVAILABLE, "a command with the directory made "
                  "anew under Landlock got %s" %
                  (hex(rc) if rc is not None else rc))
            told = [line for line in log_lines(d.log)
                    if "Landlock lets this process write only the directory"
                    in line]
            check(len(told) == 1, "the log does not say once why the new "
                  "directory is not written (%d times)" % len(told))
            check(d.proc.poll() is None, "the daemon exited")
            return  # (finally: SIGTERM must end it with status 0)
        rc, _ = d.run(get_random())
        check(rc == 0, "after the fault a command got %s" %
              (hex(rc) if rc is not None else rc))
        # the increment that met the fault had run: it is kept, not undone
        count = d.counter()
        check(count == acked + 1, "counter %s after recovery, want %d"
              % (count, acked + 1))
        check(d.run(nv_increment())[0] == 0, "increment after recovery "
              "failed")
        acked = count + 1 if count is not None else acked
        check(any("state written to %s: TPM commands work again" % state
                  in line for line in log_lines(d.log)), "the log does not "
              "say that the state was written")
    finally:
        rc = d.stop()
        check(rc == 0, "the daemon ended with %s on SIGTERM" % rc)
    d = Daemon(state, tmp, runas, lock)
    try:
        count = d.counter()
        check(count == acked, "after SIGKILL and restart the counter is %s,"
              " acknowledged %d" % (count, acked))
    finally:
        d.kill()


def tpm12_disk_full(tmp, state):
    """TPM 1.2: TPM_SaveState into a full disk gets TPM_FAIL, then works."""
    fails = []
    os.makedirs(state)
    d = Daemon(state, tmp, tpm12=True)
    fill = os.path.join(state, "..", "fill")
    saved = os.path.join(state, "tpm-00.savestate")
    permall = os.path.join(state, "tpm-00.permall")
    try:
        if d.run(tpm12_get_random())[0] != 0:
            fails.append("TPM_GetRandom failed")
        with open(permall, "rb") as f:
            good = f.read()
        sh("dd if=/dev/zero of=%s bs=64k || true" % fill)
        rc = d.run(tpm12_save_state())[0]
        if rc != TPM_FAIL:
            fails.append("TPM_SaveState under the fault got %s" % rc)
        if d.run(tpm12_get_random())[0] != TPM_FAIL:
            fails.append("a command while the state is unsaved succeeded")
        with open(permall, "rb") as f:
            if f.read() != good:
                fails.append("the state file changed")
        if not any("cannot write %s: No space left on device" % saved in line
                   for line in log_lines(d.log)):
            fails.append("the log does not name %s" % saved)
        os.unlink(fill)
        if d.run(tpm12_get_random())[0] != 0:
            fails.append("after the fault a command failed")
        if d.run(tpm12_save_state())[0] != 0 or not os.path.exists(saved):
            fails.append("TPM_SaveState after the fault wrote nothing")
        if d.proc.poll() is not None:
            fails.append("the daemon exited")
    except (OSError, RuntimeError) as e:
        fails.append(str(e))
    finally:
        rc = d.stop()
        if rc != 0:
            fails.append("the daemon ended with %s on SIGTERM" % rc)
    results.append(not fails)
    print("PASS: fault-tpm12-disk-full" if not fails else
          "FAIL: fault-tpm12-disk-full: %s" % "; ".join(fails))


def native(tmp):
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt)
    sh("mount -t tmpfs -o size=2m,mode=0755 faults %s" % mnt)
    try:
        fill = os.path.join(mnt, "fill")
        case("disk-full", tmp, os.path.join(mnt, "full"),
             lambda: sh("dd if=/dev/zero of=%s bs=64k || true" % fill),
             lambda: os.unlink(fill), "No space left on device")
        # a file open for writing (the lock) makes a remount busy
        case("read-only", tmp, os.path.join(mnt, "ro"),
             lambda: sh("mount -o remount,ro %s" % mnt),
             lambda: sh("mount -o remount,rw %s" % mnt),
             "Read-only file system", lock=False)
        gone = os.path.join(mnt, "gone")
        case("dir-removed", tmp, gone,
             lambda: shutil.rmtree(gone), lambda: os.mkdir(gone),
             "No such file or directory", files_stay=False, replaced=True)
        denied = os.path.join(mnt, "denied")
        case("permission-denied-runas", tmp, denied,
             lambda: os.chmod(denied, 0o500),
             lambda: os.chmod(denied, 0o700),
             "Permission denied", runas="nobody")
        tpm12_disk_full(tmp, os.path.join(mnt, "tpm12"))
    finally:
        sh("umount %s" % mnt)


def main():
    if os.geteuid() != 0:
        print("FAIL: faults: needs root (tmpfs, remount, --runas)")
        return 1
    if "--eio" in sys.argv:
        where, brk, mend = sys.argv[sys.argv.index("--eio") + 1:][:3]
        tmp = tempfile.mkdtemp(prefix="cuse_tpm_eio.")
        try:
            case("eio", tmp, os.path.join(where, "state"),
                 lambda: sh(brk), lambda: sh(mend), "Input/output error")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    elif os.environ.get("CUSE_TPM_FAULTS_NS") != "1":
        # a mount namespace of our own: the tmpfs is nobody else's business
        os.environ["CUSE_TPM_FAULTS_NS"] = "1"
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private",
                              sys.executable] + sys.argv)
    else:
        tmp = tempfile.mkdtemp(prefix="cuse_tpm_faults.")
        try:
            os.chmod(tmp, 0o755)  # --runas nobody reaches the state in it
            native(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
