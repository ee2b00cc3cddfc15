#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hand-made TPM 2.0 clients of the resource-managed node, for tests/vm/rm.sh.

  rm_client.py raw-owner RAWDEV STOPFILE
      Holds the raw node: keeps a primary key loaded there and, until
      STOPFILE exists, checks that it reads back the same, that the TPM
      lists only it as transient, and that PCR 16 extends as computed.
      Prints PASS/FAIL lines.
  rm_client.py die-mid-command RMDEV
      Opens the RM node, starts a session and makes a primary key in its
      space, writes an RSA key generation and kills itself with SIGKILL
      before the response.
  rm_client.py hold RMDEV SECONDS
      Starts a session and makes two primary keys in its space, prints
      what GetCapability(handles) shows it, then sleeps.
"""
import hashlib
import os
import signal
import struct
import sys
import time

ST_NO_SESSIONS, ST_SESSIONS = 0x8001, 0x8002
RS_PW = 0x40000009
PW_AUTH = struct.pack(">IIHBH", 9, RS_PW, 0, 0, 0)


def command(tag, cc, body):
    return struct.pack(">HII", tag, 10 + len(body), cc) + body


def transact(fd, cmd):
    os.write(fd, cmd)
    resp = os.read(fd, 4096)
    if len(resp) < 10:
        raise RuntimeError("short response")
    return struct.unpack(">I", resp[6:10])[0], resp


def create_primary(key="ecc", unique=b""):
    attrs = 0x00030072  # a restricted decryption key, as an SRK
    if key == "ecc":
        parms = struct.pack(">HHHHHHH", 6, 128, 0x43, 0x10, 3, 0x10, 0) + \
            struct.pack(">H", 0)
        alg = 0x23
    else:
        parms = struct.pack(">HHHHHI", 6, 128, 0x43, 0x10, 2048, 0) + \
            struct.pack(">H", len(unique)) + unique
        alg = 0x01
    public = struct.pack(">HHIH", alg, 0x0b, attrs, 0) + parms
    body = struct.pack(">I", 0x40000001) + PW_AUTH + \
        struct.pack(">HHH", 4, 0, 0) + struct.pack(">H", len(public)) + \
        public + struct.pack(">HI", 0, 0)
    return command(ST_SESSIONS, 0x131, body)


def start_session():
    body = struct.pack(">IIH", 0x40000007, 0x40000007, 16) + bytes(16) + \
        struct.pack(">HBHH", 0, 0, 0x10, 0x0b)
    return command(ST_NO_SESSIONS, 0x176, body)


def get_handles(first):
    return command(ST_NO_SESSIONS, 0x17a, struct.pack(">III", 1, first, 64))


def handles(resp):
    n = struct.unpack(">I", resp[15:19])[0]
    return [struct.unpack(">I", resp[19 + 4 * i:23 + 4 * i])[0]
            for i in range(n)]


def raw_owner(dev, stopfile):
    fd = os.open(dev, os.O_RDWR)
    rc, resp = transact(fd, create_primary())
    if rc:
        print("FAIL: rm-raw-owner-keeps-its-key: CreatePrimary 0x%x" % rc)
        return 1
    key = struct.unpack(">I", resp[10:14])[0]
    print("# the raw owner holds the node", flush=True)
    _, first = transact(fd, command(ST_NO_SESSIONS, 0x173,
                                    struct.pack(">I", key)))
    pcr = bytes(32)
    rounds, bad = 0, []
    while not os.path.exists(stopfile) or rounds < 3:
        rounds += 1
        rc, resp = transact(fd, command(ST_NO_SESSIONS, 0x173,
                                        struct.pack(">I", key)))
        if rc or resp != first:
            bad.append("ReadPublic 0x%x" % rc)
        rc, resp = transact(fd, get_handles(0x80000000))
        if rc or handles(resp) != [key]:
            bad.append("transient %s" % handles(resp))
        digest = hashlib.sha256(b"%d" % rounds).digest()
        rc, _ = transact(fd, command(
            ST_SESSIONS, 0x182, struct.pack(">I", 16) + PW_AUTH +
            struct.pack(">IH", 1, 0x0b) + digest))
        pcr = hashlib.sha256(pcr + digest).digest()
        rc2, resp = transact(fd, command(
            ST_NO_SESSIONS, 0x17e, struct.pack(">IHBBBB", 1, 0x0b, 3, 0, 0, 1)))
        if rc or rc2 or resp[-32:] != pcr:
            bad.append("PCR 0x%x 0x%x" % (rc, rc2))
        if bad:
            break
        time.sleep(0.2)
    transact(fd, command(ST_NO_SESSIONS, 0x165, struct.pack(">I", key)))
    os.close(fd)
    if bad:
        print("FAIL: rm-raw-owner-undisturbed: round %d: %s" %
              (rounds, bad[0]))
        return 1
    print("PASS: rm-raw-owner-undisturbed (%d rounds)" % rounds)
    return 0


def die_mid_command(dev):
    fd = os.open(dev, os.O_RDWR)
    rc, _ = transact(fd, start_session())
    rc2, _ = transact(fd, create_primary())
    if rc or rc2:
        print("FAIL: rm-killed-mid-command: setup 0x%x 0x%x" % (rc, rc2))
        return 1
    # a fresh RSA key: seconds of work under TCG; killed while it runs
    os.write(fd, create_primary("rsa", os.urandom(8)))
    time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
    return 1


def hold(dev, seconds):
    fd = os.open(dev, os.O_RDWR)
    rc, _ = transact(fd, start_session())
    rc2, _ = transact(fd, create_primary())
    rc3, _ = transact(fd, create_primary())
    _, t = transact(fd, get_handles(0x80000000))
    _, s = transact(fd, get_handles(0x02000000))
    print("rcs %x %x %x transient %s sessions %s" %
          (rc, rc2, rc3, " ".join("0x%08x" % h for h in handles(t)),
           " ".join("0x%08x" % h for h in handles(s))), flush=True)
    time.sleep(float(seconds))
    os.close(fd)
    return 0


def main():
    if sys.argv[1] == "raw-owner":
        return raw_owner(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "die-mid-command":
        return die_mid_command(sys.argv[2])
    if sys.argv[1] == "hold":
        return hold(sys.argv[2], sys.argv[3])
    return 2


if __name__ == "__main__":
    sys.exit(main())
