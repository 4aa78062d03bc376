#ifndef ECHORD_CZSTD_SHIM_H
#define ECHORD_CZSTD_SHIM_H
#include <zstd.h>
#endif
