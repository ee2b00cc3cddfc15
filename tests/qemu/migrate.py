#!/usr/bin/env python3
"""Live migration of a QEMU guest whose vTPM is cuse_tpm, for real.

A self-contained guest (Debian's kernel booted through the firmware, a
busybox initramfs with no 9p: tests/qemu/migrate-init.sh) runs on QEMU's
-tpmdev emulator.  Its kernel's TPM driver extends PCR 16 and writes an NV
index; the guest then migrates from QEMU to QEMU, each on a fresh vTPM:

  cuse_tpm A -> cuse_tpm B -> swtpm S -> cuse_tpm C (release-lock-outgoing)
     -> refused: cuse_tpm on C's directory, with the wrong migration key
     -> cuse_tpm on C's directory (shared storage)

After each hop the guest reads PCR 16 and the NV index (unchanged) and
extends PCR 16 once more (the TPM still works).  The refused hop checks that
the source resumes, takes its storage lock back (QEMU sends
CMD_LOCK_STORAGE) and that a second cuse_tpm on that directory is refused.
On shared storage the guest writes NV on the destination before the source
quits, and the source's shutdown must not write over it.  One boot serves
every hop.  Prints "PASS: name" / "FAIL: name: why" lines; on a failure the
logs stay in the temporary directory it names.
"""

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CUSE_TPM = os.path.join(BUILD, "cuse_tpm")
APPEND = "console=ttyS0 panic=-1 cryptomgr.notests pci=noacpi mitigations=off quiet"

NV_INDEX = 0x01500016
NV_DATA = b"migrated"
NV_DATA_AFTER = b"arrived!"


class Failed(Exception):
    """A check failed; the message says why."""


def pass_(name):
    print(f"PASS: {name}", flush=True)


failures = 0


def fail(name, why):
    global failures
    failures += 1
    print(f"FAIL: {name}: {why}", flush=True)


def check(name, ok, why):
    if ok:
        pass_(name)
    else:
        fail(name, why)
    return ok


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise Failed(f"timed out waiting for {what}")


# ---- TPM 2.0 commands, built by hand (no TSS in the guest) -----------------

TPM_RS_PW = 0x40000009
TPM_RH_OWNER = 0x40000001
SHA256 = 0x000B
# AUTHWRITE | AUTHREAD | NO_DA: the index's own (empty) password guards it
NV_ATTRIBUTES = 0x00000004 | 0x00040000 | 0x02000000


def command(cc, handles, params):
    """A command with one empty-password session on its handles."""
    auth = struct.pack(">IHBH", TPM_RS_PW, 0, 0, 0)
    body = b"".join(struct.pack(">I", h) for h in handles)
    body += struct.pack(">I", len(auth)) + auth + params
    return struct.pack(">HII", 0x8002, 10 + len(body), cc) + body


def pcr_extend(pcr, digest):
    return command(0x182, [pcr], struct.pack(">IH", 1, SHA256) + digest)


def nv_define(index, size):
    public = struct.pack(">IHIHH", index, SHA256, NV_ATTRIBUTES, 0, size)
    return command(0x12A, [TPM_RH_OWNER],
                   struct.pack(">H", 0) + struct.pack(">H", len(public)) + public)


def nv_write(index, data):
    return command(0x137, [index, index],
                   struct.pack(">H", len(data)) + data + struct.pack(">H", 0))


def nv_read(index, size):
    return command(0x14E, [index, index], struct.pack(">HH", size, 0))


def response_code(rsp):
    if len(rsp) < 10:
        raise Failed(f"short TPM response {rsp.hex()}")
    return struct.unpack(">I", rsp[6:10])[0]


# ---- the guest's serial console and QEMU's QMP -------------------------------

def connect_unix(path, timeout=10):
    wait_for(path, lambda: os.path.exists(path), timeout)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


