/* hv-qemu-args.h — what `hvdump run` adds to a QEMU command line.
 *
 * Owns: reading the user's QEMU arguments (-m, -machine, -object, -device,
 * -name, -action) and adding only what capture needs and is missing: a
 * shared memfd RAM backend sized from -m, pvpanic, vmcoreinfo, a private QMP
 * socket and -action panic=pause.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Parses a QEMU -m value ("512", "2G", "size=4G,maxmem=8G"): bytes. */
gboolean hv_qemu_parse_mem_size(const char *value, guint64 *bytes_ret, GError **error);

/* The guest's name from -name ("NAME" or "guest=NAME,..."), or NULL. */
char *hv_qemu_guest_name(char **argv);

/* Returns the argv to execute: the user's, then what is missing. */
GStrv hv_qemu_build_argv(char **user_argv, const char *qmp_socket, GError **error);

G_END_DECLS
