/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What swtpm_setup and libvirt ask before they start a TPM, answered on
 * stdout in swtpm's JSON: --print-capabilities, --print-states and
 * --print-info.  Each returns the process's exit status.
 */
#ifndef CUSE_TPM_PROBE_H
#define CUSE_TPM_PROBE_H

#include "options.h"

int probe_print_capabilities(const struct options *o);
int probe_print_states(const struct options *o);
int probe_print_info(const struct options *o);

#endif