class Console:
    """The guest's serial console: a shell that answers "@@DONE STATUS"."""

    def __init__(self, path):
        self.sock = connect_unix(path)
        self.buf = b""

    def line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"guest console silent; got {self.buf[-200:]!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                raise Failed("guest console closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").strip("\r")

    def wait_ready(self, timeout):
        while True:
            line = self.line(timeout)
            if line == "@@NOTPM":
                raise Failed("the guest has no /dev/tpm0")
            if line == "@@READY":
                return

    def run(self, cmd, timeout=30):
        """Runs a shell command in the guest: its output lines."""
        self.sock.sendall(cmd.encode() + b"\n")
        out = []
        while True:
            line = self.line(timeout)
            if line.startswith("@@DONE "):
                if line != "@@DONE 0":
                    raise Failed(f"guest: {cmd[:40]!r} failed: {out}")
                return out
            out.append(line)

    def tpm(self, cmd):
        esc = "".join(f"\\{b:03o}" for b in cmd)
        out = self.run(f"tpm '{esc}'")
        return bytes.fromhex(out[-1]) if out else b""

    def pcr16(self):
        return self.run("cat /sys/class/tpm/tpm0/pcr-sha256/16")[-1].lower()


class Qmp:
    def __init__(self, path):
        self.sock = connect_unix(path)
        self.file = self.sock.makefile("rw")
        self.file.readline()  # the greeting
        self.execute("qmp_capabilities")

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.file.write(json.dumps(msg) + "\n")
        self.file.flush()
        while True:
            line = self.file.readline()
            if not line:
                raise Failed(f"QMP closed during {cmd}")
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise Failed(f"QMP {cmd}: {reply['error'].get('desc')}")


# ---- the processes -------------------------------------------------------------

