#include "mev.h"
int build(void) { volatile int x = 0; for (;;) x++; }
