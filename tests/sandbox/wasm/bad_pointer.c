#include "mev.h"
int build(void) { submit((const int *)0x7ffffff0, 2, -1); return 0; }
