/* hv-error.c — the project's error domain; see hv-error.h. */
#include "hv-error.h"

G_DEFINE_QUARK(hvdump-error-quark, hv_error)
