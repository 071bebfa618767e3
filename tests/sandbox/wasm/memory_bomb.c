#include "mev.h"
static int grown;
int build(void) {
    while (__builtin_wasm_memory_grow(0, 16) != -1) grown += 16;  /* 1 MiB at a time */
    static int ids[1];
    submit(ids, 0, -1);  /* still alive when growth is refused: submits an empty block */
    return grown;
}
