// oneDNN's C API (Debian: libdnnl-dev), for its sgemm. oneDNN runs on OpenMP (libgomp); the
// engine calls it from its own threads, each of which must ask for one OpenMP thread.
#include <oneapi/dnnl/dnnl.h>
void omp_set_num_threads(int);
