#include "mev.h"
static int ids[2] = {1, 0};
static unsigned char bid[32];
int build(void) { for (int i = 0; i < 32; i++) bid[i] = 0xff; submit(ids, 2, (int)bid); return 0; }
