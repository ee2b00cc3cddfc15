/* SPDX-License-Identifier: BSD-3-Clause */
/* Reading a fuzz input as a stream of fields; zeros once it runs out. */
#ifndef CUSE_TPM_FUZZ_INPUT_H
#define CUSE_TPM_FUZZ_INPUT_H

#include <stdint.h>
#include <string.h>

struct input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t in_u8(struct input *in)
{
	uint8_t v;

	if (!in->n)
		return 0;
	v = *in->p++;
	in->n--;
	return v;
}

static inline uint16_t in_u16(struct input *in)
{
	uint16_t hi = in_u8(in);

	return (uint16_t)(hi << 8 | in_u8(in));
}

static inline uint32_t in_u32(struct input *in)
{
	uint32_t hi = in_u16(in);

	return hi << 16 | in_u16(in);
}

/* Up to @len bytes of the input into @buf (zeros once it runs out). */
static inline void in_bytes(struct input *in, uint8_t *buf, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	memcpy(buf, in->p, n);
	memset(buf + n, 0, len - n);
	in->p += n;
	in->n -= n;
}

#endif
