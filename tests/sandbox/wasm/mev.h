/* The host functions of the wasm runtime (docs/algorithms.md § WebAssembly). */
#define IMPORT(name) __attribute__((import_module("mev"), import_name(name)))
IMPORT("n_orders") int n_orders(void);
IMPORT("push") int push(int i);
IMPORT("pop") int pop(void);
IMPORT("last_u64") long long last_u64(void);
IMPORT("submit") void submit(const int *ids, int n, int bid_ptr);
