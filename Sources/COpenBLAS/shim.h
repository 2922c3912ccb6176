#pragma once
// Debian: libopenblas-dev. pkg-config "openblas" adds the include path of the pthread build.
// cblas.h also declares openblas_set_num_threads / openblas_get_config / openblas_get_corename.
#include <cblas.h>
