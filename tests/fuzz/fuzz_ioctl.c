/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz-ioctl: the device's control channel, the PTM_* ioctl codec of
 * cuse_ioctl.c, fed arbitrary (cmd, in_buf) against a real core: every PTM_*
 * number with fuzzed payloads, in_buf sizes other than the restricted size,
 * other directions and sizes of the 'P' numbers, and any 32-bit number; with
 * the reads and writes that continue a state blob transfer.  See
 * cuse_harness.c for the model and the invariants checked after every step.
 *
 * Each step is one byte: the low 4 bits choose the operation (10 of 16 an
 * ioctl; else open, release, read, write of a blob or of a command, poll),
 * the high bits the file (modulo 3).
 */
#include "cuse_harness.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	harness_init("fuzz-ioctl");
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
		int op = b & 0x0f, i = (b >> 4) % NSLOTS;
		size_t len;

		if (!h.slot[i].open && op != 1)
			op_open(i, false);
		switch (op) {
		case 0:
			op_open(i, in_u8(&in) & 1);
			break;
		case 1:
			op_release(i);
			break;
		case 2:
			op_read(i, in_size(&in, 8192));
			break;
		case 3:
			len = decode_blob_write(&in, buf, sizeof(buf));
			op_write(i, buf, len);
			break;
		case 4:
			/* a command in flight while the control channel works */
			len = decode_command(&in, buf, 8192);
			op_write(i, buf, len);
			break;
		case 5:
			if (in_u8(&in) & 1)
				op_poll(i, true);
			else
				op_set_nonblock(i, in_u8(&in) & 1);
			break;
		default:
			decode_ioctl(&in, i);
			break;
		}
		check_openers();
	}
	end_input();
	return 0;
}
