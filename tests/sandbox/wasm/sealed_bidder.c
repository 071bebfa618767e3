/* Not hostile: greedy, then a bid of its own choosing (SEALED_BID wei), which in a
   sealed slot must reach the committee without the host ever holding it. */
#include "mev.h"
#define SEALED_BID 1846203557120939517ULL
static int block[4096];
static unsigned char bid[32];
int build(void) {
    int n = n_orders(), m = 0;
    for (int i = 0; i < n && i < 4096; i++) {
        if (push(i) == 1) block[m++] = i; else pop();
    }
    unsigned long long b = SEALED_BID;
    for (int k = 0; k < 8; k++) bid[k] = (unsigned char)(b >> (8 * k));
    submit(block, m, (int)bid);
    return 0;
}
