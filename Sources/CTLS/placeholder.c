#include "CTLS.h"
int ctls_placeholder(void) { return 0; }
