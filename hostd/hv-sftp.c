/* hv-sftp.c — placeholder while the sftp target is written (see hv-sftp.h). */
#include "hv-sftp.h"

G_DEFINE_QUARK(hv-sftp-error-quark, hv_sftp_error)
