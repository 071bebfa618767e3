#include "mev.h"
static int ids[2] = {0, 1000000};
int build(void) { submit(ids, 2, -1); return 0; }
