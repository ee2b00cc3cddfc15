/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-datapath: the CUSE front end's per-opener state machine (cuse_dev.c)
 * against a real core: sequences of open, write, read, ioctl, poll and
 * release on three files, decoded from the input; see cuse_harness.c for
 * the model and the invariants checked after every step.
 *
 * Each step is one byte: the low 5 bits choose the operation, the high 3
 * the file (modulo 3); the operation takes what else it needs from the
 * following bytes.  A step on a closed file opens it first.  Commands are
 * TPM 2 templates with fuzzed fields, or raw bytes; RSA key generation
 * (CreatePrimary, Create, CreateLoaded) is left out, being seconds each.
 */
#include "cuse_harness.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	harness_init("fuzz-datapath");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[BLOB_WRITE_MAX];
	struct input in = { data, size };
	int steps;

	begin_input();
	for (steps = 0; in.n && steps < MAX_STEPS; steps++) {
		uint8_t b = in_u8(&in);
		int op = b & 0x1f, i = (b >> 5) % NSLOTS;
		size_t len;

		if (!h.slot[i].open && op > 2)
			op_open(i, false);
		switch (op) {
		case 0:
		case 1:
			op_open(i, in_u8(&in) & 1);
			break;
		case 2:
			op_release(i);
			break;
		case 3: case 4: case 5: case 6: case 7: case 8:
		case 28: case 29: case 30: case 31:
			len = decode_command(&in, buf, 8192);
			op_write(i, buf, len);
			break;
		case 9: case 10: case 11: case 25: case 26: case 27:
			op_read(i, in_size(&in, 8192));
			break;
		case 12: case 13: case 14: case 15: case 16: case 17:
			decode_ioctl(&in, i);
			break;
		case 18:
		case 19:
			op_poll(i, op & 1);
			break;
		case 20:
			commands_barrier();
			break;
		case 21:
			op_set_nonblock(i, in_u8(&in) & 1);
			break;
		case 22:
		case 23:
			len = decode_blob_write(&in, buf, sizeof(buf));
			op_write(i, buf, len);
			break;
		default:
			wait_answers(i);
			break;
		}
		check_openers();
	}
	end_input();
	return 0;
}