class Run:
    def __init__(self, kernel, initrd):
        self.tmp = tempfile.mkdtemp(prefix="cuse_tpm_migrate.")
        self.kernel, self.initrd = kernel, initrd
        self.procs = []

    def path(self, name):
        return os.path.join(self.tmp, name)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if failures:
            print(f"migrate.py: logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, argv, log):
        with open(self.path(log), "wb") as out:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def vtpm(self, name, state, extra=(), swtpm=False, terminate=True):
        """A vTPM serving the control socket NAME.ctrl, state in STATE;
        TERMINATE: it ends with its QEMU."""
        os.makedirs(self.path(state), exist_ok=True)
        ctrl = self.path(name + ".ctrl")
        argv = (["swtpm", "socket", "--tpm2"] if swtpm else [CUSE_TPM, "socket", "--tpm2"])
        argv += ["--tpmstate", "dir=" + self.path(state),
                 "--ctrl", "type=unixio,path=" + ctrl,
                 "--log", f"file={self.path(name + '.log')},level=4", *extra]
        if terminate:
            argv.append("--terminate")
        p = self.spawn(argv, name + ".out")
        wait_for(f"{name}'s control socket",
                 lambda: os.path.exists(ctrl) or p.poll() is not None, 10)
        if p.poll() is not None:
            raise Failed(f"{name} exited: {self.log(name + '.out')}")
        return Vtpm(name, p)

    def log(self, name):
        try:
            with open(self.path(name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def qemu(self, name, vtpm, incoming=False):
        """QEMU, stopped (-S), on vTPM VTPM; its console and QMP."""
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max",
                "-smp", "1", "-m", "256", "-nodefaults", "-no-user-config",
                "-display", "none", "-no-reboot", "-S",
                "-kernel", self.kernel, "-initrd", self.initrd,
                "-append", APPEND,
                "-chardev", f"socket,id=ser0,path={self.path(name + '.serial')},server=on,wait=off",
                "-serial", "chardev:ser0",
                "-chardev", f"socket,id=chrtpm,path={self.path(vtpm + '.ctrl')}",
                "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                "-device", "tpm-tis,tpmdev=tpm0",
                "-qmp", f"unix:{self.path(name + '.qmp')},server=on,wait=off"]
        if incoming:
            argv += ["-incoming", "unix:" + self.path(name + ".mig")]
        p = self.spawn(argv, name + ".qemu")
        try:
            qmp = Qmp(self.path(name + ".qmp"))
            console = Console(self.path(name + ".serial"))
        except (Failed, OSError) as e:
            raise Failed(f"QEMU {name} did not start ({e}): {self.log(name + '.qemu')}")
        # precopy tells the source of a failure on the destination only
        # through the return path
        qmp.execute("migrate-set-capabilities",
                    capabilities=[{"capability": "return-path", "state": True}])
        return Guest(name, p, qmp, console)


class Vtpm:
    def __init__(self, name, proc):
        self.name, self.proc = name, proc


class Guest:
    def __init__(self, name, proc, qmp, console):
        self.name, self.proc, self.qmp, self.console = name, proc, qmp, console

    def status(self):
        return self.qmp.execute("query-status")["status"]

    def migrate_to(self, dst, run):
        """Migrates to DST: the source's final migration status."""
        self.qmp.execute("migrate", uri="unix:" + run.path(dst.name + ".mig"))
        state = {}

        def finished():
            state.update(self.qmp.execute("query-migrate"))
            return state.get("status") in ("completed", "failed", "cancelled")
        wait_for("the migration", finished, 120)
        return state["status"], state.get("error-desc", "")

    def quit(self):
        try:
            self.qmp.execute("quit")
        except (Failed, OSError):
            pass
        self.proc.wait(timeout=30)


# ---- the test ------------------------------------------------------------------

class Tpm:
    """What the guest's TPM must hold: PCR 16 and the NV index."""

    def __init__(self):
        self.pcr16 = bytes(32)
        self.extends = 0
        self.nv_data = NV_DATA

    def extend(self, console):
        self.extends += 1
        digest = hashlib.sha256(b"extend %d" % self.extends).digest()
        rc = response_code(console.tpm(pcr_extend(16, digest)))
        if rc:
            raise Failed(f"TPM2_PCR_Extend: 0x{rc:x}")
        self.pcr16 = hashlib.sha256(self.pcr16 + digest).digest()

    def nv(self, console):
        rsp = console.tpm(nv_read(NV_INDEX, len(self.nv_data)))
        rc = response_code(rsp)
        if rc:
            return f"TPM2_NV_Read: 0x{rc:x}"
        return rsp[16:16 + len(self.nv_data)]

    def nv_write(self, console, data):
        rc = response_code(console.tpm(nv_write(NV_INDEX, data)))
        if rc:
            raise Failed(f"TPM2_NV_Write: 0x{rc:x}")
        self.nv_data = data


def first_boot(guest, tpm):
    """The guest boots on the source, extends PCR 16 and writes NV."""
    guest.qmp.execute("cont")
    guest.console.wait_ready(240)
    pass_("migrate-guest-boots-on-cuse_tpm")
    tpm.extend(guest.console)
    pcr = guest.console.pcr16()
    check("migrate-guest-extends-pcr16", pcr == tpm.pcr16.hex(),
          f"PCR 16 is {pcr}, want {tpm.pcr16.hex()}")
    rc = response_code(guest.console.tpm(nv_define(NV_INDEX, len(NV_DATA))))
    if rc:
        raise Failed(f"TPM2_NV_DefineSpace: 0x{rc:x}")
    tpm.nv_write(guest.console, NV_DATA)
    nv = tpm.nv(guest.console)
    check("migrate-guest-writes-nv", nv == NV_DATA, f"read back {nv!r}")


def verify(tag, guest, tpm):
    """After a hop: PCR 16 and NV unchanged, and the TPM still works."""
    pcr = guest.console.pcr16()
    check(f"{tag}-pcr16-kept", pcr == tpm.pcr16.hex(),
          f"PCR 16 is {pcr}, want {tpm.pcr16.hex()}")
    nv = tpm.nv(guest.console)
    check(f"{tag}-nv-kept", nv == tpm.nv_data, f"NV reads {nv!r}")
    tpm.extend(guest.console)
    pcr = guest.console.pcr16()
    check(f"{tag}-tpm-still-works", pcr == tpm.pcr16.hex(),
          f"PCR 16 is {pcr} after one more extend, want {tpm.pcr16.hex()}")


CMD_INIT, CMD_STOP, CMD_GET_STATEBLOB, CMD_SET_STATEBLOB = 0x2, 0xe, 0xc, 0xd


def control_commands(run, vtpm):
    """The CMD_* codes a cuse_tpm's log saw, in order (None: not ours)."""
    log = run.log(vtpm + ".log")
    if "control: command" not in log:
        return None
    return [int(line.split()[2].rstrip(","), 16) for line in log.splitlines()
            if line.startswith("control: command 0x")]


def check_blob_moves(tag, run, src_vtpm, dst_vtpm):
    """What QEMU sent: GET_STATEBLOB of three types on the source; STOP,
    SET_STATEBLOB and INIT (DELETE_VOLATILE) on the destination."""
    got = control_commands(run, src_vtpm)
    if got is not None:
        check(f"{tag}-source-gives-blobs", got.count(CMD_GET_STATEBLOB) >= 3,
              f"control commands {got}")
    got = control_commands(run, dst_vtpm)
    if got is not None:
        sets = [i for i, c in enumerate(got) if c == CMD_SET_STATEBLOB]
        check(f"{tag}-destination-takes-blobs",
              sets and CMD_STOP in got[:sets[0]] and CMD_INIT in got[sets[-1]:],
              f"control commands {got}")


def hop(tag, run, src, src_vtpm, name, vtpm, tpm, before_quit=None):
    """Migrates SRC (on SRC_VTPM) to a new QEMU NAME on VTPM and checks the
    guest there; BEFORE_QUIT(destination) runs before the source quits."""
    dst = run.qemu(name, vtpm.name, incoming=True)
    status, why = src.migrate_to(dst, run)
    if status != "completed":
        raise Failed(f"{tag}: migration {status}: {why}; {run.log(name + '.qemu')}")
    wait_for("the destination to load", lambda: dst.status() != "inmigrate", 60)
    dst.qmp.execute("cont")
    pass_(f"{tag}-migrates")
    check_blob_moves(tag, run, src_vtpm.name, vtpm.name)
    if before_quit:
        before_quit(dst)
    src.quit()
    # QEMU's CMD_SHUTDOWN on quit: the source's vTPM ends with its QEMU
    try:
        src_vtpm.proc.wait(timeout=10)
        pass_(f"{tag}-source-vtpm-ends")
    except subprocess.TimeoutExpired:
        fail(f"{tag}-source-vtpm-ends", "still running after QEMU quit")
    verify(tag, dst, tpm)
    return dst


def refused_hop(run, src, src_vtpm, tpm):
    """The destination refuses the state: the source runs on, locked."""
    tag = "migrate-refused"
    bad_key = run.path("wrong.key")
    with open(bad_key, "w") as f:
        f.write("ff" * 16 + "\n")
    # Its vTPM outlives its QEMU (no --terminate): refusing the first blob
    # must leave the lock to the source all the same.
    vtpm_d = run.vtpm("vtpm-d", "state-c", ["--migration", "incoming",
                                            "--migration-key", "file=" + bad_key],
                      terminate=False)
    dst = run.qemu("refusing", "vtpm-d", incoming=True)
    status, why = src.migrate_to(dst, run)
    check(f"{tag}-migration-fails", status == "failed", f"status {status} {why}")
    check(f"{tag}-destination-refuses-blob",
          "refusing permanent state blob" in run.log("vtpm-d.log"),
          run.log("vtpm-d.log")[-300:])
    dst.proc.wait(timeout=30)
    wait_for("the source to resume", lambda: src.status() == "running", 30)
    pass_(f"{tag}-source-resumes")
    clog = run.log("vtpm-c.log")
    check(f"{tag}-source-released-lock",
          "state directory unlocked" in clog, clog[-300:])
    # QEMU takes the lock back itself as the source resumes (relock_storage
    # in its tpm_emulator.c: CMD_LOCK_STORAGE with 300 retries)
    wait_for("CMD_LOCK_STORAGE", lambda: "command 0x13," in run.log("vtpm-c.log"), 10)
    clog = run.log("vtpm-c.log")
    check(f"{tag}-qemu-relocks-storage", "cannot lock" not in clog, clog[-300:])
    verify(tag, src, tpm)
    # the lock is held again: a second vTPM on that directory is refused
    second = subprocess.run(
        [CUSE_TPM, "socket", "--tpm2", "--tpmstate", "dir=" + run.path("state-c"),
         "--ctrl", "type=unixio,path=" + run.path("second.ctrl")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    check(f"{tag}-second-vtpm-refused",
          second.returncode != 0 and "lock" in second.stderr,
          f"exit {second.returncode}: {second.stderr.strip()}")
    check(f"{tag}-source-vtpm-runs", src_vtpm.proc.poll() is None, "it exited")
    check(f"{tag}-destination-vtpm-outlives-qemu", vtpm_d.proc.poll() is None,
          "it exited: the test no longer shows that a refusal frees the lock")


def main():
    for tool in ("qemu-system-x86_64", "swtpm"):
        if not shutil.which(tool):
            fail("migrate-setup", f"{tool} not installed")
            return 1
    os.makedirs(os.path.join(BUILD, "vm"), exist_ok=True)
    initrd = os.path.join(BUILD, "vm", "migrate-initramfs.cpio.gz")
    image = subprocess.run(
        [os.path.join(ROOT, "tests", "vm", "vm.sh"), "image",
         os.path.join(ROOT, "tests", "qemu", "migrate-init.sh"), initrd],
        capture_output=True, text=True)
    if image.returncode != 0:
        fail("migrate-setup", image.stderr.strip())
        return 1
    run = Run(image.stdout.strip(), initrd)
    tpm = Tpm()
    try:
        key = run.path("migration.key")
        with open(key, "w") as f:
            f.write("a5" * 16 + "\n")
        vtpm_a = run.vtpm("vtpm-a", "state-a")
        guest = run.qemu("boot", vtpm_a.name)
        first_boot(guest, tpm)
        vtpm_b = run.vtpm("vtpm-b", "state-b", ["--migration", "incoming"])
        guest = hop("migrate-cuse_tpm-to-cuse_tpm", run, guest, vtpm_a,
                    "to-b", vtpm_b, tpm)
        vtpm_s = run.vtpm("vtpm-s", "state-s", swtpm=True)
        guest = hop("migrate-cuse_tpm-to-swtpm", run, guest, vtpm_b,
                    "to-s", vtpm_s, tpm)
        vtpm_c = run.vtpm("vtpm-c", "state-c",
                          ["--migration", "incoming,release-lock-outgoing",
                           "--migration-key", "file=" + key])
        guest = hop("migrate-swtpm-to-cuse_tpm", run, guest, vtpm_s,
                    "to-c", vtpm_c, tpm)
        refused_hop(run, guest, vtpm_c, tpm)
        # and again, now to a destination with the right key, on the same
        # (shared) directory: the lock passes from source to destination.
        # The guest writes NV there while the source still runs; the
        # source, ending, must leave the directory to its new owner.
        vtpm_e = run.vtpm("vtpm-e", "state-c",
                          ["--migration", "incoming", "--migration-key", "file=" + key])
        guest = hop("migrate-shared-storage", run, guest, vtpm_c,
                    "to-e", vtpm_e, tpm,
                    lambda dst: tpm.nv_write(dst.console, NV_DATA_AFTER))
        with open(run.path("state-c/tpm2-00.permall"), "rb") as f:
            permall = f.read()
        check("migrate-shared-storage-source-leaves-state-alone",
              NV_DATA_AFTER in permall,
              "the source's shutdown overwrote the destination's state")
        guest.quit()
    except (Failed, OSError, subprocess.SubprocessError) as e:
        fail("migrate", str(e)[-2000:])
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
