#include "mev.h"
/* Host calls cost no fuel: only the wall-clock epoch stops this one. */
int build(void) { for (;;) { push(0); pop(); } }
