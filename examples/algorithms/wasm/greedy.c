/* Greedy by what each order pays alone, as a wasm builder algorithm (no libc, no WASI).
 * It has no clock: it submits its block after every order it keeps (the last submit
 * counts), so when the budget interrupts it the best block so far stands.
 *
 * Built by scripts/build_wasm.sh:
 *   clang --target=wasm32 -nostdlib -O2 -Wl,--no-entry -Wl,--export=build -o greedy.wasm greedy.c
 * The host functions are docs/algorithms.md § WebAssembly. Amounts are compared as
 * saturated u64 values (enough to rank); the bid is "truthful", so the host values it
 * exactly.
 */
#define IMPORT(name) __attribute__((import_module("mev"), import_name(name)))

IMPORT("n_orders") int n_orders(void);
IMPORT("alone") int alone_at_top(int i);
IMPORT("push") int push(int i);
IMPORT("pop") int pop(void);
IMPORT("last_u64") long long last_u64(void);
IMPORT("submit") void submit(const int *ids, int n, int bid_ptr);

#define MAX_ORDERS 4096
static int order[MAX_ORDERS];
static long long alone[MAX_ORDERS];
static int block[MAX_ORDERS];

int build(void) {
    int n = n_orders();
    if (n > MAX_ORDERS) n = MAX_ORDERS;
    for (int i = 0; i < n; i++) {
        order[i] = i;
        alone[i] = alone_at_top(i) == 1 ? last_u64() : 0;  /* computed once by the host */
    }
    /* insertion sort, best payer first */
    for (int i = 1; i < n; i++) {
        int k = order[i], j = i - 1;
        while (j >= 0 && alone[order[j]] < alone[k]) { order[j + 1] = order[j]; j--; }
        order[j + 1] = k;
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        int k = order[i];
        if (alone[k] <= 0) break;
        if (push(k) == 1 && last_u64() > 0) {
            block[m++] = k;
            submit(block, m, -1);
        } else {
            pop();
        }
    }
    submit(block, m, -1);
    return 0;
}
