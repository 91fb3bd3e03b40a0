/* hv-error.h — the project's error domain.
 *
 * Owns: HV_ERROR and its codes, for every stage (guest-data parsers, RAM
 * sources, formats, the VM). The QMP client has its own domain
 * (HV_QMP_ERROR: the wire protocol), output files theirs (HV_OUTPUT_ERROR);
 * cancellation is G_IO_ERROR_CANCELLED everywhere.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HV_ERROR (hv_error_quark())
GQuark hv_error_quark(void);

typedef enum {
	HV_ERROR_FAILED,
	HV_ERROR_PARSE,      /* monitor text, guest data or a dump file not understood */
	HV_ERROR_NOT_SHARED, /* RAM backend missing or not shared */
	HV_ERROR_EXISTS,     /* output exists */
	HV_ERROR_IO,         /* reading guest RAM or writing the dump */
	HV_ERROR_USAGE,
} HvError;

G_END_DECLS
